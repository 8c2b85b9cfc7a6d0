"""examples/torch_scripts: PyTorch programs run unchanged on tinygrad_edu (through torch_compat) and, where PyTorch
is installed, on PyTorch itself; both must learn, and their losses must tell the same story.

The two libraries draw different random numbers, so losses are compared loosely: the first losses (a fresh
model's) within 10% of each other, and the final ones within a factor of 1.5, both well below the first."""
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.nn]
SCRIPTS = pathlib.Path(__file__).resolve().parents[1] / "examples" / "torch_scripts"
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_TORCHVISION = importlib.util.find_spec("torchvision") is not None

# script -> (short-run arguments, whether it needs torchvision)
CASES = {
    "gpt_shakespeare.py": (["--steps", "120"], False),
    "lstm_language_model.py": (["--steps", "100"], False),
    "cnn_digits.py": (["--epochs", "6"], True),
    "vae_digits.py": (["--epochs", "4"], False),
}


def run(script, args, library):
    prefix = [sys.executable, "-m", "tinygrad_edu.torch_compat"] if library == "tinygrad_edu" else [sys.executable]
    proc = subprocess.run([*prefix, str(SCRIPTS / script), *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert proc.returncode == 0, f"{script} on {library}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def losses(output):
    first = float(re.search(r"loss at (?:step|epoch) 0: ([0-9.]+)", output).group(1))
    final = float(re.search(r"final loss: ([0-9.]+)", output).group(1))
    return first, final


def test_every_script_is_tested():
    assert sorted(p.name for p in SCRIPTS.glob("*.py")) == sorted(list(CASES) + ["reinforce_cartpole.py"])


@pytest.mark.parametrize("script", sorted(CASES))
def test_script_runs_unchanged_and_learns_like_pytorch(script):
    args, needs_torchvision = CASES[script]
    ours = run(script, args, "tinygrad_edu")
    first, final = losses(ours)
    assert final < 0.8 * first, f"{script} on tinygrad_edu did not learn: {first} -> {final}"
    if script == "cnn_digits.py":
        accuracy = float(re.search(r"test accuracy: ([0-9.]+)", ours).group(1))
        assert accuracy > 0.85, ours
    if not HAVE_TORCH or (needs_torchvision and not HAVE_TORCHVISION):
        pytest.skip(f"{script} ran on tinygrad_edu; PyTorch{'/torchvision' if needs_torchvision else ''} is not "
                    f"installed here to compare with")
    their_first, their_final = losses(run(script, args, "torch"))
    assert first == pytest.approx(their_first, rel=0.10), (first, their_first)
    assert 1 / 1.5 < final / their_final < 1.5, (final, their_final)


def test_reinforce_learns_to_balance_the_pole():
    ours = run("reinforce_cartpole.py", ["--episodes", "80"], "tinygrad_edu")
    first, last = map(float, re.search(r"first 20 ([0-9.]+), last 20 ([0-9.]+)", ours).groups())
    assert last > 2 * first, ours
