"""The CPU's compiled cross-entropy (backends/cpu_cross_entropy.py) against the plain NumpyBackend.cross_entropy.

* The same per-row loss and gradient over hypothesis-drawn shapes (one row, one class, the lstm's 65 classes),
  float32 and float64, with label smoothing, ignored rows, and rows holding NaN or infinities (NaN where the
  plain version gives NaN), and non-contiguous logits.
* A target out of range is left to the plain version, which names it; the fast path steps aside outside the
  CPU backend's float arrays, and in a student copy (the softmax-cross-entropy assignment) returns None.
No wall-clock times are asserted here.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_edu.backends import cpu_cross_entropy, fast_path_switch, get_backend

from student_copy import module_as_in_a_student_copy

pytestmark = pytest.mark.ops

CPU = get_backend("cpu")
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=st.integers(1, 9), classes=st.sampled_from([1, 2, 7, 65]), dtype=st.sampled_from([np.float32, np.float64]),
       smoothing=st.sampled_from([0.0, 0.1, 1.0]), special=st.sampled_from([None, np.nan, np.inf, -np.inf]),
       strided=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_compiled_cross_entropy_equals_the_plain_version(rows, classes, dtype, smoothing, special, strided, seed):
    rng = np.random.default_rng(seed)
    logits = (4 * rng.standard_normal((rows, 2 * classes if strided else classes))).astype(dtype)
    if strided:
        logits = logits[:, ::2]                                    # every other column: not contiguous
    if special is not None:
        logits[rng.integers(0, rows), rng.integers(0, classes)] = special
    target = rng.integers(0, classes, rows)
    target[rng.random(rows) < 0.3] = -100                         # ignored rows
    fast = cpu_cross_entropy.cross_entropy(CPU, logits, target, -100, smoothing)
    assert fast is not None
    with fast_path_switch.plain(), np.errstate(invalid="ignore"):
        plain = CPU.cross_entropy(logits, target, -100, smoothing)
    for got, expected, name in zip(fast, plain, ("loss", "dlogits")):
        assert got.dtype == expected.dtype == dtype and got.shape == expected.shape, name
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=name)
        np.testing.assert_allclose(got, expected, err_msg=name, **TOLERANCE[dtype])


def test_the_backend_takes_the_fast_path_and_out_of_range_targets_get_the_plain_error():
    logits = np.zeros((2, 3), dtype=np.float32)
    loss, grad = CPU.cross_entropy(logits, np.array([0, 2]), -100, 0.0)
    np.testing.assert_allclose(loss, np.log(3.0), rtol=1e-6)
    np.testing.assert_allclose(grad[0], [1 / 3 - 1, 1 / 3, 1 / 3], rtol=1e-6)
    assert cpu_cross_entropy.cross_entropy(CPU, logits, np.array([0, 3]), -100, 0.0) is None
    assert cpu_cross_entropy.cross_entropy(CPU, logits, np.array([0, -1]), -100, 0.0) is None
    with pytest.raises(IndexError):
        CPU.cross_entropy(logits, np.array([0, 3]), -100, 0.0)
    assert cpu_cross_entropy.cross_entropy(CPU, logits.astype(np.float16), np.array([0, 1]), -100, 0.0) is None
    with fast_path_switch.plain():
        assert cpu_cross_entropy.cross_entropy(CPU, logits, np.array([0, 1]), -100, 0.0) is None


def test_a_student_copy_runs_its_own_cross_entropy():
    module = module_as_in_a_student_copy("tinygrad_edu/backends/cpu_cross_entropy.py", "softmax-cross-entropy")
    assert module.cross_entropy(CPU, np.zeros((2, 3), dtype=np.float32), np.array([0, 1]), -100, 0.0) is None
