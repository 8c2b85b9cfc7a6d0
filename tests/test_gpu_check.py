"""`python -m tinygrad_edu.gpu_check`: the project's check on a real GPU, tested on a machine without one.

Here the check must finish in seconds, print the environment, say why no GPU is usable,
write summary.txt and exit with status 2. The parts that only run on a GPU are tested
piece by piece: the time budget, running a stage in a child process (and killing it),
reading pytest's and the benchmark's results, the summary's wording, and the matmul
measurement itself, which runs our kernel under Numba's CUDA simulator on tiny matrices.
"""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygrad_edu import gpu_check

pytestmark = pytest.mark.kernels


# ---- the whole check, on this machine (no GPU) ---------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed here: the check would measure the GPU for minutes")
def test_without_a_gpu_the_check_says_why_and_exits_with_status_2(tmp_path):
    out = tmp_path / "gpu check"
    out.mkdir()
    for stale in ("matmul.txt", "bench.json"):  # an earlier check's results, which must not pass for this one's
        (out / stale).write_text("old")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "tinygrad_edu.gpu_check", "--out", str(out), "--budget", "60"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert time.monotonic() - start < 60
    assert done.returncode == 2, done.stdout + done.stderr
    for printed in ("numpy", "numba-cuda", "cuda_available", "NO GPU IS USABLE HERE", "CuPy is not installed"):
        assert printed in done.stdout, printed
    summary = (out / "summary.txt").read_text()
    assert "NO GPU IS USABLE HERE: CuPy is not installed" in summary and '".[cuda12]"' in summary
    assert "nothing was measured" in summary and "tg.cuda.is_available(): False" in summary
    report = json.loads((out / "figures.json").read_text())
    assert report["exit_status"] == 2 and list(report["stages"]) == ["env"]
    assert report["stages"]["env"]["figures"]["versions"]["numpy"] == np.__version__
    assert sorted(path.name for path in out.iterdir()) == ["env.txt", "figures.json", "summary.txt"]


def test_out_is_required():
    with pytest.raises(SystemExit) as info:
        gpu_check.main([])
    assert info.value.code == 2


# ---- the time budget -------------------------------------------------------------------------
@pytest.mark.parametrize("wanted,left,expected", [
    (90, 400, 90),      # plenty left: the stage gets what it asks for
    (240, 100, 90),     # clipped to what is left, less the 10 s margin for the summary
    (90, 25, 15),       # exactly the minimum: still worth starting
    (90, 24, None),     # less than the minimum: skipped
    (90, -5, None),     # past the deadline
])
def test_clip_timeout(wanted, left, expected):
    assert gpu_check.clip_timeout(wanted, left) == expected


def test_clip_timeout_with_other_margins():
    assert gpu_check.clip_timeout(60, 100, margin=0, minimum=1) == 60
    assert gpu_check.clip_timeout(60, 30, margin=5, minimum=1) == 25


def test_the_budget_shrinks_as_the_clock_runs():
    now = [1000.0]
    budget = gpu_check.Budget(420, clock=lambda: now[0])
    assert budget.left() == 420 and budget.timeout_for(90) == 90
    now[0] += 300
    assert budget.left() == 120 and budget.timeout_for(240) == 110
    now[0] += 100
    assert budget.timeout_for(90) is None


# ---- running a stage in a child process --------------------------------------------------------
def python(code):
    return [sys.executable, "-c", code]


def test_a_stage_that_passes_and_reports_its_figures(tmp_path):
    code = f"print('working'); print({gpu_check.FIGURES_PREFIX!r} + '{{\"tflops\": 1.5}}')"
    result = gpu_check.run_stage(python(code), tmp_path / "log.txt", timeout=60)
    assert result["status"] == "ok" and result["exit_code"] == 0 and result["figures"] == {"tflops": 1.5}
    assert "working" in (tmp_path / "log.txt").read_text()


def test_a_failing_stage_keeps_its_exit_code_and_its_output(tmp_path):
    result = gpu_check.run_stage(python("import sys; print('oops', file=sys.stderr); sys.exit(3)"),
                                 tmp_path / "log.txt", timeout=60)
    assert result["status"] == "failed" and result["exit_code"] == 3 and result["figures"] == {}
    assert "oops" in (tmp_path / "log.txt").read_text()


def test_a_stage_past_its_time_limit_is_killed_with_the_processes_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "print('started', flush=True)\n"
            "time.sleep(60)\n")
    start = time.monotonic()
    result = gpu_check.run_stage(python(code), tmp_path / "log.txt", timeout=3)
    assert time.monotonic() - start < 30
    assert result["status"] == "timeout" and result["exit_code"] is None
    log = (tmp_path / "log.txt").read_text()
    assert "started" in log and "stopped after its time limit of 3 s" in log
    assert not _running(int(pid_file.read_text()))


def _running(pid):
    """Whether process `pid` still runs (a zombie waiting to be reaped has stopped running)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def test_the_stages_run_on_the_real_gpu_never_the_simulator(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    env = gpu_check.child_environment(TINYGRAD_EDU_REAL_GPU="1")
    assert "NUMBA_ENABLE_CUDASIM" not in env and env["TINYGRAD_EDU_REAL_GPU"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_the_tests_stage_runs_the_files_with_real_gpu_tests(tmp_path):
    files = gpu_check.real_gpu_test_files()
    assert "tests/test_kernels_basic.py" in files and "tests/test_cuda_device.py" in files
    assert "tests/test_gpu_check.py" not in files
    command, env = gpu_check.stage_command("tests", tmp_path)
    assert command[1:6] == ["-m", "pytest", "-m", "cuda", "-q"] and env == {"TINYGRAD_EDU_REAL_GPU": "1"}
    command, env = gpu_check.stage_command("matmul", tmp_path)
    assert command[1:] == ["-m", "tinygrad_edu.gpu_check", "--stage", "matmul"] and env == {"CUPY_TF32": "0"}
    command, _ = gpu_check.stage_command("bench", tmp_path)
    assert command[1:] == ["-m", "tinygrad_edu.bench", "--device", "cuda", "--json", str(tmp_path / "bench.json")]


# ---- reading the results -----------------------------------------------------------------------
@pytest.mark.parametrize("output,expected", [
    ("....s\n40 passed, 3 skipped, 900 deselected in 61.2s\n", {"passed": 40, "skipped": 3, "deselected": 900}),
    ("FAILED tests/x.py::y\n==== 1 failed, 2 passed, 1 error in 3.0s ====\n", {"failed": 1, "passed": 2, "error": 1}),
    ("ImportError while loading conftest\n", {}),
])
def test_parse_pytest_counts(output, expected):
    assert gpu_check.parse_pytest_counts(output) == expected


def test_read_bench(tmp_path):
    results = {"mlp": {"ours": {"ms": 1.23456, "peak_mb": 2.0, "loss": 2.3}, "torch": {"ms": 0.5, "peak_mb": 3.0},
                       "ratio": 2.46912, "mem_ratio": 0.67},
               "cnn": {"ours": {"ms": 9.0, "peak_mb": 100.0, "loss": 2.3}}}
    (tmp_path / "bench.json").write_text(json.dumps({"device": "cuda", "steps": 20, "results": results}))
    assert gpu_check.read_bench(tmp_path / "bench.json") == {
        "mlp": {"ours_ms": 1.235, "ours_peak_mb": 2.0, "torch_ms": 0.5, "ratio": 2.469},
        "cnn": {"ours_ms": 9.0, "ours_peak_mb": 100.0}}
    assert gpu_check.read_bench(tmp_path / "missing.json") == {}


def a_report_from_a_gpu():
    env = {"python": "3.12.3", "gpu": "NVIDIA H200", "compute_capability": "9.0", "gpu_memory_gib": 139.8,
           "cuda_driver": "13.0", "cuda_runtime": "13.0", "nvidia_smi": "NVIDIA H200, 580.159.03, 143771 MiB",
           "versions": {"numpy": "2.5.2", "numba": "0.62.1", "numba-cuda": "0.30.4", "cupy-cuda13x": "14.2.0",
                        "torch": "2.11.0"},
           "torch_cuda": {"built_for": "13.0", "sees_gpu": True}, "cuda_available": True,
           "cuda_unavailable_reason": None}
    matmul = {"n": 4096, "ours_ms": 6.1, "cublas_ms": 2.7, "ours_tflops": 22.5, "cublas_tflops": 50.9,
              "ratio_ours_over_cublas": 0.442, "max_relative_error": 2e-6, "ours_first_call_s": 1.2}
    return {"started": "2026-12-01T00:00:00Z", "budget_s": 420, "seconds": 300, "no_gpu_reason": None, "stages": {
        "env": {"status": "ok", "exit_code": 0, "seconds": 5.0, "log": "env.txt", "figures": env},
        "matmul": {"status": "ok", "exit_code": 0, "seconds": 20.0, "log": "matmul.txt", "figures": matmul},
        "tests": {"status": "failed", "exit_code": 1, "seconds": 90.0, "log": "tests.txt",
                  "figures": {"passed": 40, "failed": 1}},
        "bench": {"status": "timeout", "exit_code": None, "seconds": 180.0, "log": "bench.txt",
                  "figures": {"mlp": {"ours_ms": 1.2, "torch_ms": 0.4, "ratio": 3.0}, "cnn": {"ours_ms": 5.0}}}}}


def test_the_summary_of_a_gpu_run_gives_every_headline_figure():
    text = "\n".join(gpu_check.summary_lines(a_report_from_a_gpu()))
    for part in ("NVIDIA H200, compute capability 9.0", "numba-cuda 0.30.4", "CuPy 14.2.0", "is_available(): True",
                 "ours 22.5 TFLOP/s", "cuBLAS 50.9 TFLOP/s", "ours/cuBLAS 0.442", "40 passed, 1 failed",
                 "mlp   ours 1.2, PyTorch 0.4, ours/PyTorch 3.0", "cnn   ours 5.0\n", "bench    timeout      -"):
        assert part in text + "\n", part
    assert "NO GPU" not in text


def test_the_whole_check_on_a_pretend_gpu(tmp_path, monkeypatch, capsys):
    """run_check with every stage replaced by a tiny program printing what the real one would: the order of
    the stages, the figures gathered from each, a failed stage not stopping the next, and the exit status."""
    report = a_report_from_a_gpu()
    bench_json = {"results": {"mlp": {"ours": {"ms": 1.2, "peak_mb": 2.0}, "torch": {"ms": 0.4}, "ratio": 3.0}}}
    programs = {
        "env": f"print({gpu_check.FIGURES_PREFIX!r} + {json.dumps(report['stages']['env']['figures'])!r})",
        "matmul": f"print({gpu_check.FIGURES_PREFIX!r} + {json.dumps(report['stages']['matmul']['figures'])!r})",
        "tests": "print('F..'); print('1 failed, 2 passed in 0.1s'); raise SystemExit(1)",
        "bench": f"open({str(tmp_path / 'bench.json')!r}, 'w').write({json.dumps(bench_json)!r})",
    }
    monkeypatch.setattr(gpu_check, "stage_command", lambda name, out_dir: (python(programs[name]), {}))
    assert gpu_check.run_check(tmp_path, budget_s=120) == 1  # the tests stage failed
    summary = (tmp_path / "summary.txt").read_text()
    assert "NVIDIA H200" in summary and "ours/cuBLAS 0.442" in summary and "1 failed, 2 passed" in summary
    assert "mlp   ours 1.2, PyTorch 0.4, ours/PyTorch 3.0" in summary
    saved = json.loads((tmp_path / "figures.json").read_text())
    assert list(saved["stages"]) == ["env", "matmul", "tests", "bench"] and saved["exit_status"] == 1
    assert [stage["status"] for stage in saved["stages"].values()] == ["ok", "ok", "failed", "ok"]
    assert "=== matmul" in capsys.readouterr().out
    assert len(list(tmp_path.iterdir())) <= 8


def test_what_counts_as_no_gpu():
    env = a_report_from_a_gpu()["stages"]["env"]
    assert gpu_check._no_gpu_reason(env) is None
    unusable = dict(env, figures=dict(env["figures"], cuda_available=False, cuda_unavailable_reason="no driver"))
    assert gpu_check._no_gpu_reason(unusable) == "no driver"
    crashed = {"status": "timeout", "log": "env.txt", "figures": {}}
    assert gpu_check._no_gpu_reason(crashed) == "the environment stage timeout (see env.txt)"


# ---- the matmul measurement, on tiny matrices under the simulator -----------------------------------
def test_measure_matmul_under_the_simulator():
    figures = gpu_check.measure_matmul(n=16, repeats=1, xp=np)
    assert figures["n"] == 16 and figures["correct"] and figures["max_relative_error"] < 1e-5
    assert figures["ours_tflops"] > 0 and figures["cublas_tflops"] > 0
    assert figures["ratio_ours_over_cublas"] == pytest.approx(figures["ours_tflops"] / figures["cublas_tflops"],
                                                              rel=1e-2)


def test_the_check_module_imports_no_gpu_library():
    done = subprocess.run([sys.executable, "-c", "import sys, tinygrad_edu.gpu_check; "
                           "assert 'cupy' not in sys.modules and 'numba' not in sys.modules"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
