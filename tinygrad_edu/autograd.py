"""Reverse-mode automatic differentiation: the `Function` node and the backward pass.

Every differentiable op is a subclass of `Function` with two methods that sit side
by side:

    forward(self, *arrays, **params) -> array      # plain backend arrays in, array out
    backward(self, grad) -> tuple of arrays        # dLoss/dOutput in, dLoss/dInput out

`Function.apply(*tensors)` runs `forward` on the tensors' arrays and, when any input
requires grad, records the instance itself as the output's `grad_fn`: the instance
*is* the graph node, it remembers its inputs, their nodes (`parents`, taken now: an
in-place op may later give an input tensor a new grad_fn, which must not change this
node's past) and whatever `save_for_backward` kept.

`backward()` walks the nodes in reverse topological order (found iteratively, so a
chain of 10,000 ops does not hit Python's recursion limit), calls each node's
`backward` once with the sum of all gradients flowing into its output, and adds the
results into `.grad` of the leaf tensors that require grad.
"""
import functools
import threading
import time

from . import profiler

class _GradModeState(threading.local):
    """Whether new ops record a graph, for each thread on its own (as in PyTorch): one thread's `no_grad`
    block never changes what another thread records. Every thread starts with recording on."""
    enabled = True


_grad_mode = _GradModeState()
Tensor = None  # set by tensor.py once the Tensor class exists (the two modules refer to each other)


def is_grad_enabled():
    return _grad_mode.enabled


class _GradMode:
    """Context manager and decorator that sets whether new ops record a graph.

    As in PyTorch, the decorator works with or without parentheses: `@tg.no_grad()` and `@tg.no_grad`.
    """

    enabled = None

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self if fn is None else self(fn)

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = self.enabled

    def __exit__(self, *exc):
        _grad_mode.enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """`with tg.no_grad():` (or `@tg.no_grad()`) — ops inside build no graph."""
    enabled = False


class enable_grad(_GradMode):
    """Turn graph recording back on inside a `no_grad` block."""
    enabled = True


class set_grad_enabled:  # noqa: N801  (PyTorch's name)
    """`tg.set_grad_enabled(False)` switches graph recording off (on with True); used as `with
    tg.set_grad_enabled(training):` it does so for the block only, as in PyTorch."""

    def __init__(self, mode):
        self._previous, _grad_mode.enabled = _grad_mode.enabled, bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self._previous
        return False


# id(leaf) -> callable(leaf, grad) that puts the gradient into the leaf's slot of an optimizer's flat gradient
# buffer and returns True, or returns False to leave it to _accumulate_leaf (optim/optimizer.py keeps this up)
GRAD_SLOTS = {}

_writes = 0   # in-place writes so far, in the whole process: a node made after the last one needs no check


class VersionCounter:
    """How many times a tensor's memory has been changed in place (by which op, and when, the last time).

    Tensors that share memory share one counter: a view made by an op (reshape,
    transpose, x[1:]) gets its input's, and so does `detach()`. When backward reaches a
    node, any input or output whose memory was written after the node was made, and
    that the node saved for its backward, would give a gradient computed from changed
    values, so backward refuses (see run_backward).
    """
    __slots__ = ("value", "last_op", "last_write", "owner")

    def __init__(self):
        self.value, self.last_op, self.last_write, self.owner = 0, None, 0, None

    def bump(self, op, owner):
        """Record an in-place write by `op` to the memory whose owning array has id `owner`."""
        global _writes
        _writes += 1
        self.value += 1
        self.last_op, self.last_write, self.owner = op, _writes, owner


def memory_id(array):
    """The id of the array that owns `array`'s memory (views point to it through .base)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return id(array)


class Function:
    """One differentiable op. Subclasses define `forward` and `backward`.

    Inside both, `self.xp` is the array module of the inputs' device (numpy or
    CuPy) and `self.backend` the device's backend (for the hot ops that have their
    own kernels). Ops never import numpy themselves.
    """

    saved = ()          # what save_for_backward kept; None once freed by backward
    inputs = ()
    parents = ()        # each input's grad_fn when this node was made (None for a leaf)
    needs_input_grad = ()
    writes_at = 0       # the number of in-place writes in the process when this node was made
    out_counter = None  # the output's version counter

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def xp(self):
        return self.backend.xp

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *tensors, **params):
        """Run forward on the tensors' arrays; record this node in the graph if any input requires grad."""
        backend = tensors[0]._backend
        for t in tensors:
            if t._backend is not backend:
                raise RuntimeError(
                    f"{cls.__name__}: expected all tensors on the same device, found {backend.name} and "
                    f"{t._backend.name} (shapes {[tuple(x.shape) for x in tensors]}); move them with .to(device)")
        ctx = cls()
        ctx.backend = backend
        if profiler.current is None:
            out = ctx.forward(*[t.array for t in tensors], **params)
        else:                                   # tg.profile() is active: time this forward
            start = time.perf_counter()
            out = ctx.forward(*[t.array for t in tensors], **params)
            profiler.current.add(cls.__name__, "forward", time.perf_counter() - start)
        if not out.ndim and type(out) is not backend.array_type:  # numpy turns 0-d results into scalars
            out = backend.xp.asarray(out)
        base = None if getattr(out, "base", None) is None else _viewed_input(out, tensors)
        counter = base._counter if base is not None else None
        result = None
        if _grad_mode.enabled:
            needs = tuple([t._requires_grad for t in tensors])
            if True in needs:
                ctx.inputs = tensors
                ctx.parents = tuple([t.grad_fn for t in tensors])
                ctx.needs_input_grad = needs
                result = Tensor._wrap(out, backend, True, ctx, counter)
                ctx.writes_at, ctx.out_counter = _writes, result._counter
        if result is None:
            result = Tensor._wrap(out, backend, False, None, counter)
        if base is not None and hasattr(ctx, "view"):
            result._base = (base, ctx)   # a view op's output: in-place changes to it must reach `base` (inplace.py)
        return result

    @property
    def name(self):
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"


def _viewed_input(out, tensors):
    """The input whose memory the array `out` is a view of (it shares that input's version counter), else None."""
    owner = memory_id(out)
    for t in tensors:
        if memory_id(t.array) == owner:
            return t
    return None


class _UsedInput:
    """What a node keeps of a non-leaf input once a backward (without retain_graph) has gone through it: the
    shape, dtype and version counter, not the tensor and its memory.

    Without this, a training loop that keeps its last `loss` (to print it, say) keeps the whole graph behind
    it, and through the nodes' inputs every activation of that step, until the next step's loss replaces it:
    twice a step's activations at the peak. PyTorch's nodes keep no inputs at all, for the same reason.
    """
    __slots__ = ("shape", "dtype", "_counter")

    def __init__(self, tensor):
        self.shape, self.dtype, self._counter = tensor.shape, tensor.dtype, tensor._counter


def _check_versions(node):
    """Refuse to backward through `node` if memory it saved has been changed in place since it was made."""
    for counter in [t._counter for t in node.inputs] + [node.out_counter]:
        if counter.last_write > node.writes_at and any(memory_id(a) == counter.owner for a in _saved_arrays(node)):
            raise RuntimeError(
                f"{node.name}: one of the tensors needed for gradient computation has been modified by an "
                f"inplace operation ({counter.last_op}) after this node was made; it is now at version "
                f"{counter.value}. Change it only after backward(), or work on a copy (.clone()) instead")


def _saved_arrays(node):
    """Every array a node keeps for its backward: what save_for_backward kept, and array attributes."""
    return [value for value in list(node.saved or ()) + list(vars(node).values()) if _is_array(value)]


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "base")


def _toposort(root):
    """Nodes reachable from `root`, each after every node that consumes its output."""
    # BEGIN SOLUTION topo-sort  a depth-first search with an explicit stack (no recursion): each node after all its consumers
    order, seen = [], {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent is not None and parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(parent.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order
    # END SOLUTION


def run_backward(tensor, grad, retain_graph=False):
    """Propagate `grad` (an array shaped like `tensor`) back to every leaf that requires grad."""
    root = tensor.grad_fn
    if root is None:  # a leaf: the gradient is its own
        _accumulate_leaf(tensor, grad)
        return
    pending = {root: grad}
    for node in _toposort(root):
        g = pending.pop(node, None)
        if g is None:
            continue
        if node.writes_at != _writes:     # something was changed in place since this node was made
            _check_versions(node)
        if node.saved is None:
            raise RuntimeError(
                f"{node.name}: trying to backward through the graph a second time, but its saved arrays were "
                f"freed by the first backward. Call .backward(retain_graph=True) the first time if you need to.")
        if profiler.current is None:
            input_grads = node.backward(g)
        else:
            start = time.perf_counter()
            input_grads = node.backward(g)
            profiler.current.add(type(node).__name__, "backward", time.perf_counter() - start)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for t, parent, need, ig in zip(node.inputs, node.parents, node.needs_input_grad, input_grads):
            if not need or ig is None:
                continue
            if tuple(ig.shape) != t.shape:
                raise RuntimeError(
                    f"{node.name} returned a gradient of shape {tuple(ig.shape)} for an input of shape "
                    f"{t.shape}; a backward must return one gradient shaped like each input")
            # BEGIN SOLUTION topo-sort  send ig to the leaf t, or add it to what is pending for t's node (parent)
            if parent is None:
                _accumulate_leaf(t, ig)
            elif parent in pending:
                pending[parent] = pending[parent] + ig
            else:
                pending[parent] = ig
            # END SOLUTION
        if not retain_graph:
            if node.saved:
                node.saved = None
            node.inputs = tuple([t if parent is None else _UsedInput(t)        # leaves stay: they get gradients
                                 for t, parent in zip(node.inputs, node.parents)])


def _accumulate_leaf(t, g):
    """Add g into t.grad. The first gradient is copied: backward results may be views or shared between
    inputs (Add returns the same array for both), and .grad must be the leaf's own array.

    A parameter whose optimizer keeps every gradient in one flat buffer (optim/optimizer.py) has a slot
    there, in GRAD_SLOTS: the gradient is copied (or added) into that slot instead of a new array."""
    slot = GRAD_SLOTS.get(id(t)) if GRAD_SLOTS else None
    if slot is not None and slot(t, g):
        return
    # BEGIN SOLUTION topo-sort  the first gradient becomes t.grad (a copy), later ones are added
    if t.grad is None:
        t.grad = Tensor._wrap(t._backend.xp.array(g, dtype=t.array.dtype), t._backend, False, None)
    else:
        t.grad = Tensor._wrap(t._backend.xp.asarray(t.grad.array + g, dtype=t.array.dtype), t._backend, False, None)
    # END SOLUTION
