"""The "cuda" device: CuPy arrays. Created only when a tensor first asks for it.

Can this machine use it? Finding CuPy and a GPU is not enough: our kernels are
compiled by Numba at run time, which needs the CUDA compiler libraries (NVVM and
NVRTC), and the CUDA builds of CuPy and numba-cuda must suit the installed driver.
Any of these can be missing on a machine that has a GPU, and then every kernel
launch would fail later, in the middle of a training step. So the check does the
real thing, once per process: it compiles a tiny Numba CUDA kernel (cuda_probe.py),
launches it on a CuPy array, and compares the result with the right answer. When a
step fails, the answer is a sentence naming what is missing and how to install it
(the extra of this project that matches the driver: `.[cuda12]` or `.[cuda13]`).

Under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) nothing is compiled: kernels
would run as Python threads on the CPU, so the device counts as unavailable there.
The tests reach the simulated device another way (`CudaBackend(xp=numpy)`).
"""
import threading

import numpy as np

_NOT_CHECKED = object()
_reason = _NOT_CHECKED       # None (usable) or a sentence, once checked
_lock = threading.Lock()     # two threads asking at once still run the probe once


def cuda_unavailable_reason():
    """None when a CUDA device can be used, else a sentence saying why not.

    The answer is found once per process (compiling the probe kernel takes a second) and
    then remembered. Never raises, never prints.
    """
    global _reason
    with _lock:
        if _reason is _NOT_CHECKED:
            try:
                _reason = _find_reason()
            except Exception as exc:  # a bug here must not break `import`-time checks such as is_available()
                _reason = f"checking for a usable GPU failed unexpectedly ({_describe(exc)})"
    return _reason


def make_cuda_backend():
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device 'cuda' is not available: {reason}")
    from .cupy_backend import CudaBackend
    return CudaBackend()


# ---- the checks, in the order a GPU install can break ---------------------------------------
def _find_reason():
    """Walk from "is CuPy there" to "did a compiled kernel compute the right numbers"; the first failure says why."""
    try:
        import cupy
    except ImportError as exc:
        if getattr(exc, "name", None) == "cupy":
            return f"CuPy is not installed; {_install_hint(None)}"
        return f"CuPy is installed but cannot be imported ({_describe(exc)}); {_install_hint(None)}"
    except Exception as exc:  # CuPy's import can fail in other ways too, e.g. on a broken CUDA library
        return f"CuPy is installed but cannot be imported ({_describe(exc)}); {_install_hint(None)}"

    if _simulator_is_on():
        return ("Numba's CUDA simulator is switched on (NUMBA_ENABLE_CUDASIM=1), so kernels would run as Python "
                "on the CPU; unset NUMBA_ENABLE_CUDASIM to use the GPU")

    runtime = cupy.cuda.runtime
    try:
        driver = runtime.driverGetVersion()  # e.g. 12040 for CUDA 12.4; 0 when no driver is installed
    except Exception as exc:                 # CuPy could not load its CUDA runtime library
        return f"CuPy could not load the CUDA runtime ({_describe(exc)}); {_install_hint(None)}"
    if not driver:
        return "no NVIDIA driver was found (CuPy reports driver version 0): this machine cannot run CUDA"
    driver_major = driver // 1000
    try:
        built_for = runtime.runtimeGetVersion()
    except Exception:
        built_for = 0
    try:
        count = runtime.getDeviceCount()
    except Exception as exc:  # no GPU visible, or a driver too old for CuPy's CUDA build
        if built_for // 1000 > driver_major:
            return (f"CuPy was built for CUDA {_version(built_for)} but the driver supports only CUDA "
                    f"{_version(driver)}; {_install_hint(driver_major)} ({_describe(exc)})")
        return f"the CUDA driver (CUDA {_version(driver)}) could not be used ({_describe(exc)})"
    if count == 0:
        return f"a CUDA driver (CUDA {_version(driver)}) is installed but no GPU was found"

    try:
        got = _run_probe_kernel(cupy)
    except Exception as exc:
        return _explain_probe_failure(exc, driver_major)
    from .cuda_probe import right_answer
    if not np.array_equal(np.asarray(got), right_answer()):
        return (f"a test kernel compiled and ran on the GPU but gave a wrong answer (expected out[i] = 2*i + 1, "
                f"got {np.asarray(got)[:8].tolist()}...): the GPU, driver or CUDA libraries are not working")
    return None


def _run_probe_kernel(cupy):
    """Compile and launch the probe kernel (cuda_probe.py) on CuPy arrays; its output as a numpy array."""
    from . import cuda_probe
    return cuda_probe.run(cupy)


def _explain_probe_failure(exc, driver_major):
    """A sentence for an exception raised while compiling or launching the probe kernel."""
    text = f"{type(exc).__name__} {exc}".lower()
    if any(name in text for name in ("nvrtc", "nvvm", "libdevice", "nvjitlink")):
        return ("Numba cannot compile CUDA kernels: the CUDA compiler libraries (NVVM/NVRTC) were not found "
                "(numba-cuda installed without its CUDA extra lacks them); "
                f"{_install_hint(driver_major)} ({_describe(exc)})")
    if "driver" in text:
        return f"Numba could not use the CUDA driver to run a test kernel ({_describe(exc)})"
    return f"a test kernel could not be compiled and launched on the GPU ({_describe(exc)})"


def _simulator_is_on():
    """Whether Numba was imported with its CUDA simulator switched on (its config, not today's environment)."""
    try:                                   # numba-cuda keeps its settings here ...
        from numba.cuda.core import config
    except ImportError:                    # ... older Numba kept them in numba.core
        from numba.core import config
    return bool(config.ENABLE_CUDASIM)


# ---- wording -------------------------------------------------------------------------------
def _install_hint(driver_major):
    """Which extra to install: the one matching the driver's CUDA major version, when it is known."""
    if driver_major is not None and driver_major >= 13:
        return 'install the CUDA 13 extra: `pip install -e ".[cuda13]"`'
    if driver_major == 12:
        return 'install the CUDA 12 extra: `pip install -e ".[cuda12]"`'
    return ('install the extra matching the driver\'s CUDA version (`nvidia-smi` shows it) on a machine with an '
            'NVIDIA GPU: `pip install -e ".[cuda12]"` or `pip install -e ".[cuda13]"`')


def _version(number):
    """CUDA's version numbers as text: 12040 -> '12.4'."""
    return f"{number // 1000}.{number % 1000 // 10}"


def _describe(exc, limit=400):
    """An exception as one short line: its type and the start of its message."""
    message = " ".join(str(exc).split())
    if len(message) > limit:
        message = message[:limit] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
