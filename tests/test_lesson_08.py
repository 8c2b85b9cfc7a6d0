"""Lesson 8's claims, beyond the --quick run of tests/test_lessons.py.

* The update rules written out by hand in the lesson agree with tinygrad_edu.optim (in-process,
  milliseconds), and the check would catch a wrong rule.
* The small training set has exactly the promised number of wrong labels, each a different digit.
* The overfitting part does what the lesson says: a short run (--quick, 200 full-batch epochs of the small
  wide MLP) opens a train/test gap without regularisation that dropout + weight decay close.
  BLAS is kept to one thread: these matrices are small, and threads only wait for each other.
"""
import importlib.util
import re
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from test_lessons import LESSONS, run_lesson

pytestmark = pytest.mark.lessons

NAME = "08_optimizers_and_regularisation"


@pytest.fixture(scope="module")
def lesson():
    sys.path.insert(0, str(LESSONS))          # the lesson imports its neighbour common.py
    try:
        spec = importlib.util.spec_from_file_location("lesson08", LESSONS / f"{NAME}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(LESSONS))


def test_update_rules_by_hand_match_the_library(lesson, capsys):
    lesson.check_update_rules(steps=8)
    assert "update rules by hand match the library's optimizers" in capsys.readouterr().out


def test_a_wrong_rule_would_be_caught(lesson):
    """Adam without its bias correction moves far less in the first steps: the check's tolerance
    (1e-5) is many orders of magnitude below that difference."""
    curvature = np.array([0.1, 1.0, 10.0])
    p = np.array([1.0, -1.0, 0.5])
    right, state = p.copy(), {}
    wrong, m, v = p.copy(), 0.0, 0.0
    for t in range(1, 4):
        right = lesson.adam_by_hand(right, curvature * right, state, t, lr=0.01)
        g = curvature * wrong
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        wrong = wrong - 0.01 * m / (np.sqrt(v) + 1e-8)
    assert np.abs(right - wrong).max() > 1e-3


def test_small_subset_has_the_promised_wrong_labels(lesson):
    x = tg.tensor(np.arange(1000 * 64, dtype=np.float32).reshape(1000, 64))
    y = tg.tensor(np.arange(1000) % 10)
    xs, noisy, true = lesson.small_subset(x, y, per_class=20, label_noise=0.2)
    assert tuple(xs.shape) == (200, 64)
    assert np.bincount(true.numpy(), minlength=10).tolist() == [20] * 10
    wrong = noisy.numpy() != true.numpy()
    assert wrong.sum() == 40
    assert noisy.numpy().min() >= 0 and noisy.numpy().max() <= 9


def test_regularisation_closes_the_gap(tmp_path):
    proc = run_lesson(NAME, tmp_path, "--overfit-epochs", "200", env_extra={"OPENBLAS_NUM_THREADS": "1"})
    gaps = {}
    for which in ("without regularisation", "with dropout + weight decay"):
        match = re.search(rf"^train/test gap {re.escape(which)}: (-?[0-9.]+)$", proc.stdout, re.MULTILINE)
        assert match, f"no 'train/test gap {which}' line in the output:\n{proc.stdout[-2000:]}"
        gaps[which] = float(match.group(1))
    # observed: 0.18 without, -0.07 with
    assert gaps["without regularisation"] > 0.1, gaps
    assert gaps["with dropout + weight decay"] < gaps["without regularisation"] - 0.1, gaps
