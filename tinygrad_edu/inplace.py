"""In-place operations: `x += y`, `x.add_(y)`, `x[i] = v`, `p.data -= lr * g`, as in PyTorch.

Every in-place op is its out-of-place twin plus a write-back:

    x.mul_(y)   is   r = x * y   (a normal graph node, whose input is x *as it was*)
                     then r's values are written into x's own memory, and x takes r's place in the graph.

Writing into x's memory (rather than pointing x at r's array) is what makes views and
`.data` work: `p.data` shares p's memory, so `p.data -= lr * p.grad` changes p.

Two rules keep gradients right, both PyTorch's:

* A leaf that requires grad (a weight) cannot be changed in place while autograd is
  recording: its gradient would describe values it no longer has. Optimizers update
  weights inside `tg.no_grad()` (or through `.data`), and so should you.
* Every write bumps the memory's version counter (autograd.VersionCounter). A node that
  saved that memory for its backward notices at backward() time, and refuses with
  "modified by an inplace operation" instead of returning a wrong gradient.

The node made by the op itself would trip the second rule (it may have saved x's old
values, which the write-back overwrites), so the arrays it saved from x's memory are
replaced by copies just before the write.
"""
import numpy as np

from .autograd import Function, _is_array, is_grad_enabled, memory_id


def update(tensor, op, compute):
    """Change `tensor` in place to `compute(old)`, where `old` stands for the tensor as it was. Returns `tensor`."""
    from .tensor import Tensor
    recording = is_grad_enabled()
    if recording and tensor.requires_grad and tensor.grad_fn is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {tensor.shape}) cannot be changed in place while "
            f"autograd records operations; do it inside `with tg.no_grad():` (as optimizers do) or on `.data`")
    old = Tensor._wrap(tensor.array, tensor._backend, tensor.requires_grad, tensor.grad_fn, tensor._counter)
    result = compute(old)
    if recording and tensor._base is not None and (result.requires_grad or tensor._base[0].requires_grad):
        return _update_view(tensor, op, result)
    if not isinstance(result, Tensor):
        result = Tensor(result, device=tensor.device, dtype=tensor.dtype)
    if result.requires_grad and result.grad_fn is None:      # a leaf (copy_ of a weight): give it a node to flow through
        result = result.clone()
    if result.shape != tensor.shape:
        raise RuntimeError(f"{op}: the result has shape {result.shape}, which does not fit the tensor's shape "
                           f"{tensor.shape}: an in-place op cannot change a tensor's shape")
    if not np.can_cast(result.array.dtype, tensor.array.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {result.dtype} can't be cast to the tensor's dtype {tensor.dtype} "
                           f"in place; use the out-of-place op, or convert the tensor first")
    node = result.grad_fn
    if node is not None and node is not tensor.grad_fn:
        _copy_saved(node, memory_id(tensor.array))
    try:
        tensor.array[...] = result.array
    except ValueError:              # numpy: "assignment destination is read-only" (an expanded tensor)
        raise RuntimeError(f"{op}: several elements of this tensor share one memory location (it was made by "
                           f"expand()); changing it in place is ambiguous. Make a copy with .clone() first") from None
    tensor._counter.bump(op, memory_id(tensor.array))
    if recording:          # tensor now stands for the result: its history is the result's (none for a constant)
        tensor.grad_fn, tensor._requires_grad = node, result.requires_grad
    return tensor


def _copy_saved(node, owner):
    """Give `node` its own copies of the arrays it saved from the memory `owner` (about to be overwritten)."""
    def own(value):
        return value.copy() if _is_array(value) and memory_id(value) == owner else value
    if node.saved:
        node.saved = tuple(own(a) for a in node.saved)
    for name, value in list(vars(node).items()):
        if name != "saved":
            setattr(node, name, own(value))


def _update_view(view, op, result):
    """An in-place change to a view (`y[:2] += w`, `y.t().mul_(2)`) is a change to its base tensor.

    The base gets the new values through a ViewAssign node (so its gradient knows which part
    was replaced), and the view becomes a fresh view (ViewOf) of the base's new history.
    Views of views are handled by the recursion through `update`.
    """
    from .tensor import Tensor
    base, view_node = view._base
    if not isinstance(result, Tensor):
        result = Tensor(result, device=view.device, dtype=view.dtype)
    if result.shape != view.shape:
        raise RuntimeError(f"{op}: the result has shape {result.shape}, which does not fit the tensor's shape "
                           f"{view.shape}: an in-place op cannot change a tensor's shape")
    if result.grad_fn is not None:
        _copy_saved(result.grad_fn, memory_id(view.array))     # as in update(): the write below overwrites them
    update(base, op, lambda old_base: ViewAssign.apply(old_base, result.to(dtype=view.dtype), view=view_node.view))
    fresh = ViewOf.apply(base, view=view_node.view)
    view.grad_fn, view._requires_grad = fresh.grad_fn, fresh.requires_grad
    return view


class ViewAssign(Function):
    """y = base with the part `view` selects replaced by v;
    dbase = dy with that part zeroed (those values were overwritten), dv = that part of dy."""
    def forward(self, base, v, view=None):
        self.view = view
        y = base.copy()
        view(y)[...] = v
        return y

    def backward(self, g):
        dbase = dv = None
        if self.needs_input_grad[0]:
            dbase = g.copy()
            self.view(dbase)[...] = 0
        if self.needs_input_grad[1]:
            dv = self.view(g).copy()
        return dbase, dv


class ViewOf(Function):
    """y = the part of base that `view` selects, sharing base's memory;  dbase = zeros with that part = dy."""
    def forward(self, base, view=None):
        self.view, self.shape = view, base.shape
        return view(base)

    def backward(self, g):
        dbase = self.xp.zeros(self.shape, dtype=g.dtype)
        self.view(dbase)[...] = g
        return dbase
