"""Numerical gradients for checking your own backward passes, the CS231n way.

The derivative of a scalar function f at x along element i is estimated with a
centred difference: nudge that one element up by h, then down by h,

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2h)

A Taylor expansion shows why the centred form is used rather than the one-sided
(f(x + h e_i) - f(x)) / h: the even terms cancel, so the error is O(h^2) instead
of O(h). With h = 1e-5 the truncation error is about 1e-10 (times f's third
derivative). The other error is rounding: f is only known to about machine epsilon
times |f|, and dividing by 2h magnifies that by 1/(2h) = 5e4. In float64
(epsilon 2.2e-16) that leaves about 1e-11, so a correct gradient agrees to ~1e-8
relative or better. In float32 (epsilon 1.2e-7) the same step gives errors near
1e-3, too large to tell a small bug from noise; hence everything here works in
float64 and warns about anything else.

For an array-valued f (a layer's forward), a gradient needs an upstream gradient
df shaped like f(x), exactly what backward receives. The scalar being
differentiated is then sum(f(x) * df), and its gradient is the vector-Jacobian
product J^T df, which is what a hand-written backward must return:

    grad_i  ~  sum((f(x + h e_i) - f(x - h e_i)) * df) / (2h)

Every element costs two calls of f, so `grad_check_sparse` checks only a few
random elements of a big parameter against an analytic gradient, and `rel_error`
compares two arrays on a relative scale: |a - b| / max(1e-8, |a| + |b|), largest
element. Roughly: below 1e-7 is right, 1e-4 and up is usually a bug (kinks such
as ReLU's at 0 can cause isolated exceptions).

How these relate to `tg.gradcheck`: gradcheck is the engine's own test of one op.
It runs the op's backward with a random projection v of the output and compares
every input element against central differences of sum(v * f(x)), raising an error
on the first disagreement. The tools here are the assignment-style version: you
supply f, the analytic gradient and (for arrays) df yourself, and they return
numbers for you to look at.

One difference from the CS231n assignments: their dropout's `p` is the
probability of KEEPING a unit, whereas ours (`nn.Dropout`, `F.dropout`) follows
PyTorch, where `p` is the probability of DROPPING it. Their p = 0.75 is our p = 0.25.

    import numpy as np
    import tinygrad_edu as tg
    x = np.random.randn(4, 5)
    num = tg.eval_numerical_gradient(lambda x: (x ** 3).sum(), x)
    tg.rel_error(num, 3 * x ** 2)        # about 1e-9: correct
"""
import warnings

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Gradient of the scalar-valued f at x by centred differences, one element at a time.

    x (a numpy array or a CPU Tensor) is perturbed in place, x[i] += h, and restored
    exactly after each element; f(x) must return a scalar (number, size-1 array or
    Tensor). Returns a float64 numpy array shaped like x. With verbose=True each
    index and its gradient are printed as they are computed.
    """
    name = "eval_numerical_gradient"
    data = _float_array(name, x)
    _check_h(name, h)
    grad = np.zeros(data.shape, dtype=np.float64)
    for ix in np.ndindex(*data.shape):
        plus, minus = _nudge(data, ix, h, lambda: _scalar(name, f(x)))
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of sum(f(x) * df) at x: the vector-Jacobian product of an array-valued f.

    df is the upstream gradient, shaped like f(x). x is perturbed in place and
    restored as in `eval_numerical_gradient`. Returns a float64 numpy array shaped like x.
    """
    name = "eval_numerical_gradient_array"
    data = _float_array(name, x)
    _check_h(name, h)
    df = _to_numpy(name, "df", df)

    def weighted():
        out = _to_numpy(name, "f(x)", f(x))
        if out.shape != df.shape:
            raise ValueError(f"{name}: df has shape {df.shape} but f(x) has shape {out.shape}; "
                             f"df is the upstream gradient and must be shaped like f(x)")
        return out

    grad = np.zeros(data.shape, dtype=np.float64)
    for ix in np.ndindex(*data.shape):
        plus, minus = _nudge(data, ix, h, weighted)
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None):
    """Compare analytic_grad with centred differences of the scalar-valued f at `num_checks` random elements of x.

    Elements are drawn (with replacement) by `np.random.default_rng(seed)`. Prints
    one line per check, "numerical: ... analytic: ..., relative error: ...", and
    returns the list of relative errors |n - a| / max(1e-8, |n| + |a|). x is
    perturbed in place and restored; analytic_grad must be shaped like x.
    """
    name = "grad_check_sparse"
    data = _float_array(name, x)
    _check_h(name, h)
    if analytic_grad is None:
        raise TypeError(f"{name}: analytic_grad is None (for a Tensor's .grad: call backward() first)")
    analytic = _to_numpy(name, "analytic_grad", analytic_grad)
    if analytic.shape != data.shape:
        raise ValueError(f"{name}: analytic_grad has shape {analytic.shape} but x has shape {data.shape}; "
                         f"they must match")
    if isinstance(num_checks, bool) or not isinstance(num_checks, (int, np.integer)) or num_checks < 0:
        raise ValueError(f"{name}: num_checks must be a non-negative int, got {num_checks!r}")
    if data.size == 0:
        return []
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(int(rng.integers(n)) for n in data.shape)
        plus, minus = _nudge(data, ix, h, lambda: _scalar(name, f(x)))
        numerical = (plus - minus) / (2 * h)
        a = float(analytic[ix])
        error = abs(numerical - a) / max(1e-8, abs(numerical) + abs(a))
        print("numerical: %f analytic: %f, relative error: %e" % (numerical, a, error))
        errors.append(error)
    return errors


def rel_error(x, y):
    """max over elements of |x - y| / max(1e-8, |x| + |y|), as a Python float.

    The 1e-8 floor keeps two (near-)zero values from dividing by zero. x and y
    (numbers, numpy arrays or Tensors) must have the same shape, or one of them be a
    scalar. Two empty arrays give 0.0.
    """
    a = _to_numpy("rel_error", "x", x)
    b = _to_numpy("rel_error", "y", y)
    if a.shape != b.shape and a.ndim and b.ndim:
        raise ValueError(f"rel_error: x has shape {a.shape} but y has shape {b.shape}; they must match "
                         f"(broadcasting would compare the wrong elements)")
    ratio = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    return float(ratio.max()) if ratio.size else 0.0


# ---- helpers --------------------------------------------------------------------------------
def _nudge(data, ix, h, evaluate):
    """(evaluate() with data[ix] + h, evaluate() with data[ix] - h); data[ix] is restored bit for bit."""
    original = data[ix].copy()
    try:
        with no_grad():
            data[ix] = original + h
            plus = evaluate()
            data[ix] = original - h
            minus = evaluate()
    finally:
        data[ix] = original
    return plus, minus


def _float_array(name, x):
    """The writable numpy array behind x (x itself, or a CPU Tensor's .data), after checking its dtype."""
    if isinstance(x, Tensor):
        if x.device != "cpu":
            raise ValueError(f"{name}: x is on device '{x.device}'; numerical gradients perturb a numpy array "
                             f"in place, so pass a CPU tensor (x.cpu())")
        data = x.array
    elif isinstance(x, np.ndarray):
        data = x
    else:
        raise TypeError(f"{name}: x must be a numpy array or a CPU Tensor (it is perturbed in place), "
                        f"got {type(x).__name__}")
    if data.dtype.kind != "f":
        raise TypeError(f"{name}: x has dtype {data.dtype}, but a gradient needs floating-point x; "
                        f"use x.astype(np.float64) (numpy) or x.double() (Tensor)")
    if data.dtype != np.float64:
        warnings.warn(f"{name}: x has dtype {data.dtype}, not float64; central differences in float32 are only "
                      f"accurate to about 1e-3 relative (float16: worse). Use x.astype(np.float64) (numpy) or "
                      f"x.double() (Tensor), and a float64 f, for errors near 1e-8", UserWarning, stacklevel=3)
    if not data.flags.writeable:
        raise ValueError(f"{name}: x is read-only, but it is perturbed in place; pass a copy (x.copy())")
    return data


def _check_h(name, h):
    if not (isinstance(h, (int, float, np.floating)) and np.isfinite(h) and h > 0):
        raise ValueError(f"{name}: h must be a positive finite step, got {h!r}")


def _to_numpy(name, what, value):
    """A float64 numpy array from a Python number, numpy array or Tensor (any device)."""
    if isinstance(value, Tensor):
        value = value.numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: {what} must be a number, numpy array or Tensor, "
                        f"got {type(value).__name__}") from None


def _scalar(name, value):
    out = _to_numpy(name, "f(x)", value)
    if out.size != 1:
        raise ValueError(f"{name}: f(x) must return a scalar, got shape {out.shape}; "
                         f"for an array-valued f use eval_numerical_gradient_array(f, x, df)")
    return float(out.reshape(()))
