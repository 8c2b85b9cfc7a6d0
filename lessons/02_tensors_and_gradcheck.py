"""Lesson 2: tensors, broadcasting and its reverse, your own Function, and gradcheck.

What you will learn
  * a Tensor is an array plus autograd bookkeeping (requires_grad, grad, grad_fn);
  * broadcasting: how (3, 1) + (4,) becomes (3, 4), and why the *backward* of a
    broadcast is a sum ("unbroadcast") -- written out here and checked against the engine;
  * how to add an operation to the engine: a `tg.Function` with `forward` and
    `backward` side by side, exactly how every op inside tinygrad_edu is written;
  * how `tg.gradcheck` compares your backward with finite differences, and how it
    catches a deliberately wrong backward (and why it projects the output randomly).

Run it:
    python lessons/02_tensors_and_gradcheck.py          # a couple of seconds
    python lessons/02_tensors_and_gradcheck.py --quick  # the same (nothing here trains)

Lesson 1 differentiated one number at a time. Real models do it for whole arrays:
one node of the graph is now "a matrix multiply" or "add a bias to every row", and
each node's backward is written with array operations.
"""
import numpy as np

import common
import tinygrad_edu as tg


def section(title):
    print(f"\n-- {title} --")


# =============================================================================================
# Part 1: a Tensor is an array that can remember where it came from
# =============================================================================================
def part1_tensors():
    section("Part 1: tensors")
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    print(f"x.shape={x.shape} dtype={x.dtype} device={x.device} requires_grad={x.requires_grad} "
          f"is_leaf={x.is_leaf}")
    y = (x * x).sum()                # every op on x records a node of the graph
    print(f"y = (x * x).sum() = {y.item()}, made by {y.grad_fn}")
    y.backward()                     # dy/dx = 2x
    print("x.grad (should be 2x):\n", x.grad.numpy())
    assert np.allclose(x.grad.numpy(), 2 * x.numpy())

    # Gradients ACCUMULATE, as in lesson 1 and in PyTorch: a second backward adds to .grad.
    (x * x).sum().backward()
    print("after a second backward, x.grad is 4x:", x.grad.numpy()[0])
    assert np.allclose(x.grad.numpy(), 4 * x.numpy())
    x.grad = None                    # what optimizer.zero_grad() does for each parameter

    # Inside no_grad nothing is recorded: for evaluation, and for updating weights.
    with tg.no_grad():
        z = x * 2
    print(f"inside tg.no_grad(): z.requires_grad={z.requires_grad}, z.grad_fn={z.grad_fn}")


# =============================================================================================
# Part 2: broadcasting, forward and backward
# =============================================================================================
def unbroadcast(grad, shape):
    """Sum the gradient `grad` (an array) down to `shape`: the backward of broadcasting.

    Broadcasting an input up to the output's shape *copies* it: along dimensions it
    lacks (the output has more dims; numpy aligns shapes from the right), and along its
    size-1 dimensions. Each copy receives a gradient, and the input's gradient is the
    total over its copies -- exactly the += of lesson 1, done for a whole axis at once.
    """
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))                            # 1. dims that were added in front
    size_one = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=size_one, keepdims=True) if size_one else grad  # 2. size-1 dims that were stretched


def part2_broadcasting():
    section("Part 2: broadcasting and unbroadcast")
    a = tg.tensor([[10.0], [20.0], [30.0]], requires_grad=True)   # (3, 1): a column
    b = tg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)       # (4,):   a row
    c = a + b                                                     # (3, 4): every a_i + b_j
    print(f"{a.shape} + {b.shape} -> {c.shape}:\n{c.numpy()}")
    # The rule: align the shapes from the right; each pair of sizes must be equal, or one of them 1.
    #     a:    3 x 1
    #     b:        4      (treated as 1 x 4)
    #     c:    3 x 4
    try:
        tg.ones(2, 3) + tg.ones(4, 3)
    except ValueError as err:
        print(f"shapes that do not broadcast give a clear error:\n  {err}")

    # Backward: use a weighting g so that every element of c has a different gradient.
    g = np.arange(12, dtype=np.float32).reshape(3, 4)
    (c * tg.tensor(g)).sum().backward()          # dLoss/dc = g
    print(f"a.grad has a's shape {a.grad.shape}: the row sums of g   {a.grad.numpy().ravel()}")
    print(f"b.grad has b's shape {b.grad.shape}:   the column sums of g {b.grad.numpy()}")

    # Check our unbroadcast against the engine on a few shape pairs (bias add, scaling, ...).
    rng = np.random.default_rng(0)
    for shape_a, shape_b in [((3, 1), (4,)), ((8, 5), (5,)), ((2, 3, 4), (3, 1)), ((1, 4), (6, 1)), ((), (2, 2))]:
        a = tg.tensor(rng.standard_normal(shape_a), requires_grad=True)
        b = tg.tensor(rng.standard_normal(shape_b), requires_grad=True)
        out = a * b
        g = rng.standard_normal(out.shape)
        out.backward(tg.tensor(g))               # a non-scalar output needs its gradient passed in
        ours_a = unbroadcast(g * b.numpy(), shape_a)   # d(a*b)/da = b, then sum the copies
        ours_b = unbroadcast(g * a.numpy(), shape_b)
        assert ours_a.shape == shape_a and np.allclose(ours_a, a.grad.numpy())
        assert ours_b.shape == shape_b and np.allclose(ours_b, b.grad.numpy())
        print(f"  {str(shape_a):>10} * {str(shape_b):<7} -> {str(out.shape):<10} "
              f"our unbroadcast matches a.grad {a.grad.shape} and b.grad {b.grad.shape}")


# =============================================================================================
# Part 3: write your own differentiable operation
# =============================================================================================
class Softplus(tg.Function):
    """softplus(x) = log(1 + e^x), a smooth ReLU.

    forward gets plain arrays (numpy on the CPU) and returns an array. `self.xp` is the
    array module of the tensors' device (numpy here, CuPy on a GPU), so the same code
    runs on both. Whatever backward needs is saved with save_for_backward.

    backward gets g = dLoss/d(output) and returns dLoss/d(input) = g * d softplus/dx,
    and d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x).
    """

    def forward(self, x):
        xp = self.xp
        self.save_for_backward(x)
        # log(1 + e^x) overflows for large x; this form is equal and never does:
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        (x,) = self.saved
        return g / (1 + self.xp.exp(-x))            # g * sigmoid(x)


class Hypot(tg.Function):
    """hypot(a, b) = sqrt(a^2 + b^2) with broadcasting: two inputs, so two gradients.

    d/da = a / hypot, d/db = b / hypot; each is computed at the output's (broadcast)
    shape and then summed back to its input's shape with our unbroadcast from Part 2.
    """

    def forward(self, a, b):
        out = self.xp.sqrt(a * a + b * b)
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        # needs_input_grad says which inputs want a gradient; None means "none needed"
        da = unbroadcast(g * a / out, a.shape) if self.needs_input_grad[0] else None
        db = unbroadcast(g * b / out, b.shape) if self.needs_input_grad[1] else None
        return da, db


def part3_custom_function():
    section("Part 3: your own Function, checked by gradcheck")
    x = tg.tensor([-30.0, -1.0, 0.0, 2.0, 50.0], requires_grad=True)
    y = Softplus.apply(x)              # apply() runs forward and records the node in the graph
    print(f"softplus({x.numpy()}) = {np.round(y.numpy(), 4)}; grad_fn = {y.grad_fn}")
    y.sum().backward()
    print(f"its gradient is sigmoid(x): {np.round(x.grad.numpy(), 4)}")

    # gradcheck nudges every input element by +-eps and compares the change of the output
    # with what backward says. It needs float64: in float32, rounding swamps the differences.
    tg.manual_seed(0)
    x = tg.randn(4, 5, dtype=tg.float64, requires_grad=True)
    print("gradcheck(Softplus):", tg.gradcheck(Softplus.apply, (x,)))
    a = tg.randn(3, 1, dtype=tg.float64, requires_grad=True)
    b = tg.randn(4, dtype=tg.float64, requires_grad=True)
    print("gradcheck(Hypot) with broadcasting (3, 1) and (4,):", tg.gradcheck(Hypot.apply, (a, b)))
    try:
        tg.gradcheck(Softplus.apply, (x.float().detach().requires_grad_(),))
    except TypeError as err:
        print(f"float32 input is refused: {err}")


# =============================================================================================
# Part 4: gradcheck catches a wrong backward
# =============================================================================================
class BuggySoftplus(Softplus):
    """The same forward, with a classic mistake in backward.

    d/dx log(1 + e^x) = (1 / (1 + e^x)) * e^x: the chain rule through log gives the
    1 / (1 + e^x) factor. Forgetting it leaves e^x -- plausible-looking, and wrong.
    """

    def backward(self, g):
        (x,) = self.saved
        return g * self.xp.exp(x)                   # BUG: should be g * sigmoid(x)


class Softmax(tg.Function):
    """softmax over the last dim; the correct backward is y * (g - sum(g * y))."""

    def forward(self, x):
        e = self.xp.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        return y * (g - (g * y).sum(axis=-1, keepdims=True))


class LazySoftmax(Softmax):
    def backward(self, g):
        (y,) = self.saved
        return self.xp.zeros_like(y)                # BUG: no gradient at all


def naive_check(fn, x, eps=1e-6):
    """A check that only looks at s(x) = fn(x).sum(): compare ds/dx with finite differences."""
    x = x.detach().requires_grad_()
    fn(x).sum().backward()
    data = x.numpy()
    numerical = np.zeros_like(data)
    for idx in np.ndindex(*data.shape):
        plus, minus = data.copy(), data.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numerical[idx] = (fn(tg.tensor(plus)).sum().item() - fn(tg.tensor(minus)).sum().item()) / (2 * eps)
    return np.allclose(numerical, x.grad.numpy(), atol=1e-5)


def part4_catching_bugs():
    section("Part 4: gradcheck catches a deliberately wrong backward")
    tg.manual_seed(1)
    x = tg.randn(3, 4, dtype=tg.float64, requires_grad=True)
    try:
        tg.gradcheck(BuggySoftplus.apply, (x,))
        caught = False
    except tg.GradcheckError as err:
        caught = True
        print(f"caught BuggySoftplus:\n  {err}")
    assert caught, "gradcheck should have caught the wrong backward"

    # Why gradcheck looks at sum(v * f(x)) for a *random* v, not simply at f(x).sum():
    # the entries of a softmax always sum to 1, so d/dx sum(softmax(x)) = 0 -- and a backward
    # that returns zeros looks perfect to a check built on .sum().
    print("a softmax whose backward returns zeros:")
    fooled = naive_check(LazySoftmax.apply, x)
    print(f"  a check built on .sum() passes it: {fooled}   <- fooled")
    try:
        tg.gradcheck(LazySoftmax.apply, (x,))
        caught = False
    except tg.GradcheckError as err:
        caught = True
        print(f"  tg.gradcheck (random projection) catches it:\n  {err}")
    assert fooled and caught
    print(f"  and the correct Softmax passes: {tg.gradcheck(Softmax.apply, (x,))}")
    return True


def part5_seeing_the_graph(out):
    """Every result remembers the graph that made it; tg.viz.graph draws it (Graphviz DOT text)."""
    print("\n== Part 5: seeing the graph ==")
    x = tg.randn(4, 3, requires_grad=True)
    w = tg.randn(3, 2, requires_grad=True)
    loss = (x @ w).tanh().sum()
    dot = tg.viz.graph(loss, out / "graph.svg")      # graph.svg with Graphviz installed, else graph.dot
    boxes = [line.split('label="')[1].split('"')[0] for line in dot.splitlines() if "shape=box" in line]
    print(f"the graph of loss = (x @ w).tanh().sum(): {len(boxes)} op nodes {boxes}, 2 leaves (x and w);")
    print("each arrow carries a tensor's shape and dtype. Read it bottom-up for backward's order.")
    print(f"saved it in {out}: open graph.svg in a browser, or paste graph.dot into any Graphviz viewer")


def main():
    args = common.parse_args(__file__, __doc__)
    tg.manual_seed(args.seed)
    part1_tensors()
    part2_broadcasting()
    part3_custom_function()
    part4_catching_bugs()
    part5_seeing_the_graph(args.out)
    common.summary(args.name, [
        "A Tensor is an array plus requires_grad, grad and grad_fn; each op records one graph node, and "
        "gradients accumulate into .grad until they are cleared.",
        "Broadcasting aligns shapes from the right and stretches size-1 or missing dims; its backward sums "
        "the gradient over exactly those dims (unbroadcast), so each .grad has its tensor's shape.",
        "A new op is a tg.Function subclass: forward(arrays) and backward(grad) side by side, with "
        "save_for_backward and needs_input_grad; Function.apply puts it in the graph.",
        "tg.gradcheck compares backward with float64 central differences of sum(v * f(x)) for a random v, "
        "which catches bugs that a check on f(x).sum() misses.",
        "tg.viz.graph(result) draws the graph backward will walk: one box per op, one oval per leaf.",
    ], {"gradcheck caught the wrong backward": "yes"})


if __name__ == "__main__":
    main()
