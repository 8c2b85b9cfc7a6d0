"""The CPU's compiled attention softmax (backends/cpu_attention.py) against the plain NumpyBackend attention.

* Forward (out, lse) and backward (dq, dk, dv) equal the plain version over hypothesis-drawn shapes (L != S,
  one key, one query), causal or not, with additive masks that block single entries and whole rows, in float32
  and float64, and with non-contiguous inputs.
* Rows with +inf or NaN scores come out as in the plain version; the fast path steps aside where it does not
  apply; in a student copy the backward is the attention-backward assignment's and runs the student's code.
No wall-clock times are asserted here.
"""
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_edu.backends import cpu_attention, fast_path_switch, get_backend

from parts import split_over
from student_copy import module_as_in_a_student_copy

pytestmark = pytest.mark.ops

CPU = get_backend("cpu")
TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def both_ways(q, k, v, dout, scale, causal, mask):
    fast = CPU.attention_forward(q, k, v, scale, causal, mask)
    fast_grads = CPU.attention_backward(q, k, v, *fast, dout, scale, causal, mask)
    with fast_path_switch.plain():
        plain = CPU.attention_forward(q, k, v, scale, causal, mask)
        plain_grads = CPU.attention_backward(q, k, v, *plain, dout, scale, causal, mask)
    return fast + fast_grads, plain + plain_grads


def assert_same(got, expected, dtype):
    for name, g, e in zip(("out", "lse", "dq", "dk", "dv"), got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape, name
        np.testing.assert_array_equal(np.isnan(g), np.isnan(e), err_msg=name)
        np.testing.assert_array_equal(np.isinf(g) & (g < 0), np.isinf(e) & (e < 0), err_msg=name)
        finite = np.isfinite(e)
        np.testing.assert_allclose(g[finite], e[finite], err_msg=name, **TOLERANCE[dtype])


@settings(max_examples=50, deadline=None, derandomize=True)
@given(batch=st.integers(1, 3), queries=st.integers(1, 6), keys=st.integers(1, 6), width=st.integers(1, 4),
       value_width=st.integers(1, 3), causal=st.booleans(),
       masked=st.sampled_from(["none", "entries", "a row", "per item"]), dtype=st.sampled_from([np.float32, np.float64]),
       transposed=st.booleans(), seed=st.integers(0, 2**32 - 1), cores=st.sampled_from([1, 2]))
def test_the_compiled_softmax_equals_the_plain_attention(batch, queries, keys, width, value_width, causal, masked,
                                                         dtype, transposed, seed, cores):
    """On one thread, or with the batch's items shared out over two (each part its own rows of every output)."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((batch, queries, width)).astype(dtype)
    k = rng.standard_normal((batch, keys, width)).astype(dtype)
    if transposed:                          # k as a non-contiguous view, as a transpose in the model gives it
        k = np.ascontiguousarray(k.transpose(0, 2, 1)).transpose(0, 2, 1)
    v = rng.standard_normal((batch, keys, value_width)).astype(dtype)
    dout = rng.standard_normal((batch, queries, value_width)).astype(dtype)
    mask = None
    if masked != "none" and not causal:
        shape = (batch, queries, keys) if masked == "per item" else (queries, keys)
        mask = np.where(rng.random(shape) < 0.3, -np.inf, rng.standard_normal(shape))
        if masked == "a row":
            mask[0] = -np.inf                                   # a query that may attend to nothing
        mask = mask.astype(dtype)
    assert cpu_attention.attention_forward(CPU, q, k, v, 0.7, causal, mask) is not None
    with split_over(cores) as parts, np.errstate(invalid="ignore", divide="ignore"):
        got, expected = both_ways(q, k, v, dout, 0.7, causal, mask)
    assert parts == [min(cores, batch)] * 2                     # the forward's and the backward's parts
    assert_same(got, expected, dtype)


def test_rows_with_infinite_or_nan_scores_come_out_as_in_the_plain_version():
    q = np.array([[[1.0, 0.0], [np.nan, 1.0], [np.inf, 1.0]]], dtype=np.float32)
    k = np.array([[[1.0, 2.0], [0.5, -1.0]]], dtype=np.float32)
    v = np.array([[[1.0], [2.0]]], dtype=np.float32)
    dout = np.ones((1, 3, 1), dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        got, expected = both_ways(q, k, v, dout, 1.0, False, None)
    assert_same(got, expected, np.float32)
    assert np.isfinite(got[0][0, 0]).all()             # the healthy row is untouched by its neighbours


def test_the_fast_path_steps_aside_where_it_does_not_apply():
    q = np.ones((1, 2, 2), np.float32)
    assert cpu_attention.attention_forward(types.SimpleNamespace(name="cuda"), q, q, q, 1.0, False, None) is None
    assert cpu_attention.attention_forward(CPU, q.astype(np.float16), q.astype(np.float16), q.astype(np.float16),
                                           1.0, False, None) is None
    assert cpu_attention.attention_forward(CPU, q, q, q, 1.0, False, np.zeros((2, 2))) is None    # float64 mask
    with fast_path_switch.plain():
        assert cpu_attention.attention_forward(CPU, q, q, q, 1.0, False, None) is None


def test_a_student_copy_runs_its_own_attention_backward():
    module = module_as_in_a_student_copy("tinygrad_edu/backends/cpu_attention.py", "attention-backward")
    q = np.ones((1, 2, 2))
    out, lse = cpu_attention.attention_forward(CPU, q, q, q, 1.0, False, None)   # the forward is no assignment's
    assert module.attention_backward(CPU, q, q, q, out, lse, q, 1.0, False, None) is None
