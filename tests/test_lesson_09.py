"""Lesson 9's CIFAR-10 path (`--dataset cifar10`), on a tiny archive generated here in the real format.

The real cifar-10-binary.tar.gz (about 170 MB) is never needed: the test writes a few images per class
into the binary layout (tar.gz of cifar-10-batches-bin/data_batch_1..5.bin and test_batch.bin, each
record a label byte then 1024 red, 1024 green and 1024 blue bytes), and runs the lesson with --quick
on it in a subprocess. The loader still checks the file's sha256: the lesson's documented test hook
LESSON09_CIFAR10_SHA256 gives it the generated file's digest instead of the published one (the way
tests/test_vision.py points CIFAR10.resource at its generated archive). Nothing touches the network
(TINYGRAD_EDU_OFFLINE=1). The digits path is run by tests/test_lessons.py.
"""
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from test_lessons import HAVE_MATPLOTLIB, LESSONS, ROOT, run_lesson

pytestmark = pytest.mark.lessons

NAME = "09_residual_networks"


def write_cifar10_archive(path, train_per_class=3, test_per_class=2, seed=0):
    """A cifar-10-binary.tar.gz with `train_per_class` training and `test_per_class` test images of each
    of the 10 classes (each class a different mean colour, plus noise); returns its sha256."""
    rng = np.random.default_rng(seed)

    def records(per_class):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        rng.shuffle(labels)
        colours = (np.arange(10)[:, None] * np.array([25, 70, 130]) % 256).astype(np.int64)  # (10, RGB)
        planes = colours[labels][:, :, None] + rng.integers(-30, 31, size=(len(labels), 3, 1024))
        return np.concatenate([labels[:, None], np.clip(planes, 0, 255).reshape(len(labels), 3072)],
                              axis=1).astype(np.uint8)                    # (N, 1 + 3072)

    train = records(train_per_class)
    files = {f"data_batch_{i + 1}.bin": chunk for i, chunk in enumerate(np.array_split(train, 5))}
    files["test_batch.bin"] = records(test_per_class)
    with tarfile.open(path, "w:gz") as tar:
        for name, rec in files.items():
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = rec.nbytes
            tar.addfile(info, io.BytesIO(rec.tobytes()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cifar10_quick_run_on_a_generated_archive(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    digest = write_cifar10_archive(data / "cifar-10-binary.tar.gz")
    out = tmp_path / "out"
    proc = run_lesson(NAME, out, "--dataset", "cifar10", "--data-root", str(data), timeout=120,
                      env_extra={"LESSON09_CIFAR10_SHA256": digest, "TINYGRAD_EDU_OFFLINE": "1",
                                 "TINYGRAD_EDU_DATA": str(data)})
    text = proc.stdout
    assert "LESSON09_CIFAR10_SHA256 is set" in text
    assert "CIFAR-10: 30 training and 20 test photos" in text
    assert re.search(r"^residual test accuracy: [0-9.]+$", text, re.MULTILINE), text[-2000:]
    assert "a target, not a measured result" in text and "not applicable to --quick" in text
    assert "plain test accuracy" not in text            # CIFAR-10 trains the ResNet only
    assert "What you learned:" in text
    for png in ("loss_curves.png", "gradient_norms.png", "predictions.png"):
        if HAVE_MATPLOTLIB:
            assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        else:
            assert f"plot skipped: {png}" in text


def _run_cifar10(tmp_path, data, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("TINYGRAD_EDU_DATA", "LESSON09_CIFAR10_SHA256")}
    env.update(MPLBACKEND="Agg", TINYGRAD_EDU_OFFLINE="1", **env_extra)
    return subprocess.run([sys.executable, str(LESSONS / f"{NAME}.py"), "--quick", "--dataset", "cifar10",
                           "--data-root", str(data), "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_cifar10_missing_or_wrong_file_says_how_to_get_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    proc = _run_cifar10(tmp_path, data)                 # no file, no network
    assert proc.returncode == 1, proc.stderr[-2000:]
    for words in ("CIFAR-10 is not on this machine", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                  f"--data-root {data}", "TINYGRAD_EDU_DATA",
                  "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"):
        assert words in proc.stderr, (words, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    # a file that is not the published one is refused (its sha256 is checked), with the same advice
    write_cifar10_archive(data / "cifar-10-binary.tar.gz")
    proc = _run_cifar10(tmp_path, data)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "CIFAR-10 is not on this machine" in proc.stderr and "should have sha256 c4a38c50" in proc.stderr


def test_digits_quick_run_shows_the_plain_net_stalling(tmp_path):
    """The lesson's point, already in one --quick epoch: the plain net stays at chance (loss ln 10 = 2.30),
    its first layer's gradient is many orders of magnitude below its last layer's, and the residual
    net of the same depth learns (observed: plain loss 2.305, residual 0.66; gradient ratio 5e7 vs 1)."""
    text = run_lesson(NAME, tmp_path, timeout=120).stdout
    value = {key: float(v) for key, v in re.findall(r"^(residual final loss|plain final loss): ([0-9.]+)$", text,
                                                     re.MULTILINE)}
    assert value["plain final loss"] > 2.2 and value["residual final loss"] < 1.5, text[-2000:]
    ratio = re.search(r"last layer / first layer gradient norm at the first step: plain ([0-9.e+-]+), "
                      r"residual ([0-9.e+-]+)", text)
    assert ratio and float(ratio.group(1)) > 1e4 and float(ratio.group(2)) < 1e2, text[-2000:]
    assert re.search(r"^plain test accuracy: 0\.[01][0-9]+$", text, re.MULTILINE), text[-2000:]
