"""tg.optim (SGD, Adam, AdamW, schedulers) and tg.nn.utils.clip_grad_norm_.

Each optimizer is checked against a plain numpy transcription of PyTorch's documented
update rule, over several steps, with hypothesis-drawn hyperparameters and shapes; when
torch is installed, also against torch.optim itself.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.nn.utils import clip_grad_norm_
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, StepLR

pytestmark = pytest.mark.optim

try:
    import torch
except ImportError:  # torch is only a cross-check, never a dependency
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed; the cross-check against "
                                                       "torch.optim is skipped")

RTOL, ATOL = 1e-10, 1e-12     # float64 throughout: only rounding differences are allowed

# ---- strategies ------------------------------------------------------------------------------
shape_lists = st.lists(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4), min_size=1, max_size=3)
seeds = st.integers(0, 2 ** 32 - 1)
lrs = st.floats(1e-4, 1.0)
weight_decays = st.one_of(st.just(0.0), st.floats(1e-4, 0.5))


@st.composite
def sgd_options(draw):
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.05, 0.99)) if nesterov else draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99)))
    dampening = 0.0 if nesterov else draw(st.one_of(st.just(0.0), st.floats(0.0, 0.9)))
    return dict(lr=draw(lrs), momentum=momentum, dampening=dampening, weight_decay=draw(weight_decays),
                nesterov=nesterov)


@st.composite
def adam_options(draw):
    return dict(lr=draw(lrs), betas=(draw(st.floats(0.0, 0.99)), draw(st.floats(0.0, 0.9999))),
                eps=draw(st.floats(1e-10, 1e-2)), weight_decay=draw(weight_decays), amsgrad=draw(st.booleans()))


# ---- numpy transcriptions of PyTorch's update rules ------------------------------------------
class RefSGD:
    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.p = [x.copy() for x in params]
        self.o = dict(lr=lr, momentum=momentum, dampening=dampening, wd=weight_decay, nesterov=nesterov)
        self.buf = [None] * len(params)

    def step(self, grads):
        o = self.o
        for i, g in enumerate(grads):
            d = g + o["wd"] * self.p[i] if o["wd"] else g
            if o["momentum"]:
                if self.buf[i] is None:
                    self.buf[i] = d.copy()
                else:
                    self.buf[i] = o["momentum"] * self.buf[i] + (1 - o["dampening"]) * d
                d = d + o["momentum"] * self.buf[i] if o["nesterov"] else self.buf[i]
            self.p[i] = self.p[i] - o["lr"] * d


class RefAdam:
    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
        self.p = [x.copy() for x in params]
        self.o = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, amsgrad=amsgrad, dec=decoupled)
        self.m = [np.zeros_like(x) for x in params]
        self.v = [np.zeros_like(x) for x in params]
        self.vmax = [np.zeros_like(x) for x in params]
        self.t = 0

    def step(self, grads):
        o = self.o
        self.t += 1
        for i, g in enumerate(grads):
            if o["wd"] and o["dec"]:
                self.p[i] = self.p[i] * (1 - o["lr"] * o["wd"])
            elif o["wd"]:
                g = g + o["wd"] * self.p[i]
            self.m[i] = o["b1"] * self.m[i] + (1 - o["b1"]) * g
            self.v[i] = o["b2"] * self.v[i] + (1 - o["b2"]) * g * g
            v = self.v[i]
            if o["amsgrad"]:
                self.vmax[i] = np.maximum(self.vmax[i], v)
                v = self.vmax[i]
            m_hat = self.m[i] / (1 - o["b1"] ** self.t)
            denom = np.sqrt(v) / math.sqrt(1 - o["b2"] ** self.t) + o["eps"]
            self.p[i] = self.p[i] - o["lr"] * m_hat / denom


def reference(kind, params, options):
    if kind == "sgd":
        return RefSGD(params, **options)
    if kind == "adamw":
        return RefAdam(params, decoupled=True, **{"weight_decay": 1e-2, **options})   # AdamW's default decay
    return RefAdam(params, **options)


OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}


# ---- helpers ---------------------------------------------------------------------------------
def make_params(arrays):
    return [tg.Tensor(a, requires_grad=True) for a in arrays]


def random_arrays(rng, shapes):
    return [np.asarray(rng.standard_normal(s), dtype=np.float64) for s in shapes]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = tg.Tensor(g)


def run_against_reference(kind, options, shapes, seed, steps=5):
    """Step the optimizer and the reference side by side; check values, identity and untouched grads."""
    rng = np.random.default_rng(seed)
    init = random_arrays(rng, shapes)
    params = make_params(init)
    opt = OPTIMIZERS[kind](params, **options)
    ref = reference(kind, init, options)
    arrays = [p.array for p in params]
    for _ in range(steps):
        grads = random_arrays(rng, shapes)
        set_grads(params, grads)
        opt.step()
        ref.step(grads)
        for p, a, g, r in zip(params, arrays, grads, ref.p):
            assert p.array is a, "the update must be in place: a parameter keeps its array"
            np.testing.assert_array_equal(p.grad.array, g, err_msg="step() must not modify the gradient")
            np.testing.assert_allclose(p.array, r, rtol=RTOL, atol=ATOL)
    return opt, params


# ---- optimizers against the numpy reference --------------------------------------------------
@given(options=sgd_options(), shapes=shape_lists, seed=seeds)
def test_sgd_matches_reference(options, shapes, seed):
    opt, params = run_against_reference("sgd", options, shapes, seed)
    if options["momentum"]:
        assert all(opt.state[p]["momentum_buffer"].shape == p.shape for p in params)


@given(options=adam_options(), shapes=shape_lists, seed=seeds)
def test_adam_matches_reference(options, shapes, seed):
    opt, params = run_against_reference("adam", options, shapes, seed)
    assert all(opt.state[p]["step"] == 5 for p in params)


@given(options=adam_options(), shapes=shape_lists, seed=seeds)
def test_adamw_matches_reference(options, shapes, seed):
    run_against_reference("adamw", options, shapes, seed)


def test_adam_and_adamw_differ_only_by_weight_decay():
    rng = np.random.default_rng(0)
    init, grads = rng.standard_normal(5), rng.standard_normal(5)
    out = {}
    for cls, wd in [(optim.Adam, 0.0), (optim.AdamW, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1)]:
        (p,) = make_params([init])
        p.grad = tg.Tensor(grads)
        cls([p], lr=0.1, weight_decay=wd).step()
        out[cls.__name__, wd] = p.numpy().copy()
    np.testing.assert_array_equal(out["Adam", 0.0], out["AdamW", 0.0])
    assert not np.allclose(out["Adam", 0.1], out["AdamW", 0.1])
    # AdamW's decay is decoupled: the first step is the wd=0 step applied to the shrunk parameter
    np.testing.assert_allclose(out["AdamW", 0.1], out["AdamW", 0.0] - 0.1 * 0.1 * init, rtol=RTOL, atol=ATOL)


def test_adamw_default_weight_decay_is_pytorchs():
    (p,) = make_params([np.ones(2)])
    assert optim.AdamW([p]).param_groups[0]["weight_decay"] == 1e-2
    assert optim.Adam([p]).param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("kind,options", [("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                          ("adam", dict(lr=0.05, amsgrad=True)),
                                          ("adamw", dict(lr=0.05))])
def test_gradients_from_backward_and_float32(kind, options):
    """A real training loop (backward, step, zero_grad) in float32 follows the reference."""
    rng = np.random.default_rng(1)
    init = rng.standard_normal((3, 4)).astype(np.float32)
    target = rng.standard_normal((3, 4)).astype(np.float32)
    (w,) = make_params([init])
    opt = OPTIMIZERS[kind]([w], **options)
    ref = reference(kind, [init.astype(np.float64)], options)
    for _ in range(6):
        opt.zero_grad()
        ((w - tg.Tensor(target)) ** 2).sum().backward()
        opt.step()
        ref.step([2 * (ref.p[0] - target.astype(np.float64))])
        assert w.dtype == tg.float32 and w.array.dtype == np.float32
    assert all(s.array.dtype == np.float32 for s in opt.state[w].values() if isinstance(s, tg.Tensor))
    np.testing.assert_allclose(w.numpy(), ref.p[0], rtol=1e-4, atol=1e-5)


def test_parameters_without_grad_are_skipped():
    a, b = make_params([np.ones(3), np.ones(2)])
    a.grad = tg.Tensor(np.full(3, 2.0))
    opt = optim.Adam([a, b], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(b.numpy(), np.ones(2))
    assert b not in opt.state and opt.state[a]["step"] == 1
    assert not np.allclose(a.numpy(), 1.0)


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_shared_gradient_arrays_are_not_corrupted(kind):
    """Two parameters whose .grad share one array: each is updated as if it had its own copy."""
    options = dict(lr=0.1, weight_decay=0.1, **({"momentum": 0.9} if kind == "sgd" else {}))
    rng = np.random.default_rng(2)
    init = random_arrays(rng, [(4,), (4,)])
    a, b = make_params(init)
    ref = reference(kind, init, options)
    opt = OPTIMIZERS[kind]([a, b], **options)
    for _ in range(3):
        g = rng.standard_normal(4)
        a.grad = tg.Tensor(g)
        b.grad = a.grad.detach()            # the same array
        assert b.grad.array is a.grad.array
        opt.step()
        ref.step([g, g])
        np.testing.assert_array_equal(a.grad.numpy(), g)
    np.testing.assert_allclose(a.numpy(), ref.p[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b.numpy(), ref.p[1], rtol=RTOL, atol=ATOL)


def test_closure_is_called_and_its_loss_returned():
    (w,) = make_params([np.array([3.0])])
    opt = optim.SGD([w], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(loss.item())
        return loss

    loss = opt.step(closure)
    assert calls == [9.0] and loss.item() == 9.0
    np.testing.assert_allclose(w.numpy(), [3.0 - 0.25 * 6.0])


# ---- parameter groups ------------------------------------------------------------------------
@given(lr1=lrs, lr2=lrs, seed=seeds)
def test_param_groups_use_their_own_options(lr1, lr2, seed):
    rng = np.random.default_rng(seed)
    init = random_arrays(rng, [(3,), (2, 2), (4,)])
    a, b, c = make_params(init)
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": lr2, "momentum": 0.5}], lr=lr1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [lr1, lr2]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    assert opt.param_groups[1]["weight_decay"] == 0.0          # a default fills what a group leaves out
    ref1 = RefSGD(init[:2], lr=lr1, momentum=0.9)
    ref2 = RefSGD(init[2:], lr=lr2, momentum=0.5)
    for _ in range(4):
        grads = random_arrays(rng, [(3,), (2, 2), (4,)])
        set_grads([a, b, c], grads)
        opt.step()
        ref1.step(grads[:2])
        ref2.step(grads[2:])
    for p, r in zip([a, b, c], ref1.p + ref2.p):
        np.testing.assert_allclose(p.numpy(), r, rtol=RTOL, atol=ATOL)


def test_add_param_group():
    a, b = make_params([np.ones(2), np.ones(3)])
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


# ---- zero_grad -------------------------------------------------------------------------------
def test_zero_grad_sets_to_none_by_default():
    a, b = make_params([np.ones(3), np.ones(2)])
    a.grad = tg.Tensor(np.ones(3))
    opt = optim.SGD([a, b], lr=0.1)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_set_to_none_false_gives_fresh_zeros():
    a, b = make_params([np.ones(3), np.ones(2)])
    shared = np.arange(3.0)
    a.grad = tg.Tensor(shared)
    user_array, grad_tensor = a.grad.array, a.grad
    optim.SGD([a, b], lr=0.1).zero_grad(set_to_none=False)
    assert a.grad is grad_tensor
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros(3))
    assert a.grad.shape == (3,) and a.grad.array.dtype == a.array.dtype
    np.testing.assert_array_equal(user_array, np.arange(3.0))   # the old array is not zeroed in place
    assert b.grad is None


def test_zero_grad_then_backward_accumulates_from_zero():
    (w,) = make_params([np.array([1.0, 2.0])])
    opt = optim.SGD([w], lr=0.1)
    for set_to_none in (True, False):
        (w * w).sum().backward()
        (w * w).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 4 * w.numpy())
        opt.zero_grad(set_to_none=set_to_none)
        (w * w).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy())
        opt.zero_grad()


# ---- state_dict ------------------------------------------------------------------------------
@given(kind=st.sampled_from(["sgd", "adam", "adamw"]), sgd=sgd_options(), adam=adam_options(),
       shapes=shape_lists, seed=seeds, before=st.integers(0, 3))
def test_state_dict_round_trip_continues_exactly(kind, sgd, adam, shapes, seed, before):
    options = sgd if kind == "sgd" else adam
    rng = np.random.default_rng(seed)
    init = random_arrays(rng, shapes)
    params = make_params(init)
    opt = OPTIMIZERS[kind](params, **options)
    for _ in range(before):
        set_grads(params, random_arrays(rng, shapes))
        opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == list(range(len(shapes)))
    assert {k for k in sd["param_groups"][0] if k != "params"} == set(options)
    for values in sd["state"].values():
        assert all(isinstance(v, (tg.Tensor, int, float)) for v in values.values())

    clones = make_params([p.numpy().copy() for p in params])
    fresh = OPTIMIZERS[kind](clones, lr=0.123)          # different options: loading must restore them
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == options["lr"]
    for _ in range(3):
        grads = random_arrays(rng, shapes)
        set_grads(params, grads)
        set_grads(clones, grads)
        opt.step()
        fresh.step()
        for p, q in zip(params, clones):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
    # the state dict is a snapshot: later steps of either optimizer did not change it
    if before and (kind != "sgd" or options["momentum"]):
        key = "momentum_buffer" if kind == "sgd" else "exp_avg"
        assert sd["state"][0][key] is not opt.state[params[0]][key]
        assert sd["state"][0][key] is not fresh.state[clones[0]][key]
        assert not np.array_equal(sd["state"][0][key].numpy(), opt.state[params[0]][key].numpy())


def test_load_state_dict_accepts_arrays_and_casts_to_the_parameter():
    """Buffers that come back from a file as numpy arrays (and a 0-d step) load as Tensors of p's dtype."""
    (p,) = make_params([np.ones(3, dtype=np.float32)])
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.Tensor(np.ones(3, dtype=np.float32))
    opt.step()
    sd = opt.state_dict()
    raw = {"state": {"0": {k: (v.numpy().astype(np.float64) if isinstance(v, tg.Tensor) else np.array(v))
                           for k, v in sd["state"][0].items()}},
           "param_groups": sd["param_groups"]}
    (q,) = make_params([p.numpy().copy()])
    other = optim.Adam([q])
    other.load_state_dict(raw)
    assert other.state[q]["step"] == 1 and isinstance(other.state[q]["step"], int)
    assert other.state[q]["exp_avg"].array.dtype == np.float32
    p.grad, q.grad = tg.Tensor(np.full(3, 0.5, np.float32)), tg.Tensor(np.full(3, 0.5, np.float32))
    opt.step()
    other.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_rejects_a_mismatched_layout():
    a, b = make_params([np.ones(2), np.ones(2)])
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="2 in the state dict"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)


# ---- construction errors ---------------------------------------------------------------------
def _param():
    return tg.Tensor(np.ones(2), requires_grad=True)


@pytest.mark.parametrize("make,error,match", [
    (lambda: optim.SGD([_param()], lr=-0.1), ValueError, "learning rate"),
    (lambda: optim.Adam([_param()], lr=-1e-3), ValueError, "learning rate"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (lambda: optim.SGD([_param()], lr=0.1, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: optim.SGD([_param()], lr=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda: optim.Adam([_param()], betas=(1.0, 0.999)), ValueError, "beta1"),
    (lambda: optim.Adam([_param()], betas=(0.9, -0.1)), ValueError, "beta2"),
    (lambda: optim.AdamW([_param()], betas=(0.9, 1.5)), ValueError, "beta2"),
    (lambda: optim.Adam([_param()], eps=-1e-8), ValueError, "eps"),
    (lambda: optim.Adam([{"params": [_param()], "betas": (0.9, 1.0)}]), ValueError, "beta2"),
    (lambda: optim.SGD([{"params": [_param()], "lr": -1.0}], lr=0.1), ValueError, "learning rate"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty"),
    (lambda: optim.SGD(iter([]), lr=0.1), ValueError, "empty"),
    (lambda: optim.SGD(_param(), lr=0.1), TypeError, "single Tensor"),
    (lambda: optim.SGD({"params": [_param()]}, lr=0.1), TypeError, "single parameter group"),
    (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, "only optimize Tensors"),
    (lambda: optim.SGD([_param() * 2], lr=0.1), ValueError, "non-leaf"),
    (lambda: optim.SGD([tg.Tensor(np.ones(2))], lr=0.1), ValueError, "does not require grad"),
    (lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "'params'"),
    (lambda: (lambda p: optim.SGD([p, p], lr=0.1))(_param()), ValueError, "more than once"),
    (lambda: (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1))(_param()), ValueError,
     "more than one parameter group"),
])
def test_construction_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_gradient_of_the_wrong_shape_is_reported():
    (p,) = make_params([np.ones(3)])
    p.grad = tg.Tensor(np.ones(2))
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*gradient of shape \(2,\)"):
        optim.SGD([p], lr=0.1).step()


def test_valid_edge_options_are_accepted():
    optim.SGD([_param()], lr=0.0, momentum=0.9, nesterov=True)
    optim.Adam([_param()], lr=0.0, betas=(0.0, 0.0), eps=0.0)


# ---- learning-rate schedulers ----------------------------------------------------------------
def _optimizer_with_lrs(base_lrs):
    return optim.SGD([{"params": [_param()], "lr": lr} for lr in base_lrs], lr=1.0)


@given(base_lrs=st.lists(lrs, min_size=1, max_size=3), step_size=st.integers(1, 7), gamma=st.floats(0.05, 1.0),
       epochs=st.integers(1, 30))
def test_steplr_follows_the_closed_form(base_lrs, step_size, gamma, epochs):
    opt = _optimizer_with_lrs(base_lrs)
    sched = StepLR(opt, step_size=step_size, gamma=gamma)
    assert [g["initial_lr"] for g in opt.param_groups] == base_lrs
    for epoch in range(epochs + 1):
        expected = [lr * gamma ** (epoch // step_size) for lr in base_lrs]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-12)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        sched.step()
    assert sched.last_epoch == epochs + 1


@given(base_lrs=st.lists(lrs, min_size=1, max_size=3), t_max=st.integers(1, 12), eta_min=st.floats(0.0, 1e-4),
       epochs=st.integers(1, 30))
def test_cosine_annealing_follows_the_closed_form(base_lrs, t_max, eta_min, epochs):
    opt = _optimizer_with_lrs(base_lrs)
    sched = CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    for epoch in range(epochs + 1):
        expected = [eta_min + (lr - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2 for lr in base_lrs]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-12, atol=1e-15)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()
        if epoch == t_max:
            np.testing.assert_allclose(sched.get_last_lr(), [eta_min] * len(base_lrs), atol=1e-15)
        sched.step()


def test_scheduled_lr_is_used_by_the_optimizer():
    (w,) = make_params([np.zeros(1)])
    opt = optim.SGD([w], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    moves = []
    for _ in range(5):
        w.grad = tg.Tensor(np.ones(1))
        before = w.item()
        opt.step()
        moves.append(before - w.item())
        sched.step()
    np.testing.assert_allclose(moves, [1.0, 1.0, 0.5, 0.5, 0.25])


@pytest.mark.parametrize("make", [lambda o: StepLR(o, step_size=3, gamma=0.3),
                                  lambda o: CosineAnnealingLR(o, T_max=7, eta_min=0.01)])
def test_scheduler_state_dict_round_trip(make):
    opt = _optimizer_with_lrs([0.5, 0.1])
    sched = make(opt)
    for _ in range(4):
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt2 = optim.SGD([{"params": [_param()], "lr": 0.9}, {"params": [_param()], "lr": 0.9}], lr=1.0)
    opt2.load_state_dict(opt.state_dict())
    sched2 = make(opt2)
    sched2.load_state_dict(sd)
    for _ in range(6):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_scheduler_errors():
    opt = _optimizer_with_lrs([0.1])
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="Optimizer"):
        StepLR([_param()], step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(_optimizer_with_lrs([0.1]), step_size=1, last_epoch=3)


# ---- clip_grad_norm_ -------------------------------------------------------------------------
def _total_norm(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    if norm_type == math.inf:
        return np.abs(flat).max()
    return (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)


@given(shapes=shape_lists, seed=seeds, norm_type=st.sampled_from([1.0, 2.0, 3.5, math.inf]),
       max_norm=st.floats(1e-3, 10.0))
def test_clip_grad_norm(shapes, seed, norm_type, max_norm):
    rng = np.random.default_rng(seed)
    params = make_params(random_arrays(rng, shapes))
    grads = [g * rng.uniform(0.1, 3.0) for g in random_arrays(rng, shapes)]
    set_grads(params, grads)
    arrays = [p.grad.array for p in params]
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    expected = _total_norm(grads, norm_type)
    assert isinstance(total, tg.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), expected, rtol=1e-12)
    coef = max_norm / (expected + 1e-6)
    for p, g, a in zip(params, grads, arrays):
        if coef >= 1.0:
            np.testing.assert_array_equal(p.grad.numpy(), g)     # under max_norm: nothing changes
        else:
            np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
        assert p.grad.array is a                                  # scaled in place, as PyTorch's mul_
    if coef < 1.0:
        np.testing.assert_allclose(_total_norm([p.grad.numpy() for p in params], norm_type),
                                   max_norm * expected / (expected + 1e-6), rtol=1e-10)


def test_clip_grad_norm_edge_cases():
    a, b, c = make_params([np.ones(4), np.ones(3), np.ones(2)])
    a.grad = tg.Tensor(np.full(4, 3.0))                           # norm 6
    b.grad = a.grad.detach()[:3]                                  # shares a's memory
    total = clip_grad_norm_([a, b, c], max_norm=1.0)
    np.testing.assert_allclose(total.item(), math.sqrt(7 * 9.0))
    coef = 1.0 / (math.sqrt(63.0) + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), np.full(4, 3.0 * coef))   # each scaled exactly once
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, 3.0 * coef))
    assert c.grad is None                                         # no gradient: skipped
    # a single tensor; float32 stays float32
    (d,) = make_params([np.ones(2, dtype=np.float32)])
    d.grad = tg.Tensor(np.array([3.0, 4.0], dtype=np.float32))
    total = clip_grad_norm_(d, max_norm=2.5)
    assert total.dtype == tg.float32 and d.grad.array.dtype == np.float32
    np.testing.assert_allclose(total.item(), 5.0)
    np.testing.assert_allclose(d.grad.numpy(), [1.5, 2.0], rtol=1e-6)
    # no gradients at all
    assert clip_grad_norm_([c], 1.0).item() == 0.0
    # a non-finite norm
    d.grad = tg.Tensor(np.array([np.inf, 1.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="norm"):
        clip_grad_norm_([d], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([a], 1.0, norm_type=0)


def test_nn_exposes_utils():
    assert tg.nn.utils.clip_grad_norm_ is clip_grad_norm_


# ---- cross-checks against PyTorch ------------------------------------------------------------
TORCH_CASES = [
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd", dict(lr=0.2, momentum=0.5, dampening=0.3, weight_decay=0.1)),
    ("sgd", dict(lr=0.3)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adam", dict(lr=0.02, weight_decay=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01)),
    ("adamw", dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.3, amsgrad=True)),
]


@needs_torch
@pytest.mark.parametrize("kind,options", TORCH_CASES)
def test_matches_torch_optim(kind, options):
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (4,), ()]
    init = random_arrays(rng, shapes)
    params = make_params(init)
    tparams = [torch.tensor(a, requires_grad=True) for a in init]
    opt = OPTIMIZERS[kind](params, **options)
    topt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind](tparams, **options)
    for _ in range(5):
        grads = random_arrays(rng, shapes)
        set_grads(params, grads)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(4)
    grads = random_arrays(rng, [(5,), (2, 3)])
    params = make_params([np.zeros_like(g) for g in grads])
    set_grads(params, grads)
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.tensor(g)
    total = clip_grad_norm_(params, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


@needs_torch
def test_schedulers_match_torch():
    for make, tmake in [(lambda o: StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
                        (lambda o: CosineAnnealingLR(o, 5, 0.01),
                         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5, 0.01))]:
        sched = make(_optimizer_with_lrs([0.1, 0.3]))
        topt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.1, 0.3)])
        tsched = tmake(topt)
        for _ in range(12):
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-9)
            topt.step()
            sched.step()
            tsched.step()


# ---- the "cuda" device -----------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not tg.cuda.is_available(), reason=f"no CUDA device: {tg.cuda.unavailable_reason()}")
@pytest.mark.parametrize("kind,options", [("sgd", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
                                          ("adam", dict(lr=0.01, amsgrad=True)), ("adamw", dict(lr=0.01))])
def test_optimizers_on_cuda(kind, options):
    rng = np.random.default_rng(5)
    init = random_arrays(rng, [(3, 4), (4,)])
    params = [tg.Tensor(a, requires_grad=True, device="cuda") for a in init]
    opt = OPTIMIZERS[kind](params, **options)
    ref = reference(kind, init, options)
    for _ in range(3):
        grads = random_arrays(rng, [(3, 4), (4,)])
        for p, g in zip(params, grads):
            p.grad = tg.Tensor(g, device="cuda")
        opt.step()
        ref.step(grads)
    for p, r in zip(params, ref.p):
        assert p.device == "cuda"
        np.testing.assert_allclose(p.numpy(), r, rtol=1e-9, atol=1e-12)
        assert all(v.device == "cuda" for v in opt.state[p].values() if isinstance(v, tg.Tensor))
    before = [p.grad.numpy().copy() for p in params]
    total = clip_grad_norm_(params, 0.1)
    assert total.device == "cuda"
    expected = _total_norm(before, 2.0)
    np.testing.assert_allclose(total.item(), expected, rtol=1e-9)
    for p, g in zip(params, before):
        assert p.grad.device == "cuda"
        np.testing.assert_allclose(p.grad.numpy(), g * 0.1 / (expected + 1e-6), rtol=1e-9)


# ---- with a Module -----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05), lambda ps: optim.AdamW(ps, lr=0.05)])
def test_training_a_linear_model(make):
    """A full loop (zero_grad, backward, clip, step, scheduler) fits a noiseless linear map."""
    tg.manual_seed(0)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    true_w = rng.standard_normal((2, 3)).astype(np.float32)
    y = x @ true_w.T + 0.5
    model = tg.nn.Linear(3, 2)
    params = list(model.parameters())
    opt = make(params)
    sched = StepLR(opt, step_size=100, gamma=0.5)
    losses = []
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(tg.Tensor(x)) - tg.Tensor(y)) ** 2).mean()
        loss.backward()
        clip_grad_norm_(params, max_norm=5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert all(p.array.dtype == np.float32 for p in params)
    assert losses[-1] < 1e-2 * losses[0], (losses[0], losses[-1])
    np.testing.assert_allclose(opt.param_groups[0]["lr"], 0.05 * 0.5 ** 3)
