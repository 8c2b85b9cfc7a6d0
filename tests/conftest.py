"""Test set-up shared by every test module.

* Numba's CUDA simulator is switched on *before* numba is first imported, so the
  CUDA kernels in kernels/ run (slowly, on the CPU) on machines with no GPU.
  On a machine with a GPU, set TINYGRAD_EDU_REAL_GPU=1 to test the real device.
* Hypothesis profiles: "dev" (default) and "ci" (derandomised); both have no
  deadline and a bounded number of examples so the suite is fast and repeatable.
* The offline data folder ../shared/data is used when TINYGRAD_EDU_DATA is unset.
"""
import os
import pathlib

if os.environ.get("TINYGRAD_EDU_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

_shared_data = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
if "TINYGRAD_EDU_DATA" not in os.environ and _shared_data.is_dir():
    os.environ["TINYGRAD_EDU_DATA"] = str(_shared_data)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("dev", deadline=None, max_examples=25,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
