"""The checks that the graded tests use: the instructor's copy, trusted by the grader.

`tinygrad-edu grade` imports this module from the instructor's tests *before* any code of
the submission runs, and these functions keep their own references to the numpy functions
they need. A submission that replaces `numpy.allclose`, `tg.gradcheck` or anything else at
import time changes nothing here: the finite differences and comparisons below never go
through the submission's code, only the function under test does.

Every check also *observes* the values it was given (`observe`). The grader runs the same
tests against the answer key (the released library) and a test passes only if the
submission's observations match the answer key's, so a submission cannot pass by
tampering with the test run itself: it has to produce the right numbers.
"""
import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest

_array, _asarray, _zeros_like, _abs = np.array, np.asarray, np.zeros_like, np.abs
_isclose, _all, _isfinite, _float64 = np.isclose, np.all, np.isfinite, np.float64
_default_rng, _unravel, _argmax = np.random.default_rng, np.unravel_index, np.argmax

_observations = {}


def observe(name, value, rtol=1e-6, atol=1e-9):
    """Record `value` (a number or array) under `name` for the grader, which compares it with the answer key's
    value within rtol/atol."""
    _observations[name] = {"value": _array(value, dtype=_float64), "rtol": rtol, "atol": atol, "at_least": None}


def observe_at_least(name, value, minimum):
    """Record `value` under `name`; the grader checks value >= minimum (for results that vary, like accuracy)."""
    _observations[name] = {"value": _array(value, dtype=_float64), "rtol": 0.0, "atol": 0.0, "at_least": minimum}
    assert value >= minimum, f"{name}: {value:.4f} is below the required {minimum}"


def take_observations():
    """The observations recorded since the last call (the grader calls this after each test)."""
    taken = dict(_observations)
    _observations.clear()
    return taken


def assert_close(actual, expected, name, rtol=1e-6, atol=1e-9):
    """Fail with the worst element's index and values unless actual ~ expected; observe `actual` as `name`."""
    actual, expected = _to_numpy(actual), _to_numpy(expected)
    observe(name, actual, rtol, atol)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, expected {expected.shape}"
    ok = _isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not _all(ok):
        error = _abs(actual - expected)
        worst = _unravel(int(_argmax(error * ~ok)), actual.shape) if actual.ndim else ()
        raise AssertionError(f"{name}: wrong at index {tuple(int(i) for i in worst)}: got {actual[worst]!r}, "
                             f"expected {expected[worst]!r} ({int((~ok).sum())} of {ok.size} elements differ)")


def _to_numpy(value):
    data = getattr(value, "data", value) if type(value).__name__ == "Tensor" else value
    return _array(data, dtype=_float64)


def numerical_gradient(f, x, direction, eps=1e-6):
    """d sum(direction * f(x)) / dx by central differences; x (float64 numpy) is perturbed in place and restored."""
    grad = _zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = float((_asarray(f()) * direction).sum())
        flat[i] = saved - eps
        minus = float((_asarray(f()) * direction).sum())
        flat[i] = saved
        out[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(name, fn, *arrays, seed=0, rtol=1e-5, atol=1e-7, eps=1e-6):
    """Backward of `fn(*tensors)` against central differences, along a random direction, for every input.

    `arrays` are float64 numpy arrays; each becomes a tensor that requires grad. The analytic gradients come from
    the submission's backward; the numerical ones from its forward, computed here.
    """
    import tinygrad_edu as tg
    tensors = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    direction = _default_rng(seed).standard_normal(tuple(out.shape))
    out.backward(tg.tensor(direction))
    for i, (array, tensor) in enumerate(zip(arrays, tensors)):
        assert tensor.grad is not None, f"{name}: input {i} got no gradient"

        def forward():
            with tg.no_grad():
                return fn(*[tg.tensor(a) for a in arrays]).array
        expected = numerical_gradient(forward, array, direction, eps)
        assert_close(tensor.grad, expected, f"{name}: gradient of input {i}", rtol=rtol, atol=atol)


def submission_root():
    """The repository being graded: the grader says which; run directly, the one these tests sit in."""
    return pathlib.Path(os.environ.get("TINYGRAD_EDU_SUBMISSION") or pathlib.Path(__file__).resolve().parents[2])


def load_lesson(name):
    """Import lessons/<name>.py of the repository being graded as a module (its `main()` is not run)."""
    lessons = submission_root() / "lessons"
    if str(lessons) not in sys.path:
        sys.path.insert(0, str(lessons))          # lessons import their shared `common` module
    spec = importlib.util.spec_from_file_location(f"lesson_{name}", lessons / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def use_cuda_simulator():
    """Switch Numba's CUDA simulator on, unless TINYGRAD_EDU_REAL_GPU=1: call before numba is first imported."""
    if os.environ.get("TINYGRAD_EDU_REAL_GPU") != "1":
        os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


@pytest.fixture(scope="module")
def race_free_simulator():
    """The simulator's shared arrays made thread-safe (kernels/simulator.py), so a correct kernel never flakes."""
    from tinygrad_edu.kernels.simulator import thread_safe_shared_arrays
    restore = thread_safe_shared_arrays()
    yield
    restore()
