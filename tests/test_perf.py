"""Speed of the engine itself: the per-op overhead of building and walking the graph.

A 1,000-op chain of elementwise ops on 8x8 float32 tensors does almost no arithmetic,
so its time is the Python overhead of Tensor methods, Function.apply and the backward
walk. The default test run checks what can be counted (one graph node per op, each
forward and backward run exactly once, nothing kept alive after backward); the time
itself is a benchmark, measured only when asked for: `pytest -s -m perf tests/test_perf.py`
(tests/conftest.py leaves `perf` tests out of runs whose -m does not name them).
Training-step speed is measured by `python -m tinygrad_edu.bench`.
"""
import gc
import statistics
import time

import numpy as np
import pytest

import tinygrad_edu as tg

BOUND_MS = 20.0
OPS = 1000
WARMUP, RUNS = 3, 15


def _chain(x, w):
    """OPS ops: 249 rounds of (tensor *, tensor +, tanh, scalar -), then one more round and a sum."""
    y = x
    for _ in range(OPS // 4 - 1):
        y = y * w
        y = y + x
        y = y.tanh()
        y = y - 0.5
    y = (y * w + x).tanh()
    return y.sum()  # 996 + 3 + 1 = 1000 ops


def _ms_per_step(step):
    """Median milliseconds per call, (wall clock, CPU time of this process), after WARMUP calls.

    The bound is checked on CPU time: on a shared 2-core machine, wall-clock time also counts
    the time this process waits for a core while other jobs run, which is not the engine's
    cost. On an idle machine the two agree (both are printed).
    """
    for _ in range(WARMUP):
        step()
    wall, cpu = [], []
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()  # like timeit: a collection landing in one run is noise, not the engine's cost
    try:
        for _ in range(RUNS):
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    finally:
        if was_enabled:
            gc.enable()
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def test_the_chain_runs_each_forward_and_backward_exactly_once():
    """Counts, not time: 1000 ops make 1000 nodes, and backward calls each node's backward once."""
    tg.manual_seed(0)
    x = tg.randn(8, 8, requires_grad=True)
    w = tg.randn(8, 8, requires_grad=True)
    with tg.profile() as prof:
        _chain(x, w).backward()
    rows = prof.rows()
    assert sum(r[1] for r in rows) == OPS                     # forward calls
    assert sum(r[3] for r in rows) == OPS                     # backward calls: linear in the graph, no revisits
    assert {r[0]: (r[1], r[3]) for r in rows} == {"Mul": (250, 250), "Add": (250, 250), "Tanh": (250, 250),
                                                 "Sub": (249, 249), "Sum": (1, 1)}


def test_backward_frees_what_the_graph_saved():
    import weakref
    tg.manual_seed(0)
    x = tg.randn(8, 8, requires_grad=True)
    w = tg.randn(8, 8, requires_grad=True)
    loss = _chain(x, w)
    nodes, node = [], loss.grad_fn
    while node is not None and len(nodes) < 20:            # the last 20 nodes of the chain
        nodes.append(weakref.ref(node))
        node = next((parent for parent in node.parents if parent is not None), None)
    loss.backward()
    assert all(n() is None or not n().saved for n in nodes)       # saved arrays released (retain_graph=False)
    del loss
    gc.collect()
    assert all(n() is None for n in nodes)                        # and the graph itself is gone


@pytest.mark.perf
def test_thousand_op_chain_forward_backward_under_20ms():
    tg.manual_seed(0)
    x = tg.randn(8, 8, requires_grad=True)
    w = tg.randn(8, 8, requires_grad=True)

    counted = []

    def count(t):  # count the graph's nodes once, so the figure is for what it says
        seen, stack = set(), [t.grad_fn]
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            stack.extend(i.grad_fn for i in node.inputs)
        counted.append(len(seen))

    loss = _chain(x, w)
    count(loss)
    assert counted == [OPS]
    assert loss.dtype == tg.float32 and x.dtype == tg.float32

    def step():
        x.grad = w.grad = None
        _chain(x, w).backward()

    wall_ms, cpu_ms = _ms_per_step(step)
    print(f"\n{OPS}-op elementwise chain on 8x8 float32, forward + backward: {cpu_ms:.2f} ms CPU, "
          f"{wall_ms:.2f} ms wall (medians of {RUNS} runs after {WARMUP} warm-up; bound {BOUND_MS} ms)")
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()
    assert cpu_ms < BOUND_MS, f"{OPS}-op chain took {cpu_ms:.2f} ms of CPU per forward+backward, bound {BOUND_MS} ms"
