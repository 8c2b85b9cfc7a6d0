"""SGD, Adam and AdamW updating every parameter at once from flat buffers (PyTorch's foreach / fused).

The per-parameter path (`foreach=False`) is the definition; the flat path must give the same
parameters and state, on the CPU (the same numpy code run over flat buffers, or for Adam and
AdamW one compiled loop, backends/cpu_optimizer.py: equal to the last bit either way) and on the simulated "cuda" device (one kernel launch of kernels/optimizer.py), over
several steps of a training loop with the awkward parts in it: a parameter without a gradient
in a step, zero_grad both ways, gradients accumulated over two backwards, weight decay, two
parameter groups with different learning rates, a state dict saved and loaded mid-training,
and the in-place rules (a parameter the optimizer changes moves its version on). PyTorch's
optimizers (foreach=False) are the oracle for the update rule itself.
"""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.kernels.launch import LAUNCHES
from tinygrad_edu.optim import optimizer as optimizer_module

from student_copy import module_as_in_a_student_copy

pytestmark = pytest.mark.optim

try:
    import torch
except ImportError:  # torch is only a cross-check, never a dependency
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed; the cross-check is skipped")

SHAPES = [(4, 3), (4,), (2, 4), (2,), (3, 2, 2), ()]       # six parameters, one of them 0-d
STEPS = 6
OURS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}
CONFIGS = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=0.05)),
    ("adam", dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    ("adamw", dict(lr=0.05, weight_decay=0.1)),
    ("adamw", dict(lr=0.05, betas=(0.8, 0.9), amsgrad=True)),
]
IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in options.items())}" for kind, options in CONFIGS]


@pytest.fixture
def runs(monkeypatch):
    """Counts the runs of parameters updated together from the flat buffers (the fused path)."""
    counter = {"runs": 0}
    original = optimizer_module._Bucket.run

    def counted(self, *args):
        counter["runs"] += 1
        return original(self, *args)
    monkeypatch.setattr(optimizer_module._Bucket, "run", counted)
    return counter


# ---- one training loop, written for tinygrad_edu and for torch alike ------------------------------------
def initial(dtype):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def coefficients(step, dtype):
    rng = np.random.default_rng(100 + step)
    return [(rng.standard_normal(shape).astype(dtype), rng.uniform(0.1, 1.0, shape).astype(dtype)) for shape in SHAPES]


def loss_of(lib, params, step, dtype, device=None, skip=()):
    """sum over parameters of sum(a * p + b * p^2 * p): gradients that depend on p, so errors would compound."""
    total = None
    for i, (p, (a, b)) in enumerate(zip(params, coefficients(step, dtype))):
        if i in skip:
            continue
        on = {} if device is None else {"device": device}
        a, b = lib.tensor(a, **on), lib.tensor(b, **on)
        term = (a * p + b * p * p * p).sum()
        total = term if total is None else total + term
    return total


def groups(params, lr):
    """Two parameter groups, the second with a smaller learning rate."""
    return [{"params": params[:3]}, {"params": params[3:], "lr": lr * 0.3}]


def schedule(step):
    """(parameters left out of the loss, zero_grad(set_to_none), backwards this step) for step 0, 1, ..."""
    skip = {2: (1,), 4: (0, 5)}.get(step, ())           # without a gradient in this step
    return skip, step % 2 == 0, 2 if step == 3 else 1    # step 3: gradients accumulated over two backwards


def train_ours(kind, options, dtype=np.float64, device="cpu", steps=STEPS, foreach=None, fused=None, params=None,
               opt=None, first_step=0, launches=None):
    """`launches`: a list that gets the number of our kernels each opt.step() launched."""
    params = params or [tg.tensor(a, requires_grad=True, device=device) for a in initial(dtype)]
    opt = opt or OURS[kind](groups(params, options["lr"]), **options, foreach=foreach, fused=fused)
    for step in range(first_step, first_step + steps):
        skip, set_to_none, backwards = schedule(step)
        opt.zero_grad(set_to_none=set_to_none)
        for _ in range(backwards):
            loss_of(tg, params, step, dtype, device, skip).backward()
        before = LAUNCHES.count
        opt.step()
        if launches is not None:
            launches.append(LAUNCHES.count - before)
    return params, opt


def train_torch(kind, options, dtype=np.float64, steps=STEPS):
    params = [torch.tensor(a, requires_grad=True) for a in initial(dtype)]
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    options = dict(options)
    if kind == "adamw":
        options.setdefault("weight_decay", 1e-2)
    opt = make(groups(params, options["lr"]), **options, foreach=False)
    for step in range(steps):
        skip, set_to_none, backwards = schedule(step)
        opt.zero_grad(set_to_none=set_to_none)
        for _ in range(backwards):
            loss_of(torch, params, step, dtype, skip=skip).backward()
        opt.step()
    return params, opt


def values(params):
    return [p.detach().numpy() if torch is not None and isinstance(p, torch.Tensor) else p.numpy() for p in params]


def state_arrays(opt, params):
    out = []
    for p in params:
        for name, value in sorted(opt.state.get(p, {}).items()):
            out.append((name, value.numpy() if isinstance(value, tg.Tensor) else value))
    return out


def assert_states_equal(a, b, exact=True, rtol=0.0, atol=0.0):
    assert [n for n, _ in a] == [n for n, _ in b]
    for (name, x), (_, y) in zip(a, b):
        if isinstance(x, np.ndarray):
            if exact:
                np.testing.assert_array_equal(x, y, err_msg=name)
            else:
                np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name)
        else:
            assert x == y, name


# ---- the CPU: the same code over flat buffers, equal to the last bit ------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,options", CONFIGS, ids=IDS)
def test_flat_path_equals_the_per_parameter_path_on_the_cpu(kind, options, dtype, runs):
    single, single_opt = train_ours(kind, options, dtype, foreach=False)
    assert runs["runs"] == 0
    flat, flat_opt = train_ours(kind, options, dtype)
    assert runs["runs"] >= 2 * STEPS, "the flat path was not taken"     # two groups, every step
    for a, b in zip(values(single), values(flat)):
        np.testing.assert_array_equal(a, b)
        assert b.dtype == dtype
    assert_states_equal(state_arrays(single_opt, single), state_arrays(flat_opt, flat))
    assert single_opt.state_dict()["param_groups"] == flat_opt.state_dict()["param_groups"]


def test_adam_on_the_cpu_is_one_compiled_pass_per_run(monkeypatch):
    from tinygrad_edu.backends import cpu_optimizer
    passes = []
    compiled = cpu_optimizer._adam_loop
    monkeypatch.setattr(cpu_optimizer, "_adam_loop", lambda *a: passes.append(a[0].size) or compiled(*a))
    model, _ = train_ours("adamw", dict(lr=0.01, weight_decay=0.1), np.float32)
    assert len(passes) >= 2 * STEPS                      # every step, each group's run in one pass
    assert max(passes) > 1                               # a run: several parameters at once


def test_a_student_copy_runs_its_own_adam_update_on_the_cpu():
    module = module_as_in_a_student_copy("tinygrad_edu/backends/cpu_optimizer.py", "adam")
    p = np.ones(3, np.float32)
    assert module.adam_step(p, p, p.copy(), p.copy(), None, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                            weight_decay=0.0, step=1) is False
    np.testing.assert_array_equal(p, 1)                  # nothing was done: optim/adam.py's update runs instead


@pytest.mark.parametrize("fused,foreach", [(True, None), (None, True), (False, None)])
def test_foreach_and_fused_flags_take_the_flat_path(fused, foreach, runs):
    single, _ = train_ours("adam", dict(lr=0.05), foreach=False)
    flat, opt = train_ours("adam", dict(lr=0.05), foreach=foreach, fused=fused)
    assert runs["runs"] > 0 and (opt.foreach, opt.fused) == (foreach, fused)
    for a, b in zip(values(single), values(flat)):
        np.testing.assert_array_equal(a, b)


def test_fused_and_foreach_together_are_refused():
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        optim.Adam([tg.zeros(2, requires_grad=True)], foreach=True, fused=True)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,options", CONFIGS, ids=IDS)
def test_flat_path_matches_pytorch(kind, options, dtype):
    ours, opt = train_ours(kind, options, dtype)
    theirs, topt = train_torch(kind, options, dtype)
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 2e-6)
    for a, b in zip(values(ours), values(theirs)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    # the state, per parameter, as PyTorch keeps it
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for index, entry in sd["state"].items():
        tentry = tsd["state"][index]
        assert set(entry) == set(tentry)
        for name, value in entry.items():
            expected = tentry[name]
            if isinstance(value, tg.Tensor):
                np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=rtol, atol=atol, err_msg=name)
            else:
                assert value == float(expected), name


# ---- the simulated "cuda" device: one kernel launch per step ------------------------------------------
@pytest.mark.kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,options", CONFIGS, ids=IDS)
def test_fused_kernel_equals_the_per_parameter_path_on_cuda(kind, options, dtype, simulated_cuda):
    single, single_opt = train_ours(kind, options, dtype, device="cuda", foreach=False, steps=4)
    launches = []
    fused, fused_opt = train_ours(kind, options, dtype, device="cuda", steps=4, launches=launches)
    assert all(n >= 1 for n in launches), launches          # the kernel did every step
    assert all(p.device == "cuda" for p in fused)
    rtol, atol = (1e-13, 1e-15) if dtype == np.float64 else (1e-6, 1e-7)
    for a, b in zip(values(single), values(fused)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert_states_equal(state_arrays(single_opt, single), state_arrays(fused_opt, fused), exact=False, rtol=rtol,
                        atol=atol)
    assert all(v.device == "cuda" for p in fused for v in fused_opt.state.get(p, {}).values()
               if isinstance(v, tg.Tensor))


@needs_torch
@pytest.mark.kernels
@pytest.mark.parametrize("kind,options", [CONFIGS[2], CONFIGS[4], CONFIGS[6]], ids=[IDS[2], IDS[4], IDS[6]])
def test_fused_kernel_matches_pytorch(kind, options, simulated_cuda):
    ours, _ = train_ours(kind, options, np.float32, device="cuda", steps=4)
    theirs, _ = train_torch(kind, options, np.float32, steps=4)
    for a, b in zip(values(ours), values(theirs)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.kernels
@pytest.mark.parametrize("kind,options", [CONFIGS[1], CONFIGS[4], CONFIGS[6]], ids=[IDS[1], IDS[4], IDS[6]])
def test_a_step_of_every_parameter_is_at_most_two_launches(kind, options, simulated_cuda):
    model = tg.nn.Sequential(tg.nn.Linear(4, 5), tg.nn.Tanh(), tg.nn.Linear(5, 3), tg.nn.Tanh(), tg.nn.Linear(3, 2))
    model.to("cuda")
    params = list(model.parameters())
    assert len(params) >= 5
    opt = OURS[kind](params, **options)
    x = tg.randn(3, 4).to("cuda")
    launches = []
    for _ in range(3):
        opt.zero_grad()
        (model(x) ** 2).sum().backward()
        before = LAUNCHES.count
        opt.step()
        launches.append(LAUNCHES.count - before)
    assert max(launches) <= 2, launches        # one launch of kernels/optimizer.py for all of them
    assert launches == [1, 1, 1]


@pytest.mark.kernels
def test_foreach_true_on_cuda_uses_whole_buffer_array_operations(simulated_cuda, runs):
    launches = []
    ours, _ = train_ours("adam", dict(lr=0.05, amsgrad=True), device="cuda", foreach=True, steps=3, launches=launches)
    single, _ = train_ours("adam", dict(lr=0.05, amsgrad=True), device="cuda", foreach=False, steps=3,
                           launches=launches)
    assert launches == [0] * 6 and runs["runs"] >= 2     # the same array code, over the flat buffers
    for a, b in zip(values(single), values(ours)):
        np.testing.assert_array_equal(a, b)


# ---- what the flat buffers must not change ----------------------------------------------------------------
@pytest.mark.parametrize("kind,options", [CONFIGS[1], CONFIGS[4]], ids=[IDS[1], IDS[4]])
def test_state_dict_round_trip_mid_training(kind, options):
    params, opt = train_ours(kind, options, steps=3)
    sd = opt.state_dict()
    single, single_opt = train_ours(kind, options, steps=3, foreach=False)
    assert opt.state_dict()["param_groups"] == single_opt.state_dict()["param_groups"]
    for (i, entry), (j, other) in zip(sorted(sd["state"].items()), sorted(single_opt.state_dict()["state"].items())):
        assert i == j and list(entry) == list(other)
        for name in entry:
            if isinstance(entry[name], tg.Tensor):
                assert entry[name].shape == params[i].shape
                np.testing.assert_array_equal(entry[name].numpy(), other[name].numpy())
            else:
                assert entry[name] == other[name]
    # load it into a fresh flat optimizer and into a per-parameter one, over copies of the parameters
    loaded = []
    for foreach in (None, False):
        copies = [tg.tensor(p.numpy().copy(), requires_grad=True) for p in params]
        fresh = OURS[kind](groups(copies, 0.123), lr=0.123, foreach=foreach)
        fresh.load_state_dict(sd)
        loaded.append(train_ours(kind, options, params=copies, opt=fresh, steps=3, first_step=3)[0])
    train_ours(kind, options, params=params, opt=opt, steps=3, first_step=3)
    train_ours(kind, options, params=single, opt=single_opt, steps=3, first_step=3)
    for values_ in [loaded[0], loaded[1], single]:
        for a, b in zip(values(params), values(values_)):
            np.testing.assert_array_equal(a, b)
    # the saved dict is a snapshot: later steps did not change it
    key = "momentum_buffer" if kind == "sgd" else "exp_avg"
    assert not np.array_equal(sd["state"][0][key].numpy(), opt.state[params[0]][key].numpy())


def test_a_parameter_the_step_changes_moves_its_version_on_and_old_graphs_refuse():
    params, opt = train_ours("adam", dict(lr=0.05), steps=2)
    loss = loss_of(tg, params, 7, np.float64, skip=(4,))        # saves the parameters' values for backward
    loss.backward(retain_graph=True)
    versions = [p._version for p in params]
    opt.step()
    assert [p._version > v for p, v in zip(params, versions)] == [True, True, True, True, True, True]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    # a parameter without a gradient in a step is not changed, and keeps its version
    opt.zero_grad()
    loss_of(tg, params, 8, np.float64, skip=(2,)).backward()
    before = params[2].numpy().copy(), params[2]._version
    opt.step()
    np.testing.assert_array_equal(params[2].numpy(), before[0])
    assert params[2]._version == before[1]


def test_weights_updated_in_place_under_no_grad_still_reach_the_flat_buffer():
    params, opt = train_ours("sgd", dict(lr=0.1, momentum=0.9), steps=2)
    single, single_opt = train_ours("sgd", dict(lr=0.1, momentum=0.9), steps=2, foreach=False)
    for ps in (params, single):
        with tg.no_grad():
            ps[0] -= 0.5                       # in place: the parameter's memory, i.e. its stretch of the buffer
        ps[3].data.mul_(2.0)
    train_ours("sgd", dict(lr=0.1, momentum=0.9), params=params, opt=opt, steps=3, first_step=2)
    train_ours("sgd", dict(lr=0.1, momentum=0.9), params=single, opt=single_opt, steps=3, first_step=2)
    for a, b in zip(values(params), values(single)):
        np.testing.assert_array_equal(a, b)


def test_a_gradient_the_user_keeps_is_never_overwritten(runs):
    params, opt = train_ours("adam", dict(lr=0.05), steps=2)
    kept = params[0].grad
    kept_values = kept.numpy().copy()
    kept_view = params[1].grad.numpy().reshape(-1)            # a view of the flat gradients
    view_values = kept_view.copy()
    runs["runs"] = 0
    train_ours("adam", dict(lr=0.05), params=params, opt=opt, steps=2, first_step=2)
    np.testing.assert_array_equal(kept.numpy(), kept_values)
    np.testing.assert_array_equal(kept_view, view_values)
    assert params[0].grad is not kept
    # the update is right all the same
    single, single_opt = train_ours("adam", dict(lr=0.05), steps=4, foreach=False)
    for a, b in zip(values(params), values(single)):
        np.testing.assert_array_equal(a, b)
    del kept, kept_view                                        # once let go, the flat path comes back
    runs["runs"] = 0
    train_ours("adam", dict(lr=0.05), params=params, opt=opt, steps=2, first_step=4)
    assert runs["runs"] >= 2


def test_user_assigned_and_clipped_gradients_take_the_per_parameter_path(runs):
    params, opt = train_ours("adam", dict(lr=0.05), steps=2)
    single, single_opt = train_ours("adam", dict(lr=0.05), steps=2, foreach=False)
    rng = np.random.default_rng(3)
    for step in range(2):
        grads = [rng.standard_normal(s) for s in SHAPES]
        for ps, o in ((params, opt), (single, single_opt)):
            o.zero_grad()
            loss_of(tg, ps, 10 + step, np.float64).backward()
            ps[2].grad = tg.tensor(grads[2])                  # replaced by the user
            tg.nn.utils.clip_grad_norm_(ps[3:], max_norm=0.1)  # replaced by scaled copies
            o.step()
    for a, b in zip(values(params), values(single)):
        np.testing.assert_array_equal(a, b)


def test_replacing_a_parameters_array_after_the_first_step(runs):
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 2))
    twin = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 2))
    twin.load_state_dict(model.state_dict())
    x = tg.randn(5, 3)
    opts = [optim.Adam(model.parameters(), lr=0.1), optim.Adam(twin.parameters(), lr=0.1, foreach=False)]
    for step in range(6):
        if step == 2:
            for m in (model, twin):
                m[0].weight.data = m[0].weight.detach() * 0.5   # a new array: the flat buffer is built again
        for m, o in zip((model, twin), opts):
            o.zero_grad()
            (m(x) ** 2).sum().backward()
            o.step()
    assert runs["runs"] >= 3
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_two_optimizers_over_the_same_parameters():
    params = [tg.tensor(a, requires_grad=True) for a in initial(np.float64)]
    single = [tg.tensor(a, requires_grad=True) for a in initial(np.float64)]
    first, second = optim.SGD(params, lr=0.1, momentum=0.5), optim.Adam(params, lr=0.01)
    first_s, second_s = optim.SGD(single, lr=0.1, momentum=0.5, foreach=False), optim.Adam(single, lr=0.01,
                                                                                           foreach=False)
    for step in range(4):
        for ps, o in ((params, first), (params, second), (single, first_s), (single, second_s)):
            o.zero_grad()
            loss_of(tg, ps, step, np.float64).backward()
            o.step()
    for a, b in zip(values(params), values(single)):
        np.testing.assert_array_equal(a, b)


def test_a_parameter_whose_memory_is_held_is_not_moved_until_it_is_let_go(runs):
    params = [tg.tensor(a, requires_grad=True) for a in initial(np.float64)]
    held = params[1].numpy()                                    # shares the parameter's memory (on the CPU)
    graph = (params[4] * params[4]).sum()                       # a graph that saved the parameter's values
    opt = optim.Adam(params, lr=0.05)
    single = [tg.tensor(a, requires_grad=True) for a in initial(np.float64)]
    single_opt = optim.Adam(single, lr=0.05, foreach=False)
    assert id(params[1]) not in opt._places and id(params[4]) not in opt._places and id(params[0]) in opt._places
    for step in range(2):
        for ps, o in ((params, opt), (single, single_opt)):
            o.zero_grad()
            loss_of(tg, ps, step, np.float64).backward()
            o.step()
    np.testing.assert_array_equal(held, params[1].numpy())     # still the parameter's memory: it follows it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        graph.backward()                                        # and old graphs still see the step
    del held, graph
    for step in range(2, 5):
        for ps, o in ((params, opt), (single, single_opt)):
            o.zero_grad()
            loss_of(tg, ps, step, np.float64).backward()
            o.step()
    assert id(params[1]) in opt._places and id(params[4]) in opt._places    # moved in once let go
    assert runs["runs"] >= 5
    for a, b in zip(values(params), values(single)):
        np.testing.assert_array_equal(a, b)


def test_inside_plain_the_cpu_adam_runs_the_numpy_update(monkeypatch):
    from tinygrad_edu.backends import cpu_optimizer, fast_path_switch
    passes = []
    compiled = cpu_optimizer._adam_loop
    monkeypatch.setattr(cpu_optimizer, "_adam_loop", lambda *a: passes.append(1) or compiled(*a))
    with fast_path_switch.plain():
        plain, _ = train_ours("adam", dict(lr=0.05), np.float32)
    assert passes == []
    fast, _ = train_ours("adam", dict(lr=0.05), np.float32)
    assert passes
    for a, b in zip(values(plain), values(fast)):
        np.testing.assert_array_equal(a, b)              # the compiled pass is the numpy update, to the last bit


@pytest.mark.parametrize("options", [dict(lr=0.1), dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                                     dict(lr=0.1, momentum=0.5, dampening=0.3)])
def test_sgd_on_the_cpu_is_one_compiled_pass_per_run_equal_to_the_numpy_update(options, monkeypatch):
    from tinygrad_edu.backends import cpu_optimizer, fast_path_switch
    passes = []
    compiled = cpu_optimizer._sgd_loop
    monkeypatch.setattr(cpu_optimizer, "_sgd_loop", lambda *a: passes.append(a[0].size) or compiled(*a))
    with fast_path_switch.plain():
        plain, plain_opt = train_ours("sgd", options, np.float32)
    assert passes == []
    fast, fast_opt = train_ours("sgd", options, np.float32)
    assert len(passes) >= 2 * STEPS and max(passes) > 1
    for a, b in zip(values(plain), values(fast)):
        np.testing.assert_array_equal(a, b)
    assert_states_equal(state_arrays(plain_opt, plain), state_arrays(fast_opt, fast))
