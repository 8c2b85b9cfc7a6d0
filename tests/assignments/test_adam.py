"""Graded: adam (10 points). Several steps of Adam (plain, weight decay, amsgrad) and AdamW against the update rule."""
import math

import numpy as np
import pytest

import tinygrad_edu as tg
from grading import assert_close, observe

pytestmark = pytest.mark.assignment("adam")

SHAPES = ((3, 4), (5,))


def _start(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in SHAPES]


def _gradient(step, values, scale, shrink):
    """The gradient of step `step` (1, 2, ...) at parameter values `values`: a pull towards 0.5 plus a
    step-dependent part, times scale * shrink^(step - 1)."""
    rng = np.random.default_rng(100 + step)
    return [scale * shrink ** (step - 1) * (2.0 * (v - 0.5) + rng.standard_normal(v.shape)) for v in values]


def _rule(values, gradients, lr, beta1, beta2, eps, weight_decay=0.0, amsgrad=False, decoupled=False):
    """One Adam (or AdamW, `decoupled`) step by the textbook formulas, over a list of parameters. `gradients` is
    a function of the values; the moments live in `_rule.state`, a list of dicts, one per parameter."""
    state = _rule.state
    grads = gradients(values)
    new_values = []
    for i, (p, g) in enumerate(zip(values, grads)):
        s = state[i]
        s["t"] += 1
        t = s["t"]
        if decoupled:
            p = p - lr * weight_decay * p
        elif weight_decay:
            g = g + weight_decay * p
        s["m"] = beta1 * s["m"] + (1 - beta1) * g
        s["v"] = beta2 * s["v"] + (1 - beta2) * g ** 2
        s["vmax"] = np.maximum(s["vmax"], s["v"])
        m_hat = s["m"] / (1 - beta1 ** t)
        v_hat = (s["vmax"] if amsgrad else s["v"]) / (1 - beta2 ** t)
        new_values.append(p - lr * m_hat / (np.sqrt(v_hat) + eps))
    return new_values


def _compare(name, make_optimizer, steps, scale=1.0, shrink=1.0, seed=0, **rule):
    """Run `steps` steps of the library's optimizer and of `_rule` side by side; compare after each step."""
    values = _start(seed)
    params = [tg.tensor(v.copy(), requires_grad=True) for v in values]
    optimizer = make_optimizer(params)
    _rule.state = [{"t": 0, "m": 0.0, "v": 0.0, "vmax": 0.0} for _ in values]
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        grads = _gradient(step, [p.numpy() for p in params], scale, shrink)
        loss = sum((p * tg.tensor(g)).sum() for p, g in zip(params, grads))
        loss.backward()
        optimizer.step()
        values = _rule(values, lambda vs: _gradient(step, vs, scale, shrink), **rule)
        for i, (p, expected) in enumerate(zip(params, values)):
            assert_close(p, expected, f"{name}: parameter {i} after step {step}", rtol=1e-9, atol=1e-12)
    return params


@pytest.mark.points(3)
def test_adam_steps():
    _compare("Adam", lambda ps: tg.optim.Adam(ps, lr=0.05), steps=6, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8)
    _compare("Adam, betas (0.5, 0.9)", lambda ps: tg.optim.Adam(ps, lr=0.2, betas=(0.5, 0.9)), steps=4, seed=1,
             lr=0.2, beta1=0.5, beta2=0.9, eps=1e-8)

    # the first step moves every coordinate by lr against the sign of its gradient (bias correction at work)
    p = tg.tensor(np.zeros(4), requires_grad=True)
    (p * tg.tensor(np.array([3.0, -0.02, 50.0, -7.0]))).sum().backward()
    tg.optim.Adam([p], lr=0.01).step()
    assert_close(p, np.array([-0.01, 0.01, -0.01, 0.01]), "Adam: the first step", rtol=1e-6)


@pytest.mark.points(1)
def test_eps_is_added_after_the_square_root():
    # gradients of size ~1e-3 and eps 1e-3: where eps goes changes every step visibly
    _compare("Adam, eps 1e-3", lambda ps: tg.optim.Adam(ps, lr=0.1, eps=1e-3), steps=4, scale=1e-3, seed=2,
             lr=0.1, beta1=0.9, beta2=0.999, eps=1e-3)


@pytest.mark.points(2)
def test_adam_with_weight_decay():
    _compare("Adam, weight_decay 0.1", lambda ps: tg.optim.Adam(ps, lr=0.05, weight_decay=0.1), steps=5, seed=3,
             lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1)


@pytest.mark.points(2)
def test_amsgrad():
    # gradients that shrink fast make v fall, so the running maximum of v differs from v itself
    def shrinking(ps):
        return tg.optim.Adam(ps, lr=0.05, betas=(0.9, 0.9), amsgrad=True)
    values = _compare("Adam, amsgrad", shrinking, steps=5, shrink=0.5, seed=4, lr=0.05, beta1=0.9, beta2=0.9,
                      eps=1e-8, amsgrad=True)
    plain = _compare("Adam, same run without amsgrad", lambda ps: tg.optim.Adam(ps, lr=0.05, betas=(0.9, 0.9)),
                     steps=5, shrink=0.5, seed=4, lr=0.05, beta1=0.9, beta2=0.9, eps=1e-8)
    gap = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(values, plain))
    observe("largest difference between amsgrad and plain Adam", gap, rtol=1e-6)
    assert gap > 1e-4, f"amsgrad should change this run, but the parameters differ by only {gap:.2e}"
    # one coordinate by hand, beta1 = 0 and beta2 = 0.5, gradient 4 then 1
    p = tg.tensor(np.array([0.0]), requires_grad=True)
    optimizer = tg.optim.Adam([p], lr=0.1, betas=(0.0, 0.5), amsgrad=True)
    for g in (4.0, 1.0):
        optimizer.zero_grad()
        (p * g).sum().backward()
        optimizer.step()
    # step 1: v = 8, vmax = 8, update 0.1 * 4 / sqrt(8 / 0.5)
    # step 2: v = 4.5, vmax = 8, update 0.1 * 1 / sqrt(8 / 0.75)
    expected = -0.1 * 4 / math.sqrt(16) - 0.1 * 1 / math.sqrt(8 / 0.75)
    assert_close(p, np.array([expected]), "amsgrad by hand, two steps", rtol=1e-6)


@pytest.mark.points(2)
def test_adamw():
    _compare("AdamW, weight_decay 0.1", lambda ps: tg.optim.AdamW(ps, lr=0.05, weight_decay=0.1), steps=5, seed=5,
             lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, decoupled=True)
    _compare("AdamW, amsgrad", lambda ps: tg.optim.AdamW(ps, lr=0.05, betas=(0.9, 0.9), amsgrad=True), steps=4,
             shrink=0.5, seed=6, lr=0.05, beta1=0.9, beta2=0.9, eps=1e-8, weight_decay=1e-2, amsgrad=True,
             decoupled=True)
