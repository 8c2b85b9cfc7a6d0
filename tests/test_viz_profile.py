"""tg.viz.graph draws the autograd graph (DOT text: ops, shapes, dtypes, leaves); tg.profile times every op,
forward and backward separately."""
import shutil

import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F

pytestmark = pytest.mark.autograd


def test_graph_shows_every_op_leaf_shape_and_dtype(tmp_path):
    x = tg.randn(4, 3, requires_grad=True)
    w = tg.randn(3, 2, dtype=tg.float32, requires_grad=True)
    loss = (x @ w).relu().sum()
    dot = tg.viz.graph(loss)
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    for op in ("MatMulBackward", "ReluBackward", "SumBackward"):
        assert f'label="{op}"' in dot
    assert dot.count('label="leaf\\n') == 2
    assert "(4, 3) float32" in dot and "(3, 2) float32" in dot and "(4, 2) float32" in dot
    assert 'label="result\\n() float32"' in dot
    tg.viz.graph(loss, tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == dot
    tg.viz.graph(loss, tmp_path / "g.svg")
    assert (tmp_path / ("g.svg" if shutil.which("dot") else "g.dot")).exists()


def test_graph_of_a_leaf_and_of_constants():
    assert "result" in tg.viz.graph(tg.ones(2)) and "Backward" not in tg.viz.graph(tg.ones(2))
    x = tg.ones(2, requires_grad=True)
    dot = tg.viz.graph(x * tg.tensor([2.0, 3.0]))
    assert 'label="constant\\n(2,) float32"' in dot and 'label="leaf\\n(2,) float32"' in dot


def test_profile_times_forward_and_backward_per_op():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x, y = tg.randn(32, 8), tg.randint(0, 4, (32,))
    with tg.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    rows = {r[0]: r[1:] for r in prof.rows()}
    assert rows["Linear"][0] == 2 and rows["Linear"][2] == 2          # two layers: two forwards, two backwards
    assert rows["Relu"][0] == 1 and rows["CrossEntropy"][2] == 1
    assert all(seconds >= 0 for r in prof.rows() for seconds in (r[2], r[4]))
    table = prof.table()
    assert table.splitlines()[0].split() == ["op", "fwd", "calls", "fwd", "ms", "bwd", "calls", "bwd", "ms",
                                             "total", "ms", "%"]
    assert "Linear" in table and "wall time" in table
    ordered = [r[2] + r[4] for r in prof.rows()]
    assert ordered == sorted(ordered, reverse=True)


def test_nothing_is_recorded_outside_a_profile_and_profiles_nest():
    with tg.profile() as outer:
        tg.ones(2) + 1
        with tg.profile() as inner:
            tg.ones(2) * 2
        tg.ones(2) - 1
    tg.ones(2) / 2
    assert {r[0] for r in inner.rows()} == {"Mul"}
    assert {r[0] for r in outer.rows()} == {"Add", "Sub"}
