"""Test set-up shared by every test module.

* Numba's CUDA simulator is switched on *before* numba is first imported, so the
  CUDA kernels in kernels/ run (slowly, on the CPU) on machines with no GPU.
  On a machine with a GPU, set TINYGRAD_EDU_REAL_GPU=1 to test the real device.
* Hypothesis profiles: "dev" (default) and "ci" (derandomised); both have no
  deadline and a bounded number of examples so the suite is fast and repeatable.
* The offline data folder ../shared/data is used when TINYGRAD_EDU_DATA is unset.
* `simulated_cuda`: device "cuda" run by our kernels on numpy arrays under the simulator.
"""
import contextlib
import os
import pathlib
import sys

if os.environ.get("TINYGRAD_EDU_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

_shared_data = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if "TINYGRAD_EDU_DATA" not in os.environ and _shared_data.is_dir():
    os.environ["TINYGRAD_EDU_DATA"] = str(_shared_data)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def simulated_cuda():
    """Device "cuda" run by `CudaBackend(xp=numpy)` under Numba's CUDA simulator, for one test (yields the backend)."""
    with simulated_cuda_device() as backend:
        yield backend


@pytest.fixture
def counted_cuda():
    """Device "cuda" under the simulator on arrays that count launches and host transfers (simulated_device.py)."""
    from tinygrad_edu.backends import simulated_device
    with simulated_cuda_device(simulated_device.xp, use_cupy_for=("matmul",)) as backend:   # cuBLAS, the default
        simulated_device.COUNTERS.reset()
        yield backend


@contextlib.contextmanager
def simulated_cuda_device(xp=None, use_cupy_for=()):
    """Install `CudaBackend(xp=numpy, use_cupy_for=(), launch=SIMULATOR_LAUNCH)` as device "cuda".

    xp: the array module standing for the GPU's (numpy, or simulated_device.xp to count what a step does);
    use_cupy_for: hot ops left to "CuPy" (under the simulator: the same numpy code as on the CPU).

    Every hot op (matmul included) runs our kernels in kernels/ with the tiny
    SIMULATOR_LAUNCH block sizes. Thread switches every 0.1 ms make the simulator's
    syncthreads ~5x cheaper. On exit the previous "cuda" backend (or none), the switch
    interval and the simulator's shared-array allocation are restored.
    """
    import numpy

    from tinygrad_edu import backends
    from tinygrad_edu.backends.cupy_backend import SIMULATOR_LAUNCH, CudaBackend
    from tinygrad_edu.kernels.simulator import thread_safe_shared_arrays

    missing = object()
    previous = backends._backends.get("cuda", missing)
    interval = sys.getswitchinterval()
    backend = CudaBackend(xp=numpy if xp is None else xp, use_cupy_for=use_cupy_for, launch=SIMULATOR_LAUNCH)
    backends._backends["cuda"] = backend
    sys.setswitchinterval(1e-4)
    restore_shared = thread_safe_shared_arrays()
    try:
        yield backend
    finally:
        restore_shared()
        sys.setswitchinterval(interval)
        if previous is missing:
            backends._backends.pop("cuda", None)
        else:
            backends._backends["cuda"] = previous


@pytest.fixture(autouse=True, scope="session")
def _simulator_shared_arrays_are_thread_safe():
    """Every kernel test (not only the simulated device's) gets the race-free shared-array allocation."""
    from tinygrad_edu.kernels.simulator import thread_safe_shared_arrays
    restore = thread_safe_shared_arrays()
    yield
    restore()


def pytest_collection_modifyitems(config, items):
    """Timed tests (marker `perf`) run only when -m names them: the default run asserts no wall-clock bound."""
    if "perf" in (config.getoption("markexpr") or ""):
        return
    timed = [item for item in items if item.get_closest_marker("perf")]
    if timed:
        config.hook.pytest_deselected(items=timed)
        items[:] = [item for item in items if not item.get_closest_marker("perf")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In a student copy, a test outside tests/assignments/ that reaches an assignment's stub is skipped, naming
    the assignment (see tests/student_copy.py). Graded tests keep failing until the student's code is in."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or "assignments" in pathlib.Path(str(item.fspath)).parts:
        return
    from student_copy import stub_assignment
    assignment = stub_assignment(call.excinfo.value)
    if assignment is not None and report.failed:
        report.outcome = "skipped"
        report.longrepr = (str(item.fspath), item.location[1] or 0,
                           f"Skipped: needs your solution to assignment {assignment}")
