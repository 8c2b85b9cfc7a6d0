"""The project's check on a real GPU: `python -m tinygrad_edu.gpu_check --out DIR [--budget SECONDS]`.

Run it from a checkout of the repository on a machine with an NVIDIA GPU, where the
project and its GPU packages are installed (`pip install -e ".[cuda12]"` or `".[cuda13]"`).
It needs no network. On a machine without a package index whose Python already holds
CuPy, numba-cuda and PyTorch, `pip install --no-deps --no-build-isolation -e .` installs
the project against those packages.

The check runs in stages, each in a child process of its own with a time limit of its own,
clipped to what is left of the whole budget (default 420 s, so that it fits an 8-minute
slot with room to start the machine). A stage that fails or runs out of time is written
down and the next one runs; a hung GPU call can never take the whole check with it.

    env     GPU, driver, CUDA runtime, versions of numpy/numba/numba-cuda/CuPy/PyTorch,
            and tg.cuda.is_available() with its reason                          -> env.txt
    matmul  our tiled matmul kernel against cuBLAS (cupy.matmul), 4096^3 float32 -> matmul.txt
    tests   the real-GPU tests: pytest -m cuda with TINYGRAD_EDU_REAL_GPU=1      -> tests.txt
    bench   python -m tinygrad_edu.bench --device cuda (against PyTorch's CUDA
            device when PyTorch can see the GPU)                                -> bench.txt, bench.json

Everything lands in DIR: summary.txt (what a person reads first), figures.json (every
figure, for programs) and each stage's log: seven files. The exit status is 0 when every
stage passed, 1 when one failed or was cut short, and 2 when no GPU is usable here; then
only the env stage runs, and summary.txt says why.
"""
import argparse
import datetime
import json
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import time

DEFAULT_BUDGET_S = 420   # the whole check: 7 minutes, inside an 8-minute slot
MARGIN_S = 10            # kept back from every stage's limit, for writing the summary afterwards
MIN_STAGE_S = 15         # a stage that would get less than this is skipped rather than started
MATMUL_SIZE = 4096       # the matmul stage multiplies two MATMUL_SIZE x MATMUL_SIZE float32 matrices

# Each stage: its name, the seconds it asks for (before clipping to the budget), and its log file.
STAGES = [("env", 90, "env.txt"), ("matmul", 90, "matmul.txt"), ("tests", 150, "tests.txt"),
          ("bench", 240, "bench.txt")]
OUTPUT_FILES = ["summary.txt", "figures.json", "bench.json"] + [log for _, _, log in STAGES]
FIGURES_PREFIX = "FIGURES "  # a child stage's last line of output: this prefix, then its figures as JSON

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository, when run from a checkout
TESTS = ROOT / "tests"


# ---- the time budget ---------------------------------------------------------------------------
def clip_timeout(wanted, left, margin=MARGIN_S, minimum=MIN_STAGE_S):
    """A stage's time limit: what it asks for, but no more than what is left of the budget less the margin.

    None when that leaves less than `minimum` seconds: a stage that cannot finish is not worth starting.
    """
    timeout = min(wanted, left - margin)
    return timeout if timeout >= minimum else None


class Budget:
    """The seconds the whole check may take, shared out stage by stage as they run."""

    def __init__(self, seconds, clock=time.monotonic):
        self.clock = clock
        self.deadline = clock() + seconds

    def left(self):
        return self.deadline - self.clock()

    def timeout_for(self, wanted):
        return clip_timeout(wanted, self.left())


# ---- running one stage in a child process ------------------------------------------------------
def child_environment(**extra):
    """The environment of every stage: the real GPU (never Numba's simulator), output not held back."""
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg", **extra)
    return env


def run_stage(command, log_path, timeout, env=None, cwd=None):
    """Run `command` with its output going to `log_path`; kill it (and every process it started) at `timeout`.

    Returns {"status": "ok" | "failed" | "timeout", "exit_code", "seconds", "figures"}, where figures are
    read from the last line of the log that starts with FIGURES_PREFIX (an empty dict if there is none).
    """
    start = time.monotonic()
    with open(log_path, "w") as log:
        # A session of its own, so that on timeout the whole process group goes: bench and pytest start
        # children of their own, which would otherwise live on and hold the GPU.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
        try:
            exit_code = process.wait(timeout=timeout)
            status = "ok" if exit_code == 0 else "failed"
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended just as its time ran out
                pass
            process.wait()
            exit_code, status = None, "timeout"
    output = pathlib.Path(log_path).read_text(errors="replace")
    if status == "timeout":
        with open(log_path, "a") as log:
            log.write(f"\n[gpu_check] stopped after its time limit of {timeout:.0f} s\n")
    return {"status": status, "exit_code": exit_code, "seconds": round(time.monotonic() - start, 1),
            "figures": read_figures(output)}


def read_figures(output):
    """The figures a child stage printed as its last FIGURES line, or {} when it printed none."""
    for line in reversed(output.splitlines()):
        if line.startswith(FIGURES_PREFIX):
            try:
                return json.loads(line[len(FIGURES_PREFIX):])
            except json.JSONDecodeError:
                return {}
    return {}


def stage_command(name, out_dir):
    """The command line of each stage, and the extra environment it needs."""
    python = sys.executable
    if name == "env":               # measured by this module, in a child process
        return [python, "-m", "tinygrad_edu.gpu_check", "--stage", "env"], {}
    if name == "matmul":            # CUPY_TF32=0: cuBLAS in true float32, the arithmetic our kernel does
        return [python, "-m", "tinygrad_edu.gpu_check", "--stage", "matmul"], {"CUPY_TF32": "0"}
    if name == "tests":             # TINYGRAD_EDU_REAL_GPU=1 turns the simulator off in tests/conftest.py
        return ([python, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", *real_gpu_test_files()],
                {"TINYGRAD_EDU_REAL_GPU": "1"})
    if name == "bench":
        return [python, "-m", "tinygrad_edu.bench", "--device", "cuda", "--json", str(out_dir / "bench.json")], {}
    raise ValueError(f"unknown stage {name!r}")


def real_gpu_test_files():
    """The test files holding tests marked `cuda` (those that need a real GPU), relative to the repository."""
    return sorted(str(path.relative_to(ROOT)) for path in TESTS.glob("test_*.py")
                  if "pytest.mark.cuda" in path.read_text(errors="replace"))


# ---- the stages measured here (each runs as `python -m tinygrad_edu.gpu_check --stage NAME`) ------
def describe_environment():
    """Everything about this machine that decides whether and how fast our kernels run, as a dict."""
    import importlib.metadata
    import platform
    import shutil

    env = {"python": sys.version.split()[0], "executable": sys.executable, "platform": platform.platform()}
    env["versions"] = {}
    for dist in ("tinygrad_edu", "numpy", "numba", "numba-cuda", "cuda-bindings", "cupy-cuda12x", "cupy-cuda13x",
                 "torch"):
        try:
            env["versions"][dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env["versions"][dist] = None

    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        try:
            env["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            env["nvidia_smi"] = f"failed: {exc}"
    else:
        env["nvidia_smi"] = "not found"

    try:
        import cupy
        runtime = cupy.cuda.runtime
        env["cupy"] = cupy.__version__
        env["cuda_driver"] = _cuda_version(runtime.driverGetVersion())
        env["cuda_runtime"] = _cuda_version(runtime.runtimeGetVersion())
        properties = runtime.getDeviceProperties(0)
        name = properties["name"]
        env["gpu"] = name.decode() if isinstance(name, bytes) else name
        env["compute_capability"] = f"{properties['major']}.{properties['minor']}"
        env["gpu_memory_gib"] = round(properties["totalGlobalMem"] / 2 ** 30, 1)
    except Exception as exc:
        env["cupy_error"] = f"{type(exc).__name__}: {exc}"

    try:
        import torch
        env["torch_cuda"] = {"built_for": torch.version.cuda, "sees_gpu": torch.cuda.is_available()}
    except Exception as exc:
        env["torch_cuda"] = {"error": f"{type(exc).__name__}: {exc}"}

    import tinygrad_edu as tg
    env["cuda_available"] = tg.cuda.is_available()
    env["cuda_unavailable_reason"] = tg.cuda.unavailable_reason()
    try:  # the kernels are installed as tinygrad_edu.kernels: missing when the project was never installed
        import tinygrad_edu.kernels  # noqa: F401
    except ImportError as exc:
        env["cuda_available"] = False
        env["cuda_unavailable_reason"] = (f"tinygrad_edu.kernels cannot be imported ({exc}): install the project, "
                                          "`pip install --no-deps --no-build-isolation -e .`")
    return env


def _cuda_version(number):
    """CUDA's version numbers as text: 12040 -> '12.4' (0, no driver, stays 0)."""
    return f"{number // 1000}.{number % 1000 // 10}" if number else "0"


def measure_matmul(n=MATMUL_SIZE, repeats=10, xp=None):
    """Time our tiled matmul (kernels/matmul.py) against the library's own matmul (cuBLAS, through CuPy).

    Both multiply the same two n x n float32 matrices; each time is the median of `repeats` calls after
    a warm-up (our first call also compiles the kernel, which is reported apart). CUPY_TF32=0 keeps
    cuBLAS in true float32, so that both do the same arithmetic. xp: the array module (CuPy; numpy
    runs our kernel under Numba's CUDA simulator, for the tests).
    """
    import numpy as np

    from tinygrad_edu.kernels.matmul import matmul
    if xp is None:
        import cupy as xp
    synchronize = (lambda: None) if xp is np else xp.cuda.Device().synchronize
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    b = xp.asarray(rng.standard_normal((n, n), dtype=np.float32))

    def median_seconds(multiply):
        multiply()
        synchronize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            multiply()
            synchronize()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    start = time.perf_counter()
    ours = matmul(a, b, xp=xp)
    synchronize()
    first_call_s = time.perf_counter() - start
    reference = xp.matmul(a, b)
    error = float(xp.abs(ours - reference).max()) / float(xp.abs(reference).max())
    ours_s = median_seconds(lambda: matmul(a, b, xp=xp))
    library_s = median_seconds(lambda: xp.matmul(a, b))
    flops = 2 * n ** 3
    return {"n": n, "dtype": "float32", "repeats": repeats, "ours_ms": _significant(ours_s * 1e3),
            "cublas_ms": _significant(library_s * 1e3), "ours_tflops": _significant(flops / ours_s / 1e12),
            "cublas_tflops": _significant(flops / library_s / 1e12),
            "ratio_ours_over_cublas": _significant(library_s / ours_s),  # = our TFLOP/s over cuBLAS's
            "ours_first_call_s": _significant(first_call_s), "max_relative_error": error, "correct": error < 1e-3,
            "CUPY_TF32": os.environ.get("CUPY_TF32", "0")}


def _significant(number, digits=4):
    """A figure rounded to a few significant digits (a TFLOP/s count and a millisecond count alike)."""
    return float(f"{number:.{digits}g}")


def run_child_stage(name):
    """Body of `--stage NAME`: measure, print a readable report, end with the FIGURES line. Exit status."""
    if name == "env":
        figures = describe_environment()
        for key, value in figures.items():
            print(f"{key:24} {value}")
        ok = True
    else:
        figures = measure_matmul()
        for key, value in figures.items():
            print(f"{key:24} {value}")
        ok = figures["correct"]
        if not ok:
            print("our matmul does NOT match cuBLAS")
    print(FIGURES_PREFIX + json.dumps(figures), flush=True)
    return 0 if ok else 1


# ---- reading the stages' results ---------------------------------------------------------------
def parse_pytest_counts(output):
    """pytest's closing line ('3 passed, 1 skipped in 2.0s') as {'passed': 3, 'skipped': 1}."""
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", line)]
    if not lines:
        return {}
    counts = re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)", lines[-1])
    return {word: int(number) for number, word in counts}


def read_bench(path):
    """bench.json's rows as {workload: {ours_ms, torch_ms, ratio}} (torch figures only when PyTorch ran)."""
    try:
        results = json.loads(pathlib.Path(path).read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    rows = {}
    for workload, entry in results.items():
        row = {"ours_ms": round(entry["ours"]["ms"], 3), "ours_peak_mb": round(entry["ours"]["peak_mb"], 1)}
        if "torch" in entry:
            row.update(torch_ms=round(entry["torch"]["ms"], 3), ratio=round(entry["ratio"], 3))
        rows[workload] = row
    return rows


def summary_lines(report):
    """The text of summary.txt, from the report that figures.json also holds."""
    env = report["stages"].get("env", {}).get("figures", {})
    versions = env.get("versions", {})
    lines = [f"tinygrad_edu GPU check, {report['started']}, budget {report['budget_s']:.0f} s, "
             f"took {report['seconds']:.0f} s"]
    if env:
        cupy = versions.get("cupy-cuda12x") or versions.get("cupy-cuda13x") or env.get("cupy")
        if env.get("gpu"):
            lines.append(f"GPU: {env['gpu']}, compute capability {env.get('compute_capability')}, "
                         f"{env.get('gpu_memory_gib')} GiB; driver for CUDA {env.get('cuda_driver')}, "
                         f"CuPy's CUDA runtime {env.get('cuda_runtime')}")
        else:
            lines.append(f"GPU: none seen by CuPy ({env.get('cupy_error', 'CuPy gave no reason')})")
        lines.append(f"nvidia-smi: {env.get('nvidia_smi')}")
        torch_cuda = env.get("torch_cuda", {})
        lines.append(f"versions: python {env.get('python')}, numpy {versions.get('numpy')}, "
                     f"numba {versions.get('numba')}, numba-cuda {versions.get('numba-cuda')}, "
                     f"cuda-bindings {versions.get('cuda-bindings')}, CuPy {cupy}, torch {versions.get('torch')} "
                     f"(built for CUDA {torch_cuda.get('built_for')}, sees a GPU: {torch_cuda.get('sees_gpu')})")
        lines.append(f"tg.cuda.is_available(): {env.get('cuda_available')}")
    if report["no_gpu_reason"]:
        lines += ["", f"NO GPU IS USABLE HERE: {report['no_gpu_reason']}",
                  "Only the environment stage ran; nothing was measured."]
    lines += ["", f"{'stage':8} {'status':8} {'exit':>5} {'seconds':>8}  log"]
    for name, stage in report["stages"].items():
        exit_code = "-" if stage.get("exit_code") is None else stage["exit_code"]
        lines.append(f"{name:8} {stage['status']:8} {exit_code:>5} {stage.get('seconds', 0):>8}  "
                     f"{stage.get('log', '')}{'  (' + stage['note'] + ')' if stage.get('note') else ''}")
    matmul = report["stages"].get("matmul", {}).get("figures")
    if matmul:
        lines += ["", f"matmul {matmul['n']}^3 float32: ours {matmul['ours_tflops']} TFLOP/s ({matmul['ours_ms']} ms), "
                      f"cuBLAS {matmul['cublas_tflops']} TFLOP/s ({matmul['cublas_ms']} ms), "
                      f"ours/cuBLAS {matmul['ratio_ours_over_cublas']}; max relative error "
                      f"{matmul['max_relative_error']:.1e}; our first call (compiles) {matmul['ours_first_call_s']} s"]
    tests = report["stages"].get("tests", {}).get("figures")
    if tests:
        lines.append("tests (-m cuda, TINYGRAD_EDU_REAL_GPU=1): "
                     + ", ".join(f"{number} {word}" for word, number in tests.items()))
    bench = report["stages"].get("bench", {}).get("figures")
    if bench:
        lines.append("bench --device cuda, ms/step:")
        for workload, row in bench.items():
            torch = f", PyTorch {row['torch_ms']}, ours/PyTorch {row['ratio']}" if "torch_ms" in row else ""
            lines.append(f"  {workload:5} ours {row['ours_ms']}{torch}")
    return lines


# ---- the whole check ---------------------------------------------------------------------------
def run_check(out_dir, budget_s=DEFAULT_BUDGET_S):
    """Run every stage into `out_dir`, write summary.txt and figures.json, and return the exit status."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # an earlier check's results in the same folder must not pass for this one's
        (out_dir / name).unlink(missing_ok=True)
    budget = Budget(budget_s)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = {"started": started, "budget_s": budget_s, "stages": {}, "no_gpu_reason": None}
    cwd = ROOT if TESTS.is_dir() else None
    print(f"tinygrad_edu GPU check: budget {budget_s:.0f} s, results in {out_dir}", flush=True)

    for name, wanted, log_name in STAGES:
        if report["no_gpu_reason"]:
            break
        stage = {"log": log_name}
        timeout = budget.timeout_for(wanted)
        if name == "tests" and not TESTS.is_dir():
            stage.update(status="skipped", note="no tests/ folder: run the check from a checkout of the repository")
        elif timeout is None:
            stage.update(status="skipped", note=f"only {budget.left():.0f} s of the budget left")
        else:
            print(f"\n=== {name} (time limit {timeout:.0f} s, {budget.left():.0f} s of the budget left)", flush=True)
            command, extra_env = stage_command(name, out_dir)
            stage.update(run_stage(command, out_dir / log_name, timeout, env=child_environment(**extra_env), cwd=cwd))
            if name == "tests":
                stage["figures"] = parse_pytest_counts((out_dir / log_name).read_text(errors="replace"))
            if name == "bench":
                stage["figures"] = read_bench(out_dir / "bench.json")
            _show(out_dir / log_name, whole=name == "env")
            print(f"=== {name}: {stage['status']} after {stage['seconds']} s", flush=True)
        report["stages"][name] = stage
        if name == "env":
            report["no_gpu_reason"] = _no_gpu_reason(stage)

    report["seconds"] = round(budget_s - budget.left(), 1)
    if report["no_gpu_reason"]:
        exit_status = 2
    else:
        exit_status = 0 if all(stage["status"] == "ok" for stage in report["stages"].values()) else 1
    report["exit_status"] = exit_status
    summary = "\n".join(summary_lines(report)) + "\n"
    (out_dir / "summary.txt").write_text(summary)
    (out_dir / "figures.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n" + summary, end="", flush=True)
    return exit_status


def _no_gpu_reason(env_stage):
    """None when the env stage found a usable GPU, else why not."""
    figures = env_stage.get("figures") or {}
    if env_stage["status"] != "ok" or "cuda_available" not in figures:
        return f"the environment stage {env_stage['status']} (see {env_stage['log']})"
    if not figures["cuda_available"]:
        return figures.get("cuda_unavailable_reason") or "tg.cuda.is_available() is False"
    return None


def _show(log_path, whole=False, tail=15):
    """Print a stage's log (the env stage whole, the others' last lines) so that progress is visible."""
    lines = pathlib.Path(log_path).read_text(errors="replace").splitlines()
    lines = [line for line in lines if not line.startswith(FIGURES_PREFIX)]
    for line in lines if whole else lines[-tail:]:
        print("   " + line)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", metavar="DIR", help="folder for summary.txt, figures.json and the stages' logs")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, metavar="SECONDS",
                        help=f"time for the whole check (default {DEFAULT_BUDGET_S})")
    parser.add_argument("--stage", choices=("env", "matmul"), help=argparse.SUPPRESS)  # a child stage
    args = parser.parse_args(argv)
    if args.stage:
        return run_child_stage(args.stage)
    if not args.out:
        parser.error("--out DIR is required")
    return run_check(args.out, args.budget)


if __name__ == "__main__":
    sys.exit(main())
