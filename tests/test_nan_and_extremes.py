"""NaN and extreme values answered as PyTorch answers them (issue 9, item 5).

max/min with a NaN or with ties (which element gets the gradient), max-pool windows holding a NaN,
Tensor.softmax/log_softmax on rows of 1e8, +-inf and NaN, sigmoid of large negative inputs, and Adam
given gradients near 1e20 (whose square overflows float32). Each case runs in both libraries and the
values and gradients must agree, NaNs in the same places.
"""
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.ops

NAN, INF = float("nan"), float("inf")


def run_both(op, array, upstream=None, dtype="float32", device="cpu"):
    """op(library, tensor) in tinygrad_edu and in PyTorch: (ours, theirs) as (value, gradient) numpy pairs.

    The output's gradient is `upstream` (default: all ones), so a wrong share of it shows."""
    array = np.asarray(array, dtype=dtype)
    results = []
    for lib, x in ((tg, tg.tensor(array, device=device, requires_grad=True)),
                   (torch, torch.tensor(array, requires_grad=True))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # numpy's notes on 0/0 and log(0): PyTorch has none
            y = op(lib, x)
            g = np.ones(tuple(y.shape), dtype=dtype) if upstream is None else np.asarray(upstream, dtype=dtype)
            y.backward(tg.tensor(g, device=device) if lib is tg else torch.tensor(g))
        value = y.numpy() if lib is tg else y.detach().numpy()
        results.append((value, x.grad.numpy()))
    return results


def assert_same(ours, theirs, rtol=1e-6, atol=0.0):
    for a, b, what in zip(ours, theirs, ("value", "gradient")):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# ---- max / min / amax / amin ---------------------------------------------------------------------------------
EXTREMES = {
    "one NaN": [[1.0, NAN, 3.0], [2.0, 5.0, 4.0]],
    "two NaNs in a row": [[NAN, 1.0, NAN], [2.0, 5.0, 4.0]],
    "NaNs in two rows": [[NAN, 1.0, 0.0], [2.0, 5.0, NAN]],
    "ties": [[3.0, 3.0, 1.0], [2.0, 5.0, 5.0]],
    "ties and a NaN": [[7.0, 7.0, 1.0], [NAN, 5.0, 5.0]],
    "infinities": [[INF, INF, -INF], [-INF, -INF, -INF]],
}
REDUCTIONS = {
    "max()": lambda L, x: x.max(),
    "min()": lambda L, x: x.min(),
    "max(1)": lambda L, x: x.max(1)[0],
    "min(1)": lambda L, x: x.min(1)[0],
    "max(0, keepdim)": lambda L, x: x.max(0, keepdim=True)[0],
    "min(-1, keepdim)": lambda L, x: x.min(-1, keepdim=True)[0],
    "amax()": lambda L, x: x.amax(),
    "amin()": lambda L, x: x.amin(),
    "amax(1)": lambda L, x: x.amax(1),
    "amin(0)": lambda L, x: x.amin(0),
    "amax((0, 1), keepdim)": lambda L, x: x.amax((0, 1), keepdim=True),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("data", list(EXTREMES))
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_max_min_route_the_gradient_like_torch(name, data, dtype):
    """max()/min() split the gradient between the elements equal to the result, NaNs counting as equal to a NaN
    result; max(dim)/min(dim) give all of it to the returned index (the first NaN, else the first extreme);
    amax/amin split between the equal elements, so a slice whose result is NaN gets NaN, exactly as PyTorch."""
    ours, theirs = run_both(REDUCTIONS[name], EXTREMES[data], dtype=dtype)
    assert_same(ours, theirs)


@pytest.mark.parametrize("data", list(EXTREMES))
def test_max_min_indices_match_torch(data):
    x = np.array(EXTREMES[data], dtype=np.float32)
    for op in ("max", "min"):
        for dim in (0, 1, -1):
            ours, theirs = getattr(tg.tensor(x), op)(dim), getattr(torch.tensor(x), op)(dim)
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


def test_max_with_a_nan_sends_the_whole_gradient_to_the_nan():
    """The issue's example: every gradient used to be NaN."""
    x = tg.tensor([[1.0, NAN, 3.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0]])
    y = tg.tensor([[1.0, NAN, 3.0]], requires_grad=True)
    y.min(dim=1).values.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[0.0, 1.0, 0.0]])


def test_max_of_a_0d_tensor_along_dim_0():
    for value in (2.5, NAN):
        ours, theirs = run_both(lambda L, x: x.max(0)[0], value)
        assert_same(ours, theirs)


def test_max_min_on_the_simulated_cuda_device(simulated_cuda):
    for name in ("max()", "max(1)", "min(-1, keepdim)", "amax(1)", "amin()"):
        for data in ("two NaNs in a row", "ties and a NaN", "ties"):
            ours, theirs = run_both(REDUCTIONS[name], EXTREMES[data], device="cuda")
            assert_same(ours, theirs)


# ---- max pooling ---------------------------------------------------------------------------------------------
def _image_with_nans(seed, positions):
    x = np.random.default_rng(seed).standard_normal((2, 2, 6, 6)).astype(np.float32)
    for n, c, i, j in positions:
        x[n, c, i, j] = NAN
    return x


POOL_NANS = {
    "one NaN": [(0, 0, 1, 1)],
    "two NaNs in one window": [(0, 0, 0, 0), (0, 0, 1, 1)],
    "NaNs in several windows": [(0, 1, 0, 1), (0, 1, 1, 0), (1, 0, 3, 3), (1, 0, 5, 4), (1, 1, 2, 2)],
}
POOL_ARGS = [dict(kernel_size=2), dict(kernel_size=3, stride=1), dict(kernel_size=3, stride=2, padding=1),
             dict(kernel_size=(2, 3), stride=(1, 2))]


@pytest.mark.parametrize("args", POOL_ARGS, ids=lambda a: ",".join(f"{k}={v}" for k, v in a.items()))
@pytest.mark.parametrize("nans", list(POOL_NANS))
def test_max_pool2d_sends_a_nan_windows_gradient_to_the_nan(nans, args):
    """A window holding NaN has max NaN, and its gradient goes to the NaN PyTorch's forward picked (the last
    one, in row-major window order); other windows keep their first maximum."""
    x = _image_with_nans(0, POOL_NANS[nans])
    pool = lambda L, t: (F if L is tg else torch.nn.functional).max_pool2d(t, **args)  # noqa: E731
    out_shape = tuple(torch.nn.functional.max_pool2d(torch.tensor(x), **args).shape)
    upstream = np.random.default_rng(1).standard_normal(out_shape)
    ours, theirs = run_both(pool, x, upstream=upstream)
    assert_same(ours, theirs, atol=1e-6)     # overlapping windows add their shares in another order


def test_max_pool2d_nan_on_the_simulated_cuda_device(simulated_cuda):
    x = _image_with_nans(0, POOL_NANS["NaNs in several windows"])
    pool = lambda L, t: (F if L is tg else torch.nn.functional).max_pool2d(t, 3, 1)  # noqa: E731
    ours, theirs = run_both(pool, x, device="cuda")
    assert_same(ours, theirs)


# ---- softmax and log-softmax ---------------------------------------------------------------------------------
SOFTMAX_ROWS = {
    "all 1e8": [[1e8] * 4, [1.0, 2.0, 3.0, 4.0]],
    "all -1e8": [[-1e8] * 4, [1.0, 2.0, 3.0, 4.0]],
    "1e30 ties": [[1e30, 1e30, 0.0, -1e30], [0.0, 0.0, 0.0, 0.0]],
    "far apart": [[1e8, 0.0, -1e8, 5.0], [-3.0, 1e-8, 2.0, 2.0]],
    "+inf": [[INF, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
    "-inf": [[-INF, 1.0, 2.0, 3.0], [1.0, -INF, 3.0, -INF]],
    "all -inf": [[-INF] * 4, [1.0, 2.0, 3.0, 4.0]],
    "+inf and -inf": [[INF, -INF, 0.0, 0.0], [INF, INF, 1.0, 2.0]],
    "NaN": [[NAN, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
}
UPSTREAM = [[1.0, -2.0, 0.5, 3.0], [0.25, 1.0, -1.0, 2.0]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dim", [1, 0])
@pytest.mark.parametrize("rows", list(SOFTMAX_ROWS))
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_tensor_softmax_matches_torch_and_F_on_extreme_rows(op, rows, dim, dtype):
    """x.softmax(dim) is F.softmax(x, dim) is torch's, value and gradient (they used to differ: all ones for a row
    of 1e8, [nan, 0, 0] for [inf, 1, 2])."""
    data = np.array(SOFTMAX_ROWS[rows])
    data, upstream = (data, UPSTREAM) if dim == 1 else (data.T, np.transpose(UPSTREAM))
    method = lambda L, x: getattr(x, op)(dim)  # noqa: E731
    ours, theirs = run_both(method, data, upstream=upstream, dtype=dtype)
    assert_same(ours, theirs, rtol=1e-5, atol=1e-7)
    functional, _ = run_both(lambda L, x: getattr(F if L is tg else torch.nn.functional, op)(x, dim), data,
                             upstream=upstream, dtype=dtype)
    assert_same(ours, functional, rtol=0, atol=0)


def test_tensor_softmax_issue_examples():
    np.testing.assert_allclose(tg.full((1, 4), 1e8).softmax(1).numpy(), [[0.25] * 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = tg.tensor([[INF, 1.0, 2.0]]).softmax(1).numpy()
    np.testing.assert_array_equal(out, torch.tensor([[INF, 1.0, 2.0]]).softmax(1).numpy())   # all NaN, as PyTorch


def test_tensor_softmax_is_the_softmax_op():
    """One path: the method records the same node as F.softmax (ops/softmax.py), not exp(x - logsumexp(x))."""
    x = tg.randn(2, 3, requires_grad=True)
    assert type(x.softmax(-1).grad_fn) is type(F.softmax(x, -1).grad_fn)
    assert type(x.log_softmax(1).grad_fn) is type(F.log_softmax(x, 1).grad_fn)


@pytest.mark.errors
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_tensor_softmax_takes_one_int_dim_like_torch(op):
    """PyTorch's x.softmax(dim) takes one int dim: None and tuples are TypeErrors there, and here (the old
    exp(x - logsumexp(x)) silently reduced over several dims)."""
    x = tg.randn(2, 3)
    for dim in (None, (0, 1)):
        with pytest.raises(TypeError):
            getattr(torch.randn(2, 3), op)(dim)
        with pytest.raises(TypeError, match=f"{op}: dim must be an int"):
            getattr(x, op)(dim)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_tensor_softmax_on_the_simulated_cuda_device(simulated_cuda, op):
    for rows in ("all 1e8", "-inf", "+inf", "1e30 ties"):
        ours, theirs = run_both(lambda L, x: getattr(x, op)(1), SOFTMAX_ROWS[rows], upstream=UPSTREAM, device="cuda")
        assert_same(ours, theirs, rtol=1e-5, atol=1e-7)


# ---- sigmoid -------------------------------------------------------------------------------------------------
SIGMOID_INPUTS = [-87.0, -50.0, -20.0, -17.5, -5.0, -1e-3, -0.0, 0.0, 1e-3, 5.0, 17.5, 20.0, 50.0, 1e30, -INF, INF, NAN]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_keeps_relative_precision_like_torch(dtype):
    ours, theirs = run_both(lambda L, x: x.sigmoid(), SIGMOID_INPUTS, dtype=dtype)
    assert_same(ours, theirs, rtol=1e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_far_below_zero(dtype):
    """Below float32's e^-88 PyTorch's 1/(1 + e^-x) overflows e^-x and rounds to 0; ours, from e^-|x| (never
    overflowing), keeps the subnormal e^x. The two agree to float32's smallest normal number."""
    x = [-88.5, -100.0, -104.0, -200.0, -1e30]
    ours, theirs = run_both(lambda L, t: t.sigmoid(), x, dtype=dtype)
    assert_same(ours, theirs, rtol=1e-6, atol=float(np.finfo(dtype).tiny))
    assert np.all(ours[0] >= 0) and np.all(ours[0] <= np.exp(np.array(x, dtype=dtype)) * (1 + 1e-6))


def test_log_sigmoid_of_minus_20_is_minus_20_with_gradient_1():
    """The issue's example: sigmoid(-20) was 0 in float32, so log(sigmoid(-20)) was -inf with a NaN gradient."""
    x = tg.tensor(-20.0, requires_grad=True)
    s = x.sigmoid()
    np.testing.assert_allclose(s.item(), 2.0611537e-09, rtol=1e-6)
    y = s.log()
    y.backward()
    np.testing.assert_allclose(y.item(), -20.0, rtol=1e-6)
    np.testing.assert_allclose(x.grad.item(), 1.0, rtol=1e-6)
    ours, theirs = run_both(lambda L, t: t.sigmoid().log(), [-20.0, -60.0, -80.0, 0.0, 30.0])
    assert_same(ours, theirs)


def test_sigmoid_does_not_warn_on_extreme_inputs():
    x = tg.tensor([-1e30, -INF, INF, 1e30, -1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(x.sigmoid().numpy(), [0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
        tg.tensor(-3.0).sigmoid()                    # a 0-d tensor too
    assert tg.tensor(-30.0, dtype=tg.float64).sigmoid().item() == pytest.approx(9.357622968840175e-14, rel=1e-14)


@pytest.mark.gradcheck
def test_sigmoid_gradcheck_far_from_zero():
    x = tg.tensor([-40.0, -25.0, -10.0, -1.0, 0.5, 12.0, 30.0], dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda t: t.sigmoid().log(), (x,))


@pytest.mark.parametrize("use", ["ours", "cupy"])
def test_sigmoid_on_the_simulated_cuda_device(simulated_cuda, use):
    """Our elementwise kernel, and the fallback the backend uses without it (the CPU formula)."""
    simulated_cuda.choose("elementwise", use)
    ours, theirs = run_both(lambda L, x: x.sigmoid().log(), [-20.0, -60.0, -5.0, 0.0, 30.0], device="cuda")
    assert_same(ours, theirs)


# ---- Adam ----------------------------------------------------------------------------------------------------
@pytest.mark.optim
@pytest.mark.parametrize("optimizer, options", [("Adam", {}), ("Adam", dict(amsgrad=True)),
                                                ("AdamW", {}), ("Adam", dict(weight_decay=0.1))])
@pytest.mark.parametrize("scale", [1e20, 3e19, 5e20, 1e-20])
def test_adam_with_huge_gradients_matches_torch(optimizer, options, scale):
    """g * g overflows float32 beyond ~1.8e19; PyTorch forms (1 - beta2) * g first and then times g, which stays
    finite up to ~6e20, so the step is still taken. Three steps must land where PyTorch's do."""
    start = np.array([1.0, -2.0, 3.0, 0.5], dtype=np.float32)
    ours = tg.tensor(start, requires_grad=True)
    theirs = torch.tensor(start, requires_grad=True)
    opt_ours = getattr(tg.optim, optimizer)([ours], lr=0.1, **options)
    opt_theirs = getattr(torch.optim, optimizer)([theirs], lr=0.1, **options)
    for step in range(3):
        g = (np.array([1.0, -1.0, 0.5, -0.25], dtype=np.float32) * np.float32(scale) * (step + 1)).astype(np.float32)
        ours.grad, theirs.grad = tg.tensor(g), torch.tensor(g)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt_ours.step()
        opt_theirs.step()
        if torch.isfinite(opt_theirs.state[theirs]["exp_avg_sq"]).all():
            assert not caught, [str(w.message) for w in caught]    # nothing overflowed on the way either
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(opt_ours.state[ours]["exp_avg_sq"].numpy(),
                                   opt_theirs.state[theirs]["exp_avg_sq"].numpy(), rtol=1e-6)
