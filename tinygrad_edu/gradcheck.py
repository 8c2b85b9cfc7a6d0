"""Check an op's analytic gradient against central finite differences.

For a function f with output y, pick a random direction v shaped like y and look at
the scalar  s(x) = sum(v * f(x)). Its gradient is exactly what backward computes
when started with gradient v:  ds/dx = J^T v  (the vector-Jacobian product). The
numerical estimate perturbs one input element at a time:

    ds/dx_i  ~  (s(x + eps e_i) - s(x - eps e_i)) / (2 eps)        error O(eps^2)

A random v (rather than all ones, i.e. `.sum()`) matters: the sum of a softmax is
always 1, so `.sum()` would hide any bug in softmax's backward.
"""
import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """True if backward of `fn(*inputs)` matches finite differences for every input that requires grad.

    `inputs` is a tuple (a single Tensor is accepted too); tensors that require grad
    must be float64 so the differences are not swamped by rounding. Other entries
    are passed through unchanged. Raises GradcheckError naming the input, the worst
    element's index, both values and the relative error.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].array.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 inputs "
                            f"(x.double()) so finite differences are accurate")

    # analytic: one backward with gradient v, on fresh leaves that share the inputs' data
    leaves = list(inputs)
    for i in checked:
        leaves[i] = Tensor._wrap(inputs[i].array, inputs[i]._backend, True, None)
    out = fn(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    v = np.random.default_rng(seed).standard_normal(out.shape)
    projection = out._backend.asarray(v, dtype=out.array.dtype)
    if out.requires_grad:
        out.backward(Tensor._wrap(projection, out._backend, False, None))

    def projected(*args):
        with no_grad():
            return float((fn(*args).array * projection).sum())

    for i in checked:
        leaf = leaves[i]
        analytic = np.zeros(leaf.shape) if leaf.grad is None else np.asarray(leaf.grad.numpy(), np.float64)
        data = leaf.array  # perturbed in place, restored after each element
        numerical = np.zeros(leaf.shape)
        flat = numerical.reshape(-1)
        for k, idx in enumerate(np.ndindex(*leaf.shape)):
            original = data[idx].item()
            data[idx] = original + eps
            plus = projected(*leaves)
            data[idx] = original - eps
            minus = projected(*leaves)
            data[idx] = original
            flat[k] = (plus - minus) / (2 * eps)
        _compare(i, numerical, analytic, atol, rtol)
    return True


def _compare(i, numerical, analytic, atol, rtol):
    excess = np.abs(numerical - analytic) - (atol + rtol * np.abs(numerical))
    if excess.size == 0 or excess.max() <= 0:
        return
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    n, a = numerical[worst], analytic[worst]
    relative = abs(n - a) / max(abs(n), abs(a), 1e-12)
    bad = int((excess > 0).sum())
    raise GradcheckError(
        f"gradcheck: gradient of input {i} is wrong at index {tuple(int(x) for x in worst)}: "
        f"numerical {n:.6g}, analytic {a:.6g}, relative error {relative:.3g} "
        f"({bad} of {excess.size} elements outside atol={atol}, rtol={rtol})")
