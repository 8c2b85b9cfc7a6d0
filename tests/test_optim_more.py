"""tg.optim: RMSprop, Adagrad, Adadelta, LBFGS and the schedulers ExponentialLR, LambdaLR,
ReduceLROnPlateau and OneCycleLR, each against torch.optim on the same float64 values.

Optimizers get the same gradients as torch.optim and must leave the same parameters after
every step (and the same state, under PyTorch's names). LBFGS runs on its own closures, on a
quadratic and on the Rosenbrock function, with and without the strong-Wolfe line search.
Schedulers must give the same lr (and momentum) sequences.
"""
import itertools
import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import optim
from tinygrad_edu.optim.lr_scheduler import ExponentialLR, LambdaLR, OneCycleLR, ReduceLROnPlateau

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.optim

RTOL, ATOL = 1e-10, 1e-12     # float64 throughout: only rounding differences are allowed
SHAPES = [(3, 4), (4,), ()]


def random_arrays(rng, shapes=SHAPES):
    return [rng.standard_normal(s) for s in shapes]


def twin_params(init):
    """The same starting values as tinygrad_edu parameters and as torch parameters."""
    return ([tg.Tensor(a.copy(), requires_grad=True) for a in init],
            [torch.tensor(a.copy(), requires_grad=True) for a in init])


def set_twin_grads(params, tparams, grads):
    for p, tp, g in zip(params, tparams, grads):
        p.grad = tg.Tensor(g.copy())
        tp.grad = torch.tensor(g.copy())


def assert_same_params(params, tparams, rtol=RTOL, atol=ATOL):
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=rtol, atol=atol)


def assert_same_state(opt, topt, params, tparams):
    """The same state entries, under PyTorch's names, with the same values."""
    for p, tp in zip(params, tparams):
        ours, theirs = opt.state.get(p, {}), topt.state.get(tp, {})
        assert set(ours) == set(theirs)
        for key, value in theirs.items():
            if key == "step":
                assert ours[key] == int(value.item())
            else:
                np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=RTOL, atol=ATOL)


# ---- the update rules, option by option ------------------------------------------------------
RMSPROP_CASES = [{}] + [
    dict(lr=0.01, alpha=alpha, eps=eps, centered=centered, momentum=momentum, weight_decay=weight_decay)
    for (centered, momentum, weight_decay), (alpha, eps) in zip(
        itertools.product([False, True], [0.0, 0.9], [0.0, 0.1]),
        itertools.cycle([(0.99, 1e-8), (0.9, 1e-3), (0.5, 1e-6)]))
]
ADAGRAD_CASES = [{}] + [
    dict(lr=0.1, lr_decay=lr_decay, weight_decay=weight_decay, initial_accumulator_value=initial, eps=eps)
    for (lr_decay, weight_decay, initial), eps in zip(itertools.product([0.0, 0.05], [0.0, 0.1], [0.0, 0.3]),
                                                       itertools.cycle([1e-10, 1e-3]))
]
ADADELTA_CASES = [{}] + [
    dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    for (rho, weight_decay), (lr, eps) in zip(itertools.product([0.9, 0.5, 0.0, 1.0], [0.0, 0.1]),
                                              itertools.cycle([(1.0, 1e-6), (0.3, 1e-3)]))
]
OPTIMIZER_CASES = ([("RMSprop", o) for o in RMSPROP_CASES] + [("Adagrad", o) for o in ADAGRAD_CASES]
                   + [("Adadelta", o) for o in ADADELTA_CASES])


@pytest.mark.parametrize("name,options", OPTIMIZER_CASES)
def test_update_rule_matches_torch(name, options):
    rng = np.random.default_rng(0)
    params, tparams = twin_params(random_arrays(rng))
    opt, topt = getattr(optim, name)(params, **options), getattr(torch.optim, name)(tparams, **options)
    for _ in range(6):
        set_twin_grads(params, tparams, random_arrays(rng))
        opt.step()
        topt.step()
        assert_same_params(params, tparams)
    assert_same_state(opt, topt, params, tparams)


@pytest.mark.parametrize("name,options", [("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
                                          ("RMSprop", dict(lr=0.003)),
                                          ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
                                          ("Adadelta", dict(lr=1.0, weight_decay=0.01))])
def test_training_a_small_model_matches_torch(name, options):
    """zero_grad, forward, backward and step on a two-layer tanh network, in both libraries, in float64."""
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    model = tg.nn.Sequential(tg.nn.Linear(3, 8), tg.nn.Tanh(), tg.nn.Linear(8, 2)).double()
    for p, tp in zip(model.parameters(), tmodel.parameters()):
        p.array[...] = tp.detach().numpy()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    params, tparams = list(model.parameters()), list(tmodel.parameters())
    opt, topt = getattr(optim, name)(params, **options), getattr(torch.optim, name)(tparams, **options)
    for _ in range(20):
        opt.zero_grad()
        topt.zero_grad()
        tg.nn.functional.mse_loss(model(tg.Tensor(x)), tg.Tensor(y)).backward()
        torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(y)).backward()
        opt.step()
        topt.step()
        assert_same_params(params, tparams, rtol=1e-9)


@pytest.mark.parametrize("name,groups", [
    ("RMSprop", [dict(centered=True, momentum=0.9), dict(lr=0.05, alpha=0.9, weight_decay=0.1)]),
    ("Adagrad", [dict(lr_decay=0.1), dict(lr=0.2, weight_decay=0.1, eps=1e-4)]),
    ("Adadelta", [dict(rho=0.5), dict(lr=0.5, weight_decay=0.1)]),
])
def test_param_groups_use_their_own_options(name, groups):
    rng = np.random.default_rng(2)
    params, tparams = twin_params(random_arrays(rng))
    opt = getattr(optim, name)([dict(params=params[:2], **groups[0]), dict(params=params[2:], **groups[1])], lr=0.02)
    topt = getattr(torch.optim, name)([dict(params=tparams[:2], **groups[0]), dict(params=tparams[2:], **groups[1])],
                                      lr=0.02)
    for _ in range(4):
        set_twin_grads(params, tparams, random_arrays(rng))
        opt.step()
        topt.step()
        assert_same_params(params, tparams)


def test_parameters_without_grad_are_skipped():
    rng = np.random.default_rng(3)
    for name in ("RMSprop", "Adagrad", "Adadelta"):
        params, tparams = twin_params(random_arrays(rng))
        opt, topt = getattr(optim, name)(params), getattr(torch.optim, name)(tparams)
        grads = random_arrays(rng)
        set_twin_grads(params[:2], tparams[:2], grads[:2])
        opt.step()
        topt.step()
        assert_same_params(params, tparams)
        assert_same_state(opt, topt, params, tparams)


def test_shared_gradient_arrays_are_not_written_to():
    for name, options in [("RMSprop", dict(centered=True, momentum=0.9, weight_decay=0.1)),
                          ("Adagrad", dict(weight_decay=0.1)), ("Adadelta", dict(weight_decay=0.1))]:
        a, b = tg.Tensor(np.ones(3), requires_grad=True), tg.Tensor(np.full(3, 2.0), requires_grad=True)
        shared = np.array([0.5, -1.0, 2.0])
        a.grad, b.grad = tg.Tensor(shared), tg.Tensor(shared)
        b.grad.array = a.grad.array                          # one array, two gradients
        getattr(optim, name)([a, b], **options).step()
        np.testing.assert_array_equal(a.grad.array, [0.5, -1.0, 2.0])


def test_adagrad_makes_its_state_at_construction_like_torch():
    params, tparams = twin_params([np.ones((2, 3)), np.ones(4)])
    opt = optim.Adagrad(params, initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad(tparams, initial_accumulator_value=0.25)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd["state"]) == set(tsd["state"]) == {0, 1}
    for i in (0, 1):
        assert sd["state"][i]["step"] == 0
        np.testing.assert_array_equal(sd["state"][i]["sum"].numpy(), tsd["state"][i]["sum"].numpy())
    # a group added later gets its state on its first step
    extra = tg.Tensor(np.ones(2), requires_grad=True)
    opt.add_param_group({"params": [extra], "initial_accumulator_value": 0.5})
    extra.grad = tg.Tensor(np.ones(2))
    opt.step()
    assert opt.state[extra]["step"] == 1
    np.testing.assert_allclose(opt.state[extra]["sum"].numpy(), [1.5, 1.5])


def test_rmsprop_first_step_is_lr_over_sqrt_one_minus_alpha():
    """No bias correction: the first step of each coordinate is about lr / sqrt(1 - alpha)."""
    (p,) = twin_params([np.zeros(3)])[0]
    p.grad = tg.Tensor(np.array([1e-3, 1.0, -50.0]))
    optim.RMSprop([p], lr=0.01, alpha=0.99, eps=0.0).step()
    np.testing.assert_allclose(p.numpy(), [-0.1, -0.1, 0.1], rtol=1e-12)


# ---- state_dict ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,options", [("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
                                          ("RMSprop", dict(lr=0.01)),
                                          ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1)),
                                          ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1))])
def test_state_dict_round_trip_continues_exactly(name, options):
    rng = np.random.default_rng(4)
    params, _ = twin_params(random_arrays(rng))
    opt = getattr(optim, name)(params, **options)
    for _ in range(3):
        for p, g in zip(params, random_arrays(rng)):
            p.grad = tg.Tensor(g)
        opt.step()
    sd = opt.state_dict()
    # PyTorch's layout and state names
    tparams = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in params]
    topt = getattr(torch.optim, name)(tparams, **options)
    for tp in tparams:
        tp.grad = torch.ones_like(tp)
    topt.step()
    tsd = topt.state_dict()
    assert {k for k in sd["param_groups"][0] if k != "params"} <= set(tsd["param_groups"][0])
    assert sd["param_groups"][0]["params"] == tsd["param_groups"][0]["params"]
    assert all(set(sd["state"][i]) == set(tsd["state"][i]) for i in tsd["state"])

    clones, _ = twin_params([p.numpy() for p in params])
    fresh = getattr(optim, name)(clones, lr=0.123)           # other options: loading must restore them
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    before = {k: v.numpy().copy() for k, v in sd["state"][0].items() if isinstance(v, tg.Tensor)}
    for _ in range(3):
        grads = random_arrays(rng)
        for p, q, g in zip(params, clones, grads):
            p.grad, q.grad = tg.Tensor(g), tg.Tensor(g)
        opt.step()
        fresh.step()
        for p, q in zip(params, clones):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
    for key, value in before.items():                       # the state dict is a snapshot
        np.testing.assert_array_equal(sd["state"][0][key].numpy(), value)


# ---- LBFGS -----------------------------------------------------------------------------------
def rosenbrock(x):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2: a curved valley with its minimum at (1, ..., 1)."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _quadratic_problem():
    rng = np.random.default_rng(5)
    m = rng.standard_normal((9, 9))
    a = m @ m.T / 9 + 0.5 * np.eye(9)
    return a, rng.standard_normal(9), [rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal(2)]


def quadratic(lib, a, b):
    """f(x) = x.A x / 2 - b.x over x = (W.flatten(), v); a third parameter u is not used (its grad stays None)."""
    a, b = lib.tensor(a), lib.tensor(b)

    def f(w, v, u):
        x = lib.cat([w.reshape(-1), v])
        return 0.5 * (x * (a @ x)).sum() - (b * x).sum()
    return f


def run_lbfgs_twins(loss_fn, tloss_fn, init, steps, **options):
    """Run our LBFGS and torch's side by side on their own closures; compare after every step."""
    params, tparams = twin_params(init)
    opt, topt = optim.LBFGS(params, **options), torch.optim.LBFGS(tparams, **options)

    def closure():
        opt.zero_grad()
        loss = loss_fn(*params)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = tloss_fn(*tparams)
        loss.backward()
        return loss

    for _ in range(steps):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert isinstance(loss, tg.Tensor)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=RTOL, atol=ATOL)
        assert_same_params(params, tparams)
        state, tstate = opt.state[params[0]], topt.state[tparams[0]]
        assert (state["func_evals"], state["n_iter"]) == (tstate["func_evals"], tstate["n_iter"])
    assert set(state) == set(tstate)
    return params, opt


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("options", [dict(), dict(lr=0.5, history_size=3, max_iter=6)])
def test_lbfgs_on_a_quadratic_matches_torch(line_search_fn, options):
    a, b, init = _quadratic_problem()
    params, _ = run_lbfgs_twins(quadratic(tg, a, b), quadratic(torch, a, b), init, 4,
                                line_search_fn=line_search_fn, **options)
    if not options:                                          # it (nearly) solves the 9-dimensional quadratic
        x = np.concatenate([params[0].numpy().reshape(-1), params[1].numpy()])
        np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(params[2].numpy(), init[2])          # no gradient: never moved


@pytest.mark.parametrize("line_search_fn,x0,options", [
    (None, [-1.5, 2.0, 0.5, -0.3], dict(history_size=5)),
    (None, [-1.2, 1.0], dict(lr=0.1, max_iter=5, history_size=5)),
    ("strong_wolfe", [-1.2, 1.0], dict()),
    ("strong_wolfe", [-1.5, -1.0, -0.5, 0.0, 0.6, 1.2], dict(history_size=4)),
    ("strong_wolfe", [-1.5, 2.0, 0.5, -0.3], dict(max_iter=5, max_eval=6, history_size=5)),
])
def test_lbfgs_on_the_rosenbrock_function_matches_torch(line_search_fn, x0, options):
    """Eight steps from the same start. (Rosenbrock's curved valley amplifies last-bit differences, e.g.
    between numpy's and MKL's dot products; in these cases they stay far below 1e-10.)"""
    params, _ = run_lbfgs_twins(rosenbrock, rosenbrock, [np.array(x0)], 8, line_search_fn=line_search_fn,
                                **options)
    if line_search_fn and len(x0) == 2:                      # it finds the minimum at (1, 1)
        np.testing.assert_allclose(params[0].numpy(), [1.0, 1.0], atol=1e-4)


def test_lbfgs_stops_at_once_at_a_stationary_point():
    (x,) = twin_params([np.ones(3)])[0]
    opt = optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss
    assert opt.step(closure).item() == 0.0
    assert len(calls) == 1 and opt.state[x] == {"func_evals": 1, "n_iter": 0}
    np.testing.assert_array_equal(x.numpy(), np.ones(3))


def test_lbfgs_state_dict_round_trip_continues_exactly():
    a, b, init = _quadratic_problem()
    f = quadratic(tg, a, b)
    params, _ = twin_params(init)
    clones, _ = twin_params(init)

    def make(ps):
        opt = optim.LBFGS(ps, max_iter=3, history_size=4, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = f(*ps)
            loss.backward()
            return loss
        return opt, closure

    opt, closure = make(params)
    opt.step(closure)
    opt.step(closure)
    sd = opt.state_dict()
    saved_dirs = [t.numpy().copy() for t in sd["state"][0]["old_dirs"]]
    assert {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al", "func_evals",
            "n_iter"} == set(sd["state"][0])
    for c, p in zip(clones, params):
        c.array[...] = p.array
    fresh, fresh_closure = make(clones)
    fresh.load_state_dict(sd)
    for _ in range(2):
        opt.step(closure)
        fresh.step(fresh_closure)
        for p, c in zip(params, clones):
            np.testing.assert_array_equal(p.numpy(), c.numpy())
    assert fresh.state[clones[0]]["n_iter"] == opt.state[params[0]]["n_iter"] > 6
    assert len(sd["state"][0]["old_dirs"]) == len(saved_dirs)         # the saved history is a snapshot
    for t, saved in zip(sd["state"][0]["old_dirs"], saved_dirs):
        np.testing.assert_array_equal(t.numpy(), saved)


# ---- schedulers ------------------------------------------------------------------------------
BASE_LRS = [0.1, 0.3]


def twin_sgd(momentum=0.0, lrs=BASE_LRS):
    """SGD with one parameter group per lr, in both libraries."""
    opt = optim.SGD([{"params": [tg.Tensor(np.zeros(1), requires_grad=True)], "lr": lr} for lr in lrs],
                    lr=1.0, momentum=momentum)
    topt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs],
                           lr=1.0, momentum=momentum)
    return opt, topt


def twin_adam(lrs=BASE_LRS):
    opt = optim.Adam([{"params": [tg.Tensor(np.zeros(1), requires_grad=True)], "lr": lr} for lr in lrs])
    topt = torch.optim.Adam([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    return opt, topt


def assert_same_lrs(sched, tsched, opt, topt):
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups], [g["lr"] for g in topt.param_groups],
                               rtol=1e-12, atol=1e-15)


def step_twins(sched, tsched, opt, topt, steps, metrics=None):
    for i in range(steps):
        assert_same_lrs(sched, tsched, opt, topt)
        opt.step()
        topt.step()
        if metrics is None:
            sched.step()
            tsched.step()
        else:
            sched.step(metrics[i])
            tsched.step(metrics[i])
    assert_same_lrs(sched, tsched, opt, topt)


@pytest.mark.parametrize("gamma", [0.9, 0.5, 1.0])
def test_exponential_lr_matches_torch(gamma):
    opt, topt = twin_sgd()
    sched = ExponentialLR(opt, gamma=gamma)
    step_twins(sched, torch.optim.lr_scheduler.ExponentialLR(topt, gamma=gamma), opt, topt, 35)
    np.testing.assert_allclose(sched.get_last_lr(), [lr * gamma ** 35 for lr in BASE_LRS], rtol=1e-12)


@pytest.mark.parametrize("make_lambda", [
    lambda: (lambda epoch: 0.95 ** epoch),
    lambda: [lambda epoch: min(1.0, (epoch + 1) / 10), lambda epoch: 1 / (1 + epoch // 7)],
])
def test_lambda_lr_matches_torch(make_lambda):
    opt, topt = twin_sgd()
    sched, tsched = LambdaLR(opt, make_lambda()), torch.optim.lr_scheduler.LambdaLR(topt, make_lambda())
    step_twins(sched, tsched, opt, topt, 35)


def _plateau_metrics():
    """Improving, then flat with noise, a small improvement, flat again: several plateaus in 45 epochs."""
    rng = np.random.default_rng(6)
    return [*(1.0 / (1 + i) for i in range(8)), *(0.125 + 1e-5 * rng.standard_normal(12)),
            0.1, *(0.1 + 1e-3 * abs(rng.standard_normal(12))), 0.1 - 2e-5, *[0.0999] * 12]


@pytest.mark.parametrize("mode,threshold_mode,options", [
    ("min", "rel", dict()),
    ("min", "rel", dict(patience=2, factor=0.5, cooldown=2)),
    ("min", "abs", dict(patience=1, factor=0.3, threshold=1e-3, min_lr=[0.02, 0.05])),
    ("max", "rel", dict(patience=3, factor=0.5, cooldown=1, threshold=1e-2, min_lr=0.01)),
    ("max", "abs", dict(patience=0, factor=0.9, threshold=0.0, eps=1e-3)),
])
def test_reduce_lr_on_plateau_matches_torch(mode, threshold_mode, options):
    metrics = _plateau_metrics()
    if mode == "max":                                      # an accuracy, say
        metrics = [1.0 - m for m in metrics]
    opt, topt = twin_sgd()
    sched = ReduceLROnPlateau(opt, mode=mode, threshold_mode=threshold_mode, **options)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, mode=mode, threshold_mode=threshold_mode, **options)
    for i, metric in enumerate(metrics):
        assert_same_lrs(sched, tsched, opt, topt)
        sched.step(tg.Tensor(np.array(metric)) if i % 2 else metric)           # a number or a 0-d tensor
        tsched.step(metric)
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == \
               (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter, tsched.last_epoch)
    assert_same_lrs(sched, tsched, opt, topt)
    assert sched.get_last_lr() != BASE_LRS                                        # the lr did come down


def _momentum_of(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


@pytest.mark.parametrize("make_twins", [twin_sgd, twin_adam], ids=["sgd_momentum", "adam_beta1"])
@pytest.mark.parametrize("options", [
    dict(max_lr=1.0, total_steps=40),
    dict(max_lr=[0.5, 2.0], total_steps=40, anneal_strategy="linear", base_momentum=0.8, max_momentum=0.9),
    dict(max_lr=1.0, epochs=4, steps_per_epoch=10, pct_start=0.25, three_phase=True, div_factor=10.0,
         final_div_factor=100.0),
    dict(max_lr=0.3, total_steps=33, three_phase=True, anneal_strategy="linear", base_momentum=[0.7, 0.8]),
    dict(max_lr=1.0, total_steps=40, cycle_momentum=False),
])
def test_one_cycle_lr_matches_torch(make_twins, options):
    opt, topt = make_twins()
    sched = OneCycleLR(opt, **options)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, **options)
    total = sched.total_steps
    assert total == tsched.total_steps
    for _ in range(total):
        assert_same_lrs(sched, tsched, opt, topt)
        for group, tgroup in zip(opt.param_groups, topt.param_groups):
            assert math.isclose(_momentum_of(group), _momentum_of(tgroup), rel_tol=1e-12)
            assert group.get("betas", (0, 0))[1:] == tuple(tgroup.get("betas", (0, 0)))[1:]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert_same_lrs(sched, tsched, opt, topt)
    with pytest.raises(ValueError, match="total steps is"):
        sched.step()
    with pytest.raises(ValueError):
        tsched.step()


def test_one_cycle_lr_shape():
    """Up from max_lr / div_factor to max_lr, then down to initial_lr / final_div_factor; momentum opposite."""
    opt, _ = twin_sgd(momentum=0.9, lrs=[0.1])
    sched = OneCycleLR(opt, max_lr=2.0, total_steps=100, pct_start=0.3)
    lrs, momenta = [], []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(2.0 / 25) and max(lrs) == pytest.approx(2.0)
    assert int(np.argmax(lrs)) == 29 and lrs[-1] == pytest.approx(2.0 / 25 / 1e4)
    assert momenta[0] == pytest.approx(0.95) and momenta[29] == pytest.approx(0.85)
    assert momenta[-1] == pytest.approx(0.95)


@pytest.mark.parametrize("make", [
    lambda o: ExponentialLR(o, gamma=0.8),
    lambda o: LambdaLR(o, [lambda e: 0.9 ** e, _Warmup(5)]),
    lambda o: OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20),
    lambda o: ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
])
def test_scheduler_state_dict_round_trip(make):
    metrics = iter(_plateau_metrics())
    opt, _ = twin_sgd(momentum=0.9)
    sched = make(opt)
    plateau = isinstance(sched, ReduceLROnPlateau)

    def advance(s, metric):
        if plateau:
            s.step(metric)
        else:
            s.step()

    for _ in range(6):
        advance(sched, next(metrics))
    if isinstance(sched, LambdaLR):
        sched.lr_lambdas[1].calls = 42
    sd = sched.state_dict()
    assert "optimizer" not in sd
    opt2, _ = twin_sgd(momentum=0.9, lrs=[0.9, 0.9])
    opt2.load_state_dict(opt.state_dict())
    sched2 = make(opt2)
    if isinstance(sched, LambdaLR):
        assert sd["lr_lambdas"][0] is None and sd["lr_lambdas"][1] == {"warmup": 5, "calls": 42}
    sched2.load_state_dict(sd)
    if isinstance(sched, LambdaLR):
        assert sched2.lr_lambdas[1].calls == 42 and "lr_lambdas" in sd
    for _ in range(8):
        metric = next(metrics)
        advance(sched, metric)
        advance(sched2, metric)
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
        assert [g["momentum"] for g in opt2.param_groups] == [g["momentum"] for g in opt.param_groups]


class _Warmup:
    """A callable object: LambdaLR saves its __dict__ (a plain function is saved as None)."""

    def __init__(self, warmup):
        self.warmup = warmup

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.warmup)


def test_schedulers_drive_the_new_optimizers():
    """OneCycleLR cycles RMSprop's momentum; the scheduled values reach the update."""
    p, tp = (x[0] for x in twin_params([np.array([1.0, -2.0])]))
    opt, topt = optim.RMSprop([p], momentum=0.5), torch.optim.RMSprop([tp], momentum=0.5)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=10)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10)
    for _ in range(10):
        set_twin_grads([p], [tp], [2 * p.numpy() + 1])
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_params([p], [tp])
        assert opt.param_groups[0]["momentum"] == pytest.approx(topt.param_groups[0]["momentum"], rel=1e-12)


# ---- errors ----------------------------------------------------------------------------------
def _param():
    return tg.Tensor(np.ones(2), requires_grad=True)


def _sgd(n_groups=1):
    return optim.SGD([{"params": [_param()]} for _ in range(n_groups)], lr=0.1)


@pytest.mark.parametrize("make,error,match", [
    (lambda: optim.RMSprop([_param()], lr=-0.1), ValueError, "RMSprop: invalid learning rate"),
    (lambda: optim.RMSprop([_param()], alpha=-0.5), ValueError, "RMSprop: invalid alpha"),
    (lambda: optim.RMSprop([_param()], eps=-1e-8), ValueError, "RMSprop: invalid eps"),
    (lambda: optim.RMSprop([_param()], momentum=-0.9), ValueError, "RMSprop: invalid momentum"),
    (lambda: optim.RMSprop([_param()], weight_decay=-1.0), ValueError, "RMSprop: invalid weight_decay"),
    (lambda: optim.RMSprop([{"params": [_param()], "momentum": -1.0}]), ValueError, "invalid momentum"),
    (lambda: optim.Adagrad([_param()], lr=-0.1), ValueError, "Adagrad: invalid learning rate"),
    (lambda: optim.Adagrad([_param()], lr_decay=-0.1), ValueError, "Adagrad: invalid lr_decay"),
    (lambda: optim.Adagrad([_param()], weight_decay=-0.1), ValueError, "Adagrad: invalid weight_decay"),
    (lambda: optim.Adagrad([_param()], initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    (lambda: optim.Adagrad([_param()], eps=-1.0), ValueError, "Adagrad: invalid eps"),
    (lambda: optim.Adadelta([_param()], lr=-1.0), ValueError, "Adadelta: invalid learning rate"),
    (lambda: optim.Adadelta([_param()], rho=1.5), ValueError, r"Adadelta: invalid rho=1.5.*\[0, 1\]"),
    (lambda: optim.Adadelta([_param()], rho=-0.1), ValueError, "Adadelta: invalid rho"),
    (lambda: optim.Adadelta([_param()], eps=-1.0), ValueError, "Adadelta: invalid eps"),
    (lambda: optim.Adadelta([{"params": [_param()], "weight_decay": -1.0}]), ValueError, "invalid weight_decay"),
    (lambda: optim.LBFGS([_param()], lr=-1.0), ValueError, "LBFGS: invalid learning rate"),
    (lambda: optim.LBFGS([_param()], max_iter=0), ValueError, "max_iter must be a positive integer"),
    (lambda: optim.LBFGS([_param()], max_iter=2.5), ValueError, "max_iter must be a positive integer"),
    (lambda: optim.LBFGS([_param()], max_eval=0), ValueError, "max_eval must be a positive integer"),
    (lambda: optim.LBFGS([_param()], history_size=0), ValueError, "history_size must be a positive integer"),
    (lambda: optim.LBFGS([_param()], tolerance_grad=-1.0), ValueError, "invalid tolerance_grad"),
    (lambda: optim.LBFGS([_param()], tolerance_change=-1.0), ValueError, "invalid tolerance_change"),
    (lambda: optim.LBFGS([_param()], line_search_fn="armijo"), ValueError, "'strong_wolfe'.*'armijo'"),
    (lambda: optim.LBFGS([{"params": [_param()]}, {"params": [_param()], "lr": 0.1}]), ValueError,
     "doesn't support per-parameter options"),
    (lambda: optim.LBFGS([_param()]).add_param_group({"params": [_param()]}), ValueError, "parameter groups"),
    (lambda: optim.LBFGS([_param()]).step(), TypeError, "LBFGS.step: a closure is required"),
    (lambda: optim.RMSprop(_param()), TypeError, "single Tensor"),
    (lambda: ExponentialLR(_sgd(), gamma=-0.5), ValueError, "ExponentialLR: gamma"),
    (lambda: ExponentialLR([_param()], gamma=0.5), TypeError, "ExponentialLR: expected an Optimizer"),
    (lambda: LambdaLR(_sgd(2), [lambda e: 1.0]), ValueError, "LambdaLR: expected 2 lr_lambdas.*got 1"),
    (lambda: LambdaLR(_sgd(), 0.5), TypeError, "LambdaLR: lr_lambda must be a function"),
    (lambda: LambdaLR("sgd", lambda e: 1.0), TypeError, "LambdaLR: expected an Optimizer"),
    (lambda: ReduceLROnPlateau(_sgd(), factor=1.0), ValueError, "factor should be < 1.0"),
    (lambda: ReduceLROnPlateau(_sgd(), mode="smallest"), ValueError, "mode 'smallest' is unknown"),
    (lambda: ReduceLROnPlateau(_sgd(), threshold_mode="pct"), ValueError, "threshold mode 'pct' is unknown"),
    (lambda: ReduceLROnPlateau(_sgd(2), min_lr=[0.1]), ValueError,
     r"expected 2 min_lrs \(one per parameter group\), got 1"),
    (lambda: ReduceLROnPlateau(_sgd(), patience=-1), ValueError, "patience must be an integer >= 0"),
    (lambda: ReduceLROnPlateau(None), TypeError, "ReduceLROnPlateau: expected an Optimizer"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0), ValueError, "either total_steps OR"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=0), ValueError, "positive integer total_steps"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, epochs=2, steps_per_epoch=0), ValueError,
     "positive integer steps_per_epoch"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, pct_start=0), ValueError, "pct_start"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be one of 'cos' or 'linear'"),
    (lambda: OneCycleLR(_sgd(2), max_lr=[1.0], total_steps=10), ValueError,
     "max_lr must have the same length as optimizer.param_groups"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=10, div_factor=0.0), ValueError, "div_factor must be > 0"),
    (lambda: OneCycleLR(optim.Adagrad([_param()]), max_lr=1.0, total_steps=10), ValueError,
     "must support momentum or beta1"),
    (lambda: OneCycleLR(_sgd(), max_lr=1.0, total_steps=4, pct_start=0.25), ValueError, "phase 1.*no length"),
])
def test_bad_options_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_lbfgs_reports_a_gradient_of_the_wrong_shape():
    (x,) = twin_params([np.ones(3)])[0]

    def closure():
        x.grad = tg.Tensor(np.ones(2))
        return tg.Tensor(np.array(1.0))
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*gradient of shape \(2,\)"):
        optim.LBFGS([x]).step(closure)


def test_reduce_lr_on_plateau_with_a_group_added_later():
    opt = _sgd()
    sched = ReduceLROnPlateau(opt, patience=0, min_lr=[0.01])
    opt.add_param_group({"params": [_param()], "lr": 0.5})
    sched.step(1.0)
    with pytest.raises(RuntimeError, match="min_lrs has 1 values"):
        sched.step(2.0)


def test_exports():
    from tinygrad_edu.optim import adadelta, adagrad, lbfgs, rmsprop
    assert (optim.RMSprop, optim.Adagrad, optim.Adadelta, optim.LBFGS) == (rmsprop.RMSprop, adagrad.Adagrad,
                                                                          adadelta.Adadelta, lbfgs.LBFGS)
    assert {"RMSprop", "Adagrad", "Adadelta", "LBFGS"} <= set(optim.__all__)
    for name in ("ExponentialLR", "LambdaLR", "ReduceLROnPlateau", "OneCycleLR"):
        assert isinstance(getattr(optim.lr_scheduler, name), type)


# ---- the "cuda" device -----------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not tg.cuda.is_available(), reason=f"no CUDA device: {tg.cuda.unavailable_reason()}")
def test_new_optimizers_on_cuda():
    rng = np.random.default_rng(7)
    init = random_arrays(rng, [(3, 4), (4,)])
    for name, options in [("RMSprop", dict(centered=True, momentum=0.9, weight_decay=0.01)),
                          ("Adagrad", dict(lr_decay=0.01, initial_accumulator_value=0.1)),
                          ("Adadelta", dict(weight_decay=0.01))]:
        params = [tg.Tensor(a, requires_grad=True, device="cuda") for a in init]
        cpu_params, _ = twin_params(init)
        opt, cpu_opt = getattr(optim, name)(params, **options), getattr(optim, name)(cpu_params, **options)
        for _ in range(3):
            grads = random_arrays(rng, [(3, 4), (4,)])
            for p, q, g in zip(params, cpu_params, grads):
                p.grad, q.grad = tg.Tensor(g, device="cuda"), tg.Tensor(g)
            opt.step()
            cpu_opt.step()
        for p, q in zip(params, cpu_params):
            assert p.device == "cuda"
            np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12)
            assert all(v.device == "cuda" for v in opt.state[p].values() if isinstance(v, tg.Tensor))
    x = tg.Tensor(np.array([-1.2, 1.0]), requires_grad=True, device="cuda")
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-6)
    assert opt.state[x]["d"].device == "cuda"
