"""Grad mode is per thread, as in PyTorch: two threads training their own models behave exactly as each does alone,
and one thread's `no_grad` block never changes what another records."""
import threading

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F

pytestmark = pytest.mark.autograd


def train(seed, steps, results, key, role=None, barrier=None):
    """A small MLP trained with SGD for `steps` steps; its loss (evaluated under no_grad) after each step.

    With a barrier, two threads take turns each step: one holds a `no_grad` block open while the other runs its
    whole training step, so every step of one thread overlaps the other thread's no_grad."""
    rng = np.random.default_rng(seed)
    x, y = tg.tensor(rng.standard_normal((32, 8)), dtype=tg.float32), tg.tensor(rng.integers(0, 3, 32))
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    with tg.no_grad():
        for p in model.parameters():                       # deterministic weights without the shared generator
            p.copy_(tg.tensor(rng.standard_normal(p.shape) * 0.3, dtype=p.dtype))
    opt = tg.optim.SGD(model.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    losses = []
    for k in range(steps):
        if barrier is None:
            step()
        elif k % 2 == role:                                 # hold no_grad while the other thread trains
            with tg.no_grad():
                barrier.wait(timeout=30)
                barrier.wait(timeout=30)
            step()
        else:
            barrier.wait(timeout=30)
            step()
            barrier.wait(timeout=30)
        with tg.no_grad():
            losses.append(F.cross_entropy(model(x), y).item())
    results[key] = losses


def test_two_threads_train_as_they_do_alone():
    alone = {}
    train(1, 50, alone, "a")
    train(2, 50, alone, "b")
    together, barrier = {}, threading.Barrier(2)
    threads = [threading.Thread(target=train, args=(seed, 50, together, key, role, barrier))
               for seed, key, role in ((1, "a", 0), (2, "b", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert together == alone


def test_no_grad_in_one_thread_leaves_the_other_recording():
    inside, done = threading.Event(), threading.Event()

    def hold_no_grad():
        with tg.no_grad():
            inside.set()
            done.wait(10)

    other = threading.Thread(target=hold_no_grad)
    other.start()
    inside.wait(10)
    try:
        w = tg.ones(2, requires_grad=True)
        assert tg.is_grad_enabled() and (w * 2).requires_grad
    finally:
        done.set()
        other.join()
    assert tg.is_grad_enabled()


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with tg.no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]
