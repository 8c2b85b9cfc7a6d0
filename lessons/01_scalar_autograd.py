"""Lesson 1: automatic differentiation from scratch, one number at a time.

What you will learn
  * what a computation graph is, and how every operation can remember where its
    result came from;
  * the chain rule as code: each operation has a tiny `_backward` that pushes the
    gradient of its output back to its inputs;
  * why the backward pass visits the nodes in reverse topological order, and why
    gradients are *added* (`+=`) rather than assigned;
  * that a 2-layer neural network trained with these ~60 lines learns a real task;
  * that tinygrad_edu's Tensor computes exactly the same gradients (we check it).

Run it:
    python lessons/01_scalar_autograd.py            # full run, a few seconds
    python lessons/01_scalar_autograd.py --quick    # what CI runs

The idea is Andrej Karpathy's "micrograd": an autograd engine over scalars is small
enough to read in one sitting, and everything that follows in the course (tensors,
CNNs, LSTMs, GPT) is the same idea applied to whole arrays at once.
"""
import math
import random

import numpy as np

import common
import tinygrad_edu as tg


# =============================================================================================
# Part 1: a scalar that remembers how it was made
# =============================================================================================
class Value:
    """One number, plus what autograd needs: its gradient and the operation that produced it.

    data       the number itself
    grad       d(final output)/d(this number), filled in by backward(); starts at 0
    _prev      the Values this one was computed from (the edges of the graph)
    _op        a label for printing ("+", "*", "tanh", ...)
    _backward  a function that, once self.grad is known, adds this node's contribution
               to the .grad of each input -- the chain rule for this one operation
    """

    def __init__(self, data, _prev=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._op = _op
        self._backward = lambda: None   # a leaf (an input or a weight) has nothing to pass back

    def __repr__(self):
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"

    # ---- each operation: compute the result, and say how to send gradients back -----------
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            # d(a+b)/da = 1 and d(a+b)/db = 1: the gradient flows through unchanged.
            # "+=" and not "=": if `self` is used twice (a + a), both uses contribute.
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            ### BEGIN SOLUTION
            # d(a*b)/da = b and d(a*b)/db = a: each input's gradient is scaled by the *other* input.
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
            ### END SOLUTION
        out._backward = _backward
        return out

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only constant powers, to keep the lesson short"
        out = Value(self.data ** k, (self,), f"**{k}")

        def _backward():
            ### BEGIN SOLUTION
            self.grad += k * self.data ** (k - 1) * out.grad      # d(a^k)/da = k a^(k-1)
            ### END SOLUTION
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            ### BEGIN SOLUTION
            self.grad += (1 - t * t) * out.grad                     # d tanh(a)/da = 1 - tanh(a)^2
            ### END SOLUTION
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():
            ### BEGIN SOLUTION
            self.grad += e * out.grad                               # d e^a/da = e^a
            ### END SOLUTION
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            ### BEGIN SOLUTION
            self.grad += out.grad / self.data                       # d log(a)/da = 1/a
            ### END SOLUTION
        out._backward = _backward
        return out

    # ---- the rest is built from the operations above: no new _backward needed --------------
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):      # 2 + a
        return self + other

    def __rmul__(self, other):      # 2 * a
        return self * other

    def __rsub__(self, other):      # 2 - a
        return (-self) + other

    # ---- the backward pass -----------------------------------------------------------------
    def backward(self):
        """Fill in .grad of every Value this one depends on (d self / d that Value).

        A node may only run its _backward once *all* the nodes that use its output have
        added their share to its .grad. A reverse topological order guarantees that:
        we list the nodes so that every node comes after its inputs, then walk the list
        backwards. (tinygrad_edu does the same, but with an explicit stack instead of
        recursion, so a graph 10,000 ops deep does not hit Python's recursion limit.)
        """
        ### BEGIN SOLUTION
        order, visited = [], set()

        def visit(v):
            if v not in visited:
                visited.add(v)
                for parent in v._prev:
                    visit(parent)
                order.append(v)
        visit(self)

        self.grad = 1.0                 # d self / d self = 1: the seed of the chain rule
        for v in reversed(order):
            v._backward()
        ### END SOLUTION


# =============================================================================================
# Part 2: a neural network made of Values
# =============================================================================================
class Neuron:
    """tanh(w . x + b) with one weight per input."""

    def __init__(self, n_in, rng):
        bound = 1 / math.sqrt(n_in)
        self.w = [Value(rng.uniform(-bound, bound)) for _ in range(n_in)]
        self.b = Value(0.0)

    def __call__(self, x, activation=True):
        s = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return s.tanh() if activation else s

    def parameters(self):
        return self.w + [self.b]


class MLP:
    """x (2 numbers) -> hidden layer of tanh neurons -> one output number (a logit)."""

    def __init__(self, n_in, n_hidden, rng):
        self.hidden = [Neuron(n_in, rng) for _ in range(n_hidden)]
        self.out = Neuron(n_hidden, rng)

    def __call__(self, x):
        h = [neuron(x) for neuron in self.hidden]
        return self.out(h, activation=False)

    def parameters(self):
        return [p for n in self.hidden for p in n.parameters()] + self.out.parameters()


def bce_with_logits(logit, label):
    """Binary cross-entropy of a logit z against a label y in {0, 1}: log(1 + e^z) - y z.

    Written the numerically naive way on purpose (our Value has no softplus); the logits
    of this small network stay small, so e^z cannot overflow.
    """
    return (logit.exp() + 1).log() - logit * label


def make_data(n, rng):
    """Points in the square [-1, 1]^2, labelled 1 inside the circle of radius 0.7, else 0."""
    xs = [(rng.uniform(-1, 1), rng.uniform(-1, 1)) for _ in range(n)]
    ys = [1.0 if x * x + y * y < 0.7 ** 2 else 0.0 for x, y in xs]
    return xs, ys


def main():
    args = common.parse_args(__file__, __doc__, steps=150, quick_steps=15,
                             extra=lambda p: p.add_argument("--points", type=int, default=None,
                                                            help="training points (default 40, --quick 20)"))
    n_points = args.points or (20 if args.quick else 40)
    rng = random.Random(args.seed)   # Python's own generator: this part uses no library at all

    # ---- 2a: a tiny expression, gradients by hand and by backward() ---------------------
    print("\n-- Part 1: a scalar that remembers how it was made (one expression) --")
    a, b = Value(2.0), Value(-3.0)
    c = a * b + a           # c = ab + a, so dc/da = b + 1 = -2 and dc/db = a = 2
    d = c.tanh()
    d.backward()
    print(f"c = a*b + a = {c.data}, d = tanh(c) = {d.data:.6f}")
    print(f"dd/da = {a.grad:.6f}   (by hand: (1 - tanh(c)^2) * (b + 1) = {(1 - d.data ** 2) * (b.data + 1):.6f})")
    print(f"dd/db = {b.grad:.6f}   (by hand: (1 - tanh(c)^2) * a     = {(1 - d.data ** 2) * a.data:.6f})")
    assert math.isclose(a.grad, (1 - d.data ** 2) * (b.data + 1)) and math.isclose(b.grad, (1 - d.data ** 2) * a.data)

    # ---- 2b: train a small network with plain gradient descent ---------------------------
    print(f"\n-- Part 2: a neural network made of Values: a 2-8-1 network trained on {n_points} points "
          f"(inside the circle or not?) --")
    xs, ys = make_data(n_points, rng)
    model = MLP(2, 8, rng)
    params = model.parameters()
    print(f"{len(params)} parameters, each a Value")
    lr, losses = 3.0, []
    bar = common.Progress(args.steps, desc="train", unit="step")
    for step in range(args.steps):
        # forward: the mean loss over all points builds one graph of a few thousand Values
        loss = sum(bce_with_logits(model(x), y) for x, y in zip(xs, ys)) / len(xs)
        # backward: gradients are accumulated with +=, so clear them first
        for p in params:
            p.grad = 0.0
        loss.backward()
        # gradient descent: step each parameter a little against its gradient
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
        bar.update(loss=loss.data)
    bar.close()
    correct = sum((model(x).data > 0) == (y == 1.0) for x, y in zip(xs, ys))
    train_acc = correct / len(xs)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; training accuracy {train_acc:.3f}")

    # ---- 2c: the same network with tinygrad_edu's Tensor --------------------------------
    # Copy the trained weights into tensors. A whole layer is now one matrix, and the forward
    # pass over all points is a couple of matrix products instead of thousands of Values.
    print("\n-- Part 3: the same gradients from tinygrad_edu --")
    W1 = tg.tensor([[w.data for w in n.w] for n in model.hidden], dtype=tg.float64, requires_grad=True)  # (8, 2)
    b1 = tg.tensor([n.b.data for n in model.hidden], dtype=tg.float64, requires_grad=True)               # (8,)
    W2 = tg.tensor([[w.data for w in model.out.w]], dtype=tg.float64, requires_grad=True)                # (1, 8)
    b2 = tg.tensor([model.out.b.data], dtype=tg.float64, requires_grad=True)                             # (1,)
    X = tg.tensor(xs, dtype=tg.float64)                  # (N, 2)
    Y = tg.tensor(ys, dtype=tg.float64).reshape(-1, 1)   # (N, 1)

    logits = (X @ W1.T + b1).tanh() @ W2.T + b2           # (N, 1)
    t_loss = ((logits.exp() + 1).log() - logits * Y).mean()
    t_loss.backward()

    # ... and one more backward through the Value network at the same weights
    loss = sum(bce_with_logits(model(x), y) for x, y in zip(xs, ys)) / len(xs)
    for p in params:
        p.grad = 0.0
    loss.backward()
    ours = np.array([p.grad for p in params])
    theirs = np.concatenate([np.concatenate([W1.grad.numpy(), b1.grad.numpy()[:, None]], axis=1).reshape(-1),
                             W2.grad.numpy().reshape(-1), b2.grad.numpy()])   # the same order as params
    print(f"loss: Value {loss.data:.10f}   Tensor {t_loss.item():.10f}")
    print(f"largest difference between the {len(params)} gradients: {np.abs(ours - theirs).max():.2e}")
    assert math.isclose(loss.data, t_loss.item(), rel_tol=1e-9), "the two forward passes disagree"
    assert np.allclose(ours, theirs, rtol=1e-7, atol=1e-10), "the two engines' gradients disagree"
    print("the scalar engine and tinygrad_edu agree")
    print(f"the Tensor graph has 4 leaf tensors (W1, b1, W2, b2) holding the same {len(params)} numbers that "
          f"were {len(params)} separate Values, and only a handful of op nodes; its last node is {t_loss.grad_fn}")

    # ---- plots: the loss curve, and what the network learned --------------------------------
    common.plot_curves(args.out / "loss_curve.png", {"training loss": losses},
                       title="Scalar autograd: 2-8-1 tanh network", xlabel="step", ylabel="binary cross-entropy")
    grid = np.linspace(-1, 1, 101)
    gx, gy = np.meshgrid(grid, grid)
    with tg.no_grad():     # no gradients needed: don't record a graph
        G = tg.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1))
        prob = ((G @ W1.T + b1).tanh() @ W2.T + b2).sigmoid().numpy().reshape(gx.shape)

    def draw(fig):
        from matplotlib.patches import Circle   # draw() only runs when matplotlib is installed
        ax = fig.add_subplot()
        ax.contourf(gx, gy, prob, levels=[0, 0.5, 1], colors=["#f4d6d6", "#d6e4f4"])
        pts = np.array(xs)
        inside = np.array([bool(y) for y in ys])
        ax.scatter(pts[inside, 0], pts[inside, 1], c="tab:blue", edgecolors="k", label="point inside the circle")
        ax.scatter(pts[~inside, 0], pts[~inside, 1], c="tab:red", edgecolors="k", label="point outside")
        ax.add_patch(Circle((0, 0), 0.7, fill=False, ls="--", label="the true circle (radius 0.7)"))
        ax.set(aspect="equal", xlabel="x1 (first input)", ylabel="x2 (second input)",
               title="shaded blue: where the network says 'inside'")
        ax.legend(loc="upper right", fontsize=7)
    common.save_plot(args.out / "decision_boundary.png", draw, figsize=(5, 5))

    common.summary(args.name, [
        "A computation graph is built as you compute: each Value remembers its inputs (_prev) and "
        "how to pass a gradient back to them (_backward).",
        "backward() seeds d out/d out = 1 and calls every _backward in reverse topological order, so "
        "each node's gradient is complete before it is passed on.",
        "Gradients accumulate (+=) because a value used twice gets a contribution from each use; that "
        "is why training loops zero them before each backward.",
        "Gradient descent (p -= lr * grad) on these gradients trains a real, if tiny, neural network.",
        "tinygrad_edu's Tensor does the same thing for whole arrays at once and gives identical gradients.",
    ], {"final train loss": losses[-1], "train accuracy": train_acc,
        "max gradient difference": f"{np.abs(ours - theirs).max():.2e}"})


if __name__ == "__main__":
    main()
