"""The lesson scripts, each run end to end with --quick in a subprocess.

Each test runs `python lessons/<name>.py --quick --out <tmp>` exactly as a student would
(sys.executable, the test environment's TINYGRAD_EDU_DATA, MPLBACKEND=Agg) and checks the
exit code, the files the lesson promises, and for the digits lessons a floor on the printed
test accuracy that the quick run clears by a wide margin (observed: MLP ~0.94, CNN ~0.98).
"""
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

import tinygrad_edu as tg
from student_copy import stub_assignment_in_output

pytestmark = pytest.mark.lessons

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# name -> (PNG files, other files, accuracy floor or None, text the output must contain)
CASES = {
    "01_scalar_autograd": (["loss_curve.png", "decision_boundary.png"], [], None,
                           "the scalar engine and tinygrad_edu agree"),
    "02_tensors_and_gradcheck": ([], [], None, "caught BuggySoftplus"),
    "03_mlp_digits": (["loss_curve.png", "predictions.png"], [], 0.80, "test accuracy"),
    "04_cnn_digits": (["loss_curve.png", "predictions.png", "filters.png"], ["cnn_digits.npz"], 0.85,
                      "reloaded test accuracy"),
    "05_lstm_shakespeare": (["loss_curve.png"], ["sample.txt"], None, "---- end of sample ----"),
    "06_gpt_shakespeare": (["loss_curve.png"], ["sample.txt"], None, "---- end of sample ----"),
    "07_gpu_kernels": ([], [], None, "project kernels checked"),
    "08_optimizers_and_regularisation": (["optimizer_curves.png", "overfitting.png", "lr_schedules.png"], [], None,
                                         "update rules by hand match the library's optimizers"),
    "09_residual_networks": (["loss_curves.png", "gradient_norms.png", "predictions.png"], [], None,
                             "residual test accuracy: "),
    "10_translation_transformer": (["loss_curve.png", "attention_maps.png"], [], None, "held-out exact-match: "),
    "11_generative_models": (["vae_reconstructions.png", "vae_samples.png", "vae_latent_grid.png", "gan_samples.png",
                              "gan_losses.png"], [], None, "gan samples classified confidently: "),
    "12_reinforcement_learning": (["returns.png"], [], None, "dqn: not solved in 10 episodes (best average return "),
}


def run_lesson(name, out, *args, env_extra=None, timeout=300):
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    if not tg.cuda.is_available():
        # conftest.py switched the CUDA simulator on for this process; a student's shell has no such
        # variable, and lesson 7 must switch the simulator on by itself
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    if "TINYGRAD_EDU_DATA" in os.environ:        # set by conftest.py when the shared data folder exists
        env["TINYGRAD_EDU_DATA"] = os.environ["TINYGRAD_EDU_DATA"]
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, str(LESSONS / f"{name}.py"), "--quick", "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 and stub_assignment_in_output(proc.stderr):   # in a student copy (student_copy.py)
        pytest.skip(f"{name} needs your solution to assignment {stub_assignment_in_output(proc.stderr)}")
    assert proc.returncode == 0, (f"{name} --quick exited with {proc.returncode}\n--- stdout ---\n"
                                  f"{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}")
    return proc


def test_every_lesson_is_covered():
    scripts = sorted(p.stem for p in LESSONS.glob("[0-9][0-9]_*.py"))
    assert scripts == sorted(CASES), f"lessons on disk {scripts} != lessons tested {sorted(CASES)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_lesson_quick_run(name, tmp_path):
    pngs, files, floor, must_print = CASES[name]
    proc = run_lesson(name, tmp_path)
    assert must_print in proc.stdout, f"{name}: expected {must_print!r} in its output:\n{proc.stdout[-2000:]}"
    assert "What you learned:" in proc.stdout
    for filename in files + (pngs if HAVE_MATPLOTLIB else []):
        path = tmp_path / filename
        assert path.is_file() and path.stat().st_size > 0, f"{name}: {filename} missing or empty in {tmp_path}"
    for png in pngs:
        if HAVE_MATPLOTLIB:
            assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: {png} is not a PNG"
        else:
            assert f"plot skipped: {png}" in proc.stdout
    if floor is not None:
        match = re.search(r"^test accuracy: ([0-9.]+)$", proc.stdout, re.MULTILINE)
        assert match, f"{name}: no 'test accuracy: ...' line in its output"
        accuracy = float(match.group(1))
        assert accuracy >= floor, f"{name} --quick reached test accuracy {accuracy:.4f} < {floor}"
    if name in ("05_lstm_shakespeare", "06_gpt_shakespeare"):
        assert (tmp_path / "sample.txt").read_text(encoding="utf-8").count("\n") >= 2


def test_plots_are_skipped_cleanly_without_matplotlib(tmp_path):
    """With matplotlib unimportable, a lesson still succeeds and says, once per plot, how to get plots."""
    blocker = tmp_path / "block" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib blocked by the test')\n")
    path = os.pathsep.join([str(tmp_path / "block")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    out = tmp_path / "out"
    proc = run_lesson("01_scalar_autograd", out, env_extra={"PYTHONPATH": path})
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("plot skipped:")]
    assert len(skipped) == 2 and all("pip install" in line for line in skipped), proc.stdout
    assert not list(out.glob("*.png"))


def test_help_lists_the_common_options():
    proc = subprocess.run([sys.executable, str(LESSONS / "04_cnn_digits.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--quick", "--epochs", "--seed", "--out", "--device"):
        assert option in proc.stdout
