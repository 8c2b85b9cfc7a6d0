"""`python -m tinygrad_edu.torch_compat script.py`: a PyTorch program runs unchanged, with torch bound to
tinygrad_edu; names tinygrad_edu lacks are refused by name. Each check runs in a child process (binding torch
there must not disturb the real PyTorch that other tests compare with)."""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.nn
SCRIPTS = pathlib.Path(__file__).with_name("torch_scripts")


def run(args, code=None):
    command = [sys.executable, "-m", "tinygrad_edu.torch_compat", *args] if code is None else [
        sys.executable, "-c", "from tinygrad_edu.torch_compat import install; install()\n" + textwrap.dedent(code)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_a_pytorch_script_runs_unchanged_and_gets_its_arguments():
    proc = run([str(SCRIPTS / "tiny_classifier.py"), "--flag", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "acc 1.000 args ['--flag', '1'] torch is torch" in proc.stdout
    assert "tinygrad_edu does not implement torch.fft (yet)" in proc.stdout
    assert "tinygrad_edu does not implement torch.jit (yet)" in proc.stdout


def test_the_command_line_tool_runs_it_too():
    tool = pathlib.Path(sys.executable).with_name("tinygrad-edu")
    proc = subprocess.run([str(tool), "torch", str(SCRIPTS / "tiny_classifier.py"), "x"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "args ['x']" in proc.stdout, proc.stderr[-3000:]


def test_torch_names_are_tinygrad_edu_names():
    proc = run([], code="""
        import torch, torch.nn as nn, torch.nn.functional as F, torch.optim as optim
        from torch.utils.data import DataLoader
        import tinygrad_edu as tg
        assert torch.Tensor is tg.Tensor and nn.Linear is tg.nn.Linear and F.relu is tg.nn.functional.relu
        assert optim.Adam is tg.optim.Adam and DataLoader is tg.data.DataLoader
        assert torch.optim.lr_scheduler.StepLR is tg.optim.lr_scheduler.StepLR
        assert torch.float32 is tg.float32 and torch.no_grad is tg.no_grad
        with torch.inference_mode():
            assert not torch.is_grad_enabled()
        torch.backends.cudnn.benchmark = True           # configuring a module we do not have is fine
        torch.backends.cudnn.deterministic = True
        assert torch.backends.mps.is_available() is False
        import torch.onnx, torch.nn.parallel            # importing them is fine too
        torch.cuda.manual_seed_all(0)
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


@pytest.mark.parametrize("code, error", [
    ("import torch; torch.fft.fft", "AttributeError: tinygrad_edu does not implement torch.fft (yet)"),
    ("import torch; torch.onnx.export", "AttributeError: tinygrad_edu does not implement torch.onnx.export (yet)"),
    ("import torch.nn as nn; nn.Bilinear", "AttributeError: tinygrad_edu does not implement torch.nn.Bilinear (yet)"),
    ("import torch.sparse", "ImportError: tinygrad_edu does not implement torch.sparse (yet)"),
    ("from torch.nn.parallel import DistributedDataParallel",
     "tinygrad_edu does not implement torch.nn.parallel.DistributedDataParallel (yet)"),
])
def test_missing_names_are_refused_by_name(code, error):
    proc = run([], code=code)
    assert proc.returncode != 0 and error in proc.stderr, proc.stderr[-2000:]
