"""Lesson 12's pieces, beyond the --quick run of tests/test_lessons.py (in-process, well under a second).

* The hand-written cart-pole follows gym's CartPole-v0 step, formula for formula (checked against an
  independent transcription of gym's `step`), ends an episode where gym does (pole past 12 degrees,
  cart past 2.4), and tells a time-out at 200 steps (truncated) from a fall (terminated).
* The discounted returns and the "solved" line: average >= 195 over the last 100 episodes.
"""
import importlib.util
import math
import os
import sys

import numpy as np
import pytest

from test_lessons import LESSONS

pytestmark = pytest.mark.lessons

NAME = "12_reinforcement_learning"


@pytest.fixture(scope="module")
def lesson():
    sys.path.insert(0, str(LESSONS))          # the lesson imports its neighbour common.py
    environ = dict(os.environ)                # the lesson sets OPENBLAS_NUM_THREADS for itself; undo it here
    try:
        spec = importlib.util.spec_from_file_location("lesson12", LESSONS / f"{NAME}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        os.environ.clear()
        os.environ.update(environ)
        sys.path.remove(str(LESSONS))


def gym_step(state, action):
    """gym's CartPoleEnv.step (euler integration), transcribed with gym's own names."""
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass, polemass_length = masspole + masscart, masspole * length
    x, x_dot, theta, theta_dot = state
    force = force_mag if action == 1 else -force_mag
    costheta, sintheta = math.cos(theta), math.sin(theta)
    temp = (force + polemass_length * theta_dot ** 2 * sintheta) / total_mass
    thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * costheta ** 2 / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    x, x_dot = x + tau * x_dot, x_dot + tau * xacc
    theta, theta_dot = theta + tau * theta_dot, theta_dot + tau * thetaacc
    done = x < -2.4 or x > 2.4 or theta < -12 * 2 * math.pi / 360 or theta > 12 * 2 * math.pi / 360
    return [x, x_dot, theta, theta_dot], done


def test_cartpole_matches_gym_step(lesson):
    env = lesson.CartPole(seed=3)
    state = env.reset()
    reference = [float(v) for v in state]
    assert np.all(np.abs(state) <= 0.05)
    rng = np.random.default_rng(0)
    for _ in range(200):
        action = int(rng.integers(2))
        state, reward, terminated, truncated = env.step(action)
        reference, done = gym_step(reference, action)
        np.testing.assert_allclose(state, reference, rtol=1e-6, atol=1e-7)
        assert reward == 1.0 and terminated == done
        if done:
            break
    assert done, "random actions should drop the pole well within 200 steps"


def test_pushing_one_way_falls_and_a_simple_controller_times_out(lesson):
    env = lesson.CartPole(seed=0)
    env.reset()
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, truncated = env.step(1)
        steps += 1
        assert not truncated
    assert 7 <= steps <= 12, steps              # always pushing right: the pole falls left in about 9 steps

    state, steps = env.reset(), 0               # push the way the pole leans (and is falling): it stays up
    while True:
        action = int(state[2] + 0.5 * state[3] + 0.01 * state[0] + 0.1 * state[1] > 0)
        state, _, terminated, truncated = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    assert (steps, terminated, truncated) == (lesson.CartPole.max_steps, False, True)   # a time-out, not a fall
    assert lesson.CartPole.max_steps == 200     # CartPole-v0, the version whose "solved" is 195 over 100


def test_discounted_returns(lesson):
    np.testing.assert_allclose(lesson.discounted_returns([1.0, 1.0, 1.0], 0.5), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(lesson.discounted_returns([1.0] * 200, 0.99)[0], (1 - 0.99 ** 200) / (1 - 0.99),
                               rtol=1e-5)


def test_solved_line(lesson, capsys):
    returns = [20.0] * 50 + [200.0] * 97 + [100.0] * 3        # the last 100: (97 * 200 + 300) / 100 = 197
    solved, average = lesson.report("dqn", returns, best=197.0, seconds=1.0)
    out = capsys.readouterr().out
    assert (solved, average) == (150, 197.0)
    assert "dqn: solved at episode 150 (average return 197.0 over 100 episodes)" in out

    solved, average = lesson.report("reinforce", [200.0] * 99, best=200.0, seconds=1.0)   # too few episodes
    assert solved is None
    out = capsys.readouterr().out
    assert "reinforce: not solved in 99 episodes (best average return 200.0 over 99 episodes)" in out
