"""The LSTM's whole time loop as one backend op: `lstm_sequence_forward` / `lstm_sequence_backward`.

* On the CPU the compiled loop (backends/lstm_sequence.py) must equal the definition, one matmul and
  one `lstm_cell_forward/backward` per step (`steps_forward/backward`), over hypothesis-drawn T, B, H
  (T = 1 and B = 1 included), tightly in float64.
* The CUDA kernels (kernels/lstm_sequence.py) must equal it too, under Numba's CUDA simulator on tiny
  shapes and blocks, and nn.LSTM must train the same on the simulated "cuda" device as on the CPU,
  with a number of kernel launches that does not grow with the sequence length.
* nn.LSTM through the new path: a float64 gradcheck, and PyTorch parity of forward and backward
  (several layers, batch_first, a given (h0, c0)) when PyTorch is installed.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
from tinygrad_edu import blas_threads as threads_module
from tinygrad_edu.backends import get_backend, lstm_sequence
from tinygrad_edu.ops.lstm import LSTMLayer

TOLERANCE = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = st.integers(0, 2**32 - 1)


def sequence_inputs(steps, batch, hidden, dtype, seed, scale=1.0):
    """x_proj (T, B, 4H), h0, c0 (B, H), w_hh (4H, H), g (T, B, 2H); a few gates saturated when scale > 1."""
    rng = np.random.default_rng(seed)
    x_proj = scale * rng.standard_normal((steps, batch, 4 * hidden))
    h0, c0 = rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
    w_hh = rng.standard_normal((4 * hidden, hidden)) / np.sqrt(hidden)
    g = rng.standard_normal((steps, batch, 2 * hidden))
    return [a.astype(dtype) for a in (x_proj, h0, c0, w_hh, g)]


def assert_same(got, expected, dtype, names):
    for a, b, name in zip(got, expected, names):
        assert a.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=name, **TOLERANCE[dtype])


# ---- the CPU: compiled loop == the definition, step by step -------------------------------------
@st.composite
def sequence_cases(draw):
    return dict(steps=draw(st.integers(1, 6)), batch=draw(st.integers(1, 4)), hidden=draw(st.integers(1, 5)),
                scale=draw(st.sampled_from([1.0, 3.0, 30.0])), seed=draw(SEEDS))


@pytest.mark.ops
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40)
@given(case=sequence_cases())
def test_cpu_compiled_loop_equals_the_step_by_step_definition(dtype, case):
    cpu = get_backend("cpu")
    x_proj, h0, c0, w_hh, g = sequence_inputs(case["steps"], case["batch"], case["hidden"], dtype, case["seed"],
                                              case["scale"])
    expected = lstm_sequence.steps_forward(cpu, x_proj, h0, c0, w_hh)
    got = lstm_sequence.compiled_forward(x_proj, h0, c0, w_hh)
    assert_same(got, expected, dtype, ["hc", "acts"])
    hc, acts = expected
    expected = lstm_sequence.steps_backward(cpu, g, hc, acts, c0, w_hh)
    got = lstm_sequence.compiled_backward(g, hc, acts, c0, w_hh)
    assert_same(got, expected, dtype, ["dgates", "dh0", "dc0"])


@pytest.mark.ops
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=15)
@given(case=sequence_cases(), parts=st.integers(2, 3))
def test_cpu_compiled_loop_in_parts_equals_the_definition(dtype, case, parts):
    """The batch cut into parts (rows lo:hi each, on OpenBLAS's threads) gives what one loop over it gives."""
    threads = lstm_sequence.blas_threads()
    used = []
    run_parts = threads.run_parts
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads_module, "SMALL_PRODUCT_FLOP", 0)
        patch.setattr(lstm_sequence, "ROWS_PER_PART", 1)
        patch.setattr(threads.free_cores, "now", lambda: parts)
        patch.setattr(threads, "run_parts", lambda function, pieces: (used.append(len(pieces)),
                                                                       run_parts(function, pieces)))
        cpu = get_backend("cpu")
        x_proj, h0, c0, w_hh, g = sequence_inputs(case["steps"], case["batch"], case["hidden"], dtype, case["seed"],
                                                  case["scale"])
        expected = lstm_sequence.steps_forward(cpu, x_proj, h0, c0, w_hh)
        got = lstm_sequence.compiled_forward(x_proj.copy(), h0, c0, w_hh)
        assert_same(got, expected, dtype, ["hc", "acts"])
        hc, acts = expected
        expected = lstm_sequence.steps_backward(cpu, g, hc, acts, c0, w_hh)
        got = lstm_sequence.compiled_backward(g, hc, acts, c0, w_hh)
        assert_same(got, expected, dtype, ["dgates", "dh0", "dc0"])
    assert used == [min(parts, case["batch"])] * 2


@pytest.mark.ops
def test_a_layer_runs_in_row_parts_only_while_its_recurrent_weight_fits_the_cache(monkeypatch):
    """H = 128 (W_hh 256 KB in float32): two parts of the batch on a 2-core machine; H = 256 (1 MB): one part,
    each step's product split over the cores by BLAS. Both equal the definition."""
    threads = lstm_sequence.blas_threads()
    monkeypatch.setattr(threads.free_cores, "now", lambda: 2)
    used = []
    run_parts = threads.run_parts
    monkeypatch.setattr(threads, "run_parts", lambda function, pieces: (used.append(len(pieces)),
                                                                         run_parts(function, pieces)))
    cpu = get_backend("cpu")
    for hidden, parts in ((128, 2), (256, 1)):
        used.clear()
        x_proj, h0, c0, w_hh, g = sequence_inputs(16, 32, hidden, np.float32, seed=hidden)
        expected = lstm_sequence.steps_forward(cpu, x_proj, h0, c0, w_hh)
        got = lstm_sequence.compiled_forward(x_proj.copy(), h0, c0, w_hh)
        assert_same(got, expected, np.float32, ["hc", "acts"])
        assert used == [parts]


@pytest.mark.ops
@settings(max_examples=60)
@given(x=st.one_of(st.floats(-30, 30), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-1e-3, 1e-3)))
def test_tanh_by_arithmetic_is_tanh_in_double_precision(x):
    """The compiled loop's own tanh: within 2e-15 of numpy's (relative) in float64, and float32 results
    within half a unit of the last place of the exact value; NaN, infinities and -0.0 as numpy has them."""
    got = lstm_sequence.tanh_by_arithmetic(np.float64(x))
    expected = np.tanh(np.float64(x))
    if np.isnan(expected):
        assert np.isnan(got)
        return
    assert abs(got - expected) <= 2e-15 * abs(expected) and np.signbit(got) == np.signbit(expected)
    with np.errstate(over="ignore"):                  # beyond float32's range: inf, as numpy casts it
        x32 = np.float32(x)
    got32 = np.float32(lstm_sequence.tanh_by_arithmetic(x32))
    exact = np.tanh(np.float64(x32))
    assert abs(np.float64(got32) - exact) <= 0.5 * np.spacing(np.float32(abs(exact))) + 1e-300


@pytest.mark.ops
@settings(max_examples=60)
@given(x=st.one_of(st.floats(-12, 12, width=32), st.floats(width=32), st.floats(-2.0 ** -10, 2.0 ** -10, width=32)))
def test_tanh_float32_by_arithmetic_is_within_six_units_in_the_last_place(x):
    """The float32 LSTM's tanh, in a compiled loop as the cell runs it, against the exact value (float64), at x
    and on a dense grid; NaN, infinities and -0.0 as numpy has them."""
    xs = np.concatenate([[x, -0.0], np.linspace(-10, 10, 20001), np.geomspace(1e-30, 10, 2001)]).astype(np.float32)
    got = np.empty_like(xs)
    _tanh32_loop(xs, got)
    exact = np.tanh(xs.astype(np.float64))
    finite = ~np.isnan(exact)
    assert np.array_equal(np.isnan(got), ~finite)
    units = np.abs(got[finite] - exact[finite]) / np.spacing(np.abs(exact[finite]).astype(np.float32))
    assert units.max() <= 6 and np.array_equal(np.signbit(got[finite]), np.signbit(exact[finite]))


@njit(error_model="numpy")
def _tanh32_loop(xs, out):
    for i in range(xs.size):
        out[i] = lstm_sequence.tanh_float32_by_arithmetic(xs[i])


@pytest.mark.ops
def test_the_compiled_cell_picks_the_tanh_of_its_arrays_precision():
    @njit
    def both(x32, x64):
        return lstm_sequence.tanh_in_its_precision(x32), lstm_sequence.tanh_in_its_precision(x64)

    t32, t64 = both(np.float32(0.7), np.float64(0.7))
    assert t32 == lstm_sequence.tanh_float32_by_arithmetic(np.float32(0.7)) == np.float32(t32)   # a float32 value
    assert t64 == lstm_sequence.tanh_by_arithmetic(0.7) and t64 != t32


@pytest.mark.ops
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_blas_finds_numpys_gemm_and_it_honours_strides_and_beta(dtype):
    from tinygrad_edu.backends import compiled_blas
    gemm = compiled_blas.gemm_for(dtype)
    assert gemm is not None, "numpy's OpenBLAS should offer cblas gemm to compiled code"
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 9)).astype(dtype), rng.standard_normal((7, 6)).astype(dtype)
    c = rng.standard_normal((4, 8)).astype(dtype)
    expected = c.copy()
    expected[1:4, 2:8] = 0.5 * expected[1:4, 2:8] + 2 * a[2:5, 1:8] @ b[:, :6]
    # rows 2..4, columns 1..7 of a (lda 9) times b (7, 6) (ldb 6), into rows 1..3, columns 2..7 of c (ldc 8)
    gemm(compiled_blas.ROW_MAJOR, compiled_blas.NO_TRANS, compiled_blas.NO_TRANS, 3, 6, 7, 2.0,
         a[2:, 1:].ctypes.data, 9, b.ctypes.data, 6, 0.5, c[1:, 2:].ctypes.data, 8)
    np.testing.assert_allclose(c, expected, **TOLERANCE[dtype])
    assert compiled_blas.gemm_for(np.int64) is None


@pytest.mark.nn
def test_nn_lstm_on_the_compiled_path_equals_it_step_by_step():
    """The whole module, forward and backward, with the CPU's compiled loop and inside step_by_step()."""
    tg.manual_seed(3)
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True).double()
    rng = np.random.default_rng(5)
    x, h0, c0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 4))
    v = rng.standard_normal((2, 5, 4))

    def run():
        lstm.zero_grad()
        inputs = [tg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
        out, (h_n, c_n) = lstm(inputs[0], (inputs[1], inputs[2]))
        ((out * tg.tensor(v)).sum() + h_n.sum() + (c_n * c_n).sum()).backward()
        return [out.numpy(), h_n.numpy(), c_n.numpy()] + [t.grad.numpy() for t in inputs] + \
            [p.grad.numpy().copy() for p in lstm.parameters()]

    assert lstm_sequence.use_compiled()
    compiled = run()
    with lstm_sequence.step_by_step():
        assert not lstm_sequence.use_compiled()
        steps = run()
    assert lstm_sequence.use_compiled()
    for a, b in zip(compiled, steps):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


# ---- gradients of the whole layer ---------------------------------------------------------------
@pytest.mark.gradcheck
@settings(max_examples=10)
@given(steps=st.integers(1, 4), batch=st.integers(1, 3), hidden=st.integers(1, 3), bias=st.booleans(), seed=SEEDS)
def test_lstm_layer_gradcheck(steps, batch, hidden, bias, seed):
    """Every input of one layer node (x, h0, c0, W_ih, W_hh, b_ih, b_hh) against finite differences."""
    rng = np.random.default_rng(seed)
    shapes = [(steps, batch, 2), (batch, hidden), (batch, hidden), (4 * hidden, 2), (4 * hidden, hidden)]
    shapes += [(4 * hidden,), (4 * hidden,)] if bias else []
    leaves = [tg.tensor(0.8 * rng.standard_normal(s), dtype=tg.float64, requires_grad=True) for s in shapes]
    assert tg.gradcheck(lambda *t: LSTMLayer.apply(*t), leaves)


@pytest.mark.gradcheck
def test_nn_lstm_gradcheck_through_two_layers_batch_first():
    """nn.LSTM (two layers, batch_first) -> output, h_n, c_n, with respect to the input and (h0, c0)."""
    tg.manual_seed(11)
    lstm = nn.LSTM(2, 3, num_layers=2, batch_first=True).double()
    rng = np.random.default_rng(12)
    x, h0, c0 = (tg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 4, 2), (2, 2, 3), (2, 2, 3)))

    def everything(x, h0, c0):
        out, (h_n, c_n) = lstm(x, (h0, c0))
        return tg.cat([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])

    assert tg.gradcheck(everything, (x, h0, c0))


# ---- PyTorch parity --------------------------------------------------------------------------------
@pytest.mark.nn
@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-10, 1e-12), (np.float32, 2e-4, 2e-5)])
def test_nn_lstm_matches_pytorch_forward_and_backward(dtype, rtol, atol):
    torch = pytest.importorskip("torch", exc_type=ImportError, reason="PyTorch is not installed")
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(5, 6, num_layers=3, batch_first=True).to(torch.float64 if dtype == np.float64
                                                                       else torch.float32)
    ours = nn.LSTM(5, 6, num_layers=3, batch_first=True).to(dtype=tg.float64 if dtype == np.float64 else tg.float32)
    ours.load_state_dict({name: value.numpy() for name, value in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x, h0, c0 = (rng.standard_normal(s).astype(dtype) for s in ((4, 7, 5), (3, 4, 6), (3, 4, 6)))
    v_out, v_h, v_c = (rng.standard_normal(s).astype(dtype) for s in ((4, 7, 6), (3, 4, 6), (3, 4, 6)))

    mine = [tg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    out, (h_n, c_n) = ours(mine[0], (mine[1], mine[2]))
    ((out * tg.tensor(v_out)).sum() + (h_n * tg.tensor(v_h)).sum() + (c_n * tg.tensor(v_c)).sum()).backward()
    reference = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    t_out, (t_h, t_c) = theirs(reference[0], (reference[1], reference[2]))
    ((t_out * torch.from_numpy(v_out)).sum() + (t_h * torch.from_numpy(v_h)).sum()
     + (t_c * torch.from_numpy(v_c)).sum()).backward()

    def close(a, b, name):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol, err_msg=name)

    for a, b, name in zip((out, h_n, c_n), (t_out, t_h, t_c), ("output", "h_n", "c_n")):
        close(a, b, name)
    for a, b, name in zip(mine, reference, ("x", "h0", "c0")):
        close(a.grad, b.grad, f"grad of {name}")
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, their_params[name].grad, f"grad of {name}")


# ---- the CUDA kernels, under the simulator ---------------------------------------------------------
@st.composite
def kernel_cases(draw):
    return dict(steps=draw(st.integers(1, 4)), batch=draw(st.integers(1, 3)), hidden=draw(st.integers(1, 5)),
                threads=draw(st.sampled_from([1, 2, 3, 4])), seed=draw(SEEDS))


@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=8)
@given(case=kernel_cases())
def test_sequence_kernels_equal_the_step_by_step_definition(dtype, case):
    from tinygrad_edu.kernels import lstm_sequence as kernels
    cpu = get_backend("cpu")
    x_proj, h0, c0, w_hh, g = sequence_inputs(case["steps"], case["batch"], case["hidden"], dtype, case["seed"],
                                              scale=3.0)
    expected = lstm_sequence.steps_forward(cpu, x_proj, h0, c0, w_hh)
    got = kernels.lstm_sequence_forward(x_proj, h0, c0, w_hh, xp=np, threads=case["threads"])
    assert_same(got, expected, dtype, ["hc", "acts"])
    hc, acts = expected
    expected = lstm_sequence.steps_backward(cpu, g, hc, acts, c0, w_hh)
    got = kernels.lstm_sequence_backward(g, hc, acts, c0, w_hh, xp=np, threads=case["threads"])
    assert_same(got, expected, dtype, ["dgates", "dh0", "dc0"])


@pytest.mark.kernels
def test_sequence_kernels_refuse_what_does_not_fit_and_wrong_shapes():
    from tinygrad_edu.kernels import lstm_sequence as kernels
    assert kernels.fits(1536, np.float32) and not kernels.fits(1537, np.float32)
    assert not kernels.fits(1024, np.float64)
    x_proj, h0, c0, w_hh, _ = sequence_inputs(2, 2, 3, np.float64, seed=0)
    with pytest.raises(ValueError, match="w_hh should have shape"):
        kernels.lstm_sequence_forward(x_proj, h0, c0, w_hh.T, xp=np, threads=2)
    with pytest.raises(ValueError, match="shared memory"):
        big = np.zeros((1, 1, 4 * 1024))
        kernels.lstm_sequence_forward(big, np.zeros((1, 1024)), np.zeros((1, 1024)), np.zeros((4096, 1024)), xp=np)


def _train_step_on(device, steps, dtype=tg.float32):
    """One forward + backward of Embedding -> LSTM(batch_first) -> Linear on `device`; -> {name: numpy array}."""
    tg.manual_seed(2)
    embed, lstm, head = nn.Embedding(7, 3), nn.LSTM(3, 5, num_layers=2, batch_first=True), nn.Linear(5, 7)
    modules = [m.to(device, dtype) for m in (embed, lstm, head)]
    tokens = tg.tensor(np.random.default_rng(0).integers(0, 7, (2, steps)), device=device)
    out, (h_n, c_n) = modules[1](modules[0](tokens))
    loss = tg.nn.functional.cross_entropy(modules[2](out).reshape(-1, 7), tokens.reshape(-1)) + h_n.sum() + c_n.sum()
    loss.backward()
    results = {"loss": loss.numpy()}
    for k, m in enumerate(modules):
        for name, p in m.named_parameters():
            results[f"{k}.{name}"] = p.grad.numpy()
    return results


@pytest.mark.kernels
def test_nn_lstm_on_the_simulated_gpu_equals_the_cpu_with_launches_independent_of_length(simulated_cuda,
                                                                                          monkeypatch):
    from tinygrad_edu.kernels import lstm_sequence as kernels
    from tinygrad_edu.kernels.launch import LAUNCHES
    calls = []
    for name in ("lstm_sequence_forward", "lstm_sequence_backward"):
        original = getattr(kernels, name)
        monkeypatch.setattr(kernels, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    launches = {}
    for steps in (2, 5):
        expected = _train_step_on("cpu", steps)
        LAUNCHES.reset()
        got = _train_step_on("cuda", steps)
        launches[steps] = LAUNCHES.count
        assert got.keys() == expected.keys()
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # two layers, two sequence lengths: every layer ran its loop as one forward and one backward launch
    assert calls.count("lstm_sequence_forward") == 4 and calls.count("lstm_sequence_backward") == 4
    assert launches[2] == launches[5], f"kernel launches grow with the sequence length: {launches}"


@pytest.mark.kernels
def test_choosing_cupy_for_lstm_cell_runs_the_sequence_step_by_step(simulated_cuda, monkeypatch):
    from tinygrad_edu.kernels import lstm_sequence as kernels
    expected = _train_step_on("cpu", 3)
    monkeypatch.setattr(kernels, "lstm_sequence_forward", None)     # our kernels must not run
    monkeypatch.setattr(kernels, "lstm_sequence_backward", None)
    simulated_cuda.choose("lstm_cell", "cupy")
    got = _train_step_on("cuda", 3)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-5, err_msg=name)


# ---- the same kernels on a real GPU (skipped without one) --------------------------------------------
REAL_GPU = os.environ.get("TINYGRAD_EDU_REAL_GPU") == "1" and tg.cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not REAL_GPU, reason="needs a real NVIDIA GPU with CuPy (set TINYGRAD_EDU_REAL_GPU=1)")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("steps, batch, hidden", [(64, 32, 128), (3, 5, 300)])
def test_sequence_kernels_on_a_real_gpu(dtype, steps, batch, hidden):
    """The benchmark's layer (T 64, B 32, H 128) and one with more hidden units than threads, default blocks."""
    import cupy

    from tinygrad_edu.kernels import lstm_sequence as kernels
    x_proj, h0, c0, w_hh, g = sequence_inputs(steps, batch, hidden, dtype, seed=4, scale=3.0)
    expected = lstm_sequence.compiled_forward(x_proj, h0, c0, w_hh)
    got = kernels.lstm_sequence_forward(*(cupy.asarray(a) for a in (x_proj, h0, c0, w_hh)), xp=cupy)
    tolerance = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else TOLERANCE[np.float64]
    for a, b, name in zip(got, expected, ("hc", "acts")):
        np.testing.assert_allclose(cupy.asnumpy(a), b, err_msg=name, **tolerance)
    hc, acts = expected
    expected = lstm_sequence.compiled_backward(g, hc, acts, c0, w_hh)
    got = kernels.lstm_sequence_backward(*(cupy.asarray(a) for a in (g, hc, acts, c0, w_hh)), xp=cupy)
    for a, b, name in zip(got, expected, ("dgates", "dh0", "dc0")):
        np.testing.assert_allclose(cupy.asnumpy(a), b, err_msg=name, **tolerance)
