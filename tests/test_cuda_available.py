"""`tg.cuda.is_available()` and `unavailable_reason()`: True only when a kernel really runs, else a clear why.

The check (tinygrad_edu/backends/cuda_backend.py) imports CuPy, asks the driver for a
GPU, then compiles and launches a tiny Numba CUDA kernel on a CuPy array and checks
its answer. No GPU is needed here: each failure mode is faked, with a fake `cupy`
module in sys.modules and a probe that raises the error a real install raises. The
probe kernel itself runs for real under Numba's CUDA simulator, on numpy arrays
dressed up as CuPy.
"""
import sys
import threading
import types

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import backends
from tinygrad_edu.backends import cuda_backend, cuda_probe

pytestmark = pytest.mark.kernels

RIGHT_ANSWER = 2 * np.arange(cuda_probe.SIZE, dtype=np.float32) + 1  # out[i] = 2 * x[i] + 1, x = 0, 1, ...


@pytest.fixture(autouse=True)
def fresh_check(monkeypatch):
    """Every test starts unchecked, with no "cuda" backend made; the real cached answer comes back afterwards."""
    monkeypatch.setattr(cuda_backend, "_reason", cuda_backend._NOT_CHECKED)
    monkeypatch.delitem(backends._backends, "cuda", raising=False)


def fake_cupy(driver=12040, runtime=12090, devices=1, device_error=None, numpy_arrays=False):
    """A stand-in for the `cupy` module: a driver and runtime of the given CUDA versions (12040 = 12.4).

    device_error: raised by getDeviceCount; numpy_arrays: give it arange/zeros_like/asnumpy backed by
    numpy, so the real probe kernel can run on its arrays under the simulator.
    """
    def device_count():
        if device_error is not None:
            raise device_error
        return devices

    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        driverGetVersion=lambda: driver, runtimeGetVersion=lambda: runtime, getDeviceCount=device_count))
    if numpy_arrays:
        cupy.float32, cupy.arange, cupy.zeros_like, cupy.asnumpy = np.float32, np.arange, np.zeros_like, np.asarray
    return cupy


@pytest.fixture
def gpu_machine(monkeypatch):
    """Install a fake CuPy and switch the simulator check off; returns a function to set the probe's behaviour."""
    def install(cupy=None, probe=None):
        monkeypatch.setitem(sys.modules, "cupy", cupy or fake_cupy())
        monkeypatch.setattr(cuda_backend, "_simulator_is_on", lambda: False)
        if probe is not None:
            monkeypatch.setattr(cuda_backend, "_run_probe_kernel", probe)
    return install


def raising(exc):
    def probe(cupy):
        raise exc
    return probe


def assert_unavailable(*parts):
    """is_available() is False and the reason names every part; making device "cuda" raises with that reason."""
    assert tg.cuda.is_available() is False
    reason = tg.cuda.unavailable_reason()
    for part in parts:
        assert part in reason, f"{part!r} not in {reason!r}"
    with pytest.raises(RuntimeError) as info:
        tg.zeros(2, device="cuda")
    assert "device 'cuda' is not available" in str(info.value) and reason in str(info.value)
    assert "cuda" not in backends._backends
    return reason


# ---- what is missing ------------------------------------------------------------------------
def test_without_cupy_the_reason_names_both_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now fails as if it were not installed
    assert_unavailable("CuPy is not installed", '".[cuda12]"', '".[cuda13]"')


def test_a_cupy_that_fails_to_import_is_reported_with_its_error(monkeypatch, tmp_path):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(
        "raise ImportError('libcudart.so.12: cannot open shared object file')\n")
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert_unavailable("CuPy is installed but cannot be imported", "libcudart.so.12", '".[cuda12]"')


def test_under_the_simulator_cupy_does_not_make_the_device_available(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    monkeypatch.setattr(cuda_backend, "_simulator_is_on", lambda: True)
    assert_unavailable("NUMBA_ENABLE_CUDASIM")


def test_no_driver(gpu_machine):
    gpu_machine(fake_cupy(driver=0))
    assert_unavailable("no NVIDIA driver")


def test_no_gpu(gpu_machine):
    gpu_machine(fake_cupy(devices=0))
    assert_unavailable("no GPU was found", "CUDA 12.4")


def test_driver_error_is_quoted(gpu_machine):
    gpu_machine(fake_cupy(device_error=RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")))
    assert_unavailable("could not be used", "cudaErrorNoDevice: no CUDA-capable device is detected")


def test_a_cupy_built_for_a_newer_cuda_than_the_driver_names_the_right_extra(gpu_machine):
    error = RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")
    gpu_machine(fake_cupy(driver=12040, runtime=13000, device_error=error))
    assert_unavailable("built for CUDA 13.0", "supports only CUDA 12.4", '".[cuda12]"', "cudaErrorInsufficientDriver")


@pytest.mark.parametrize("driver,extra", [(12040, '".[cuda12]"'), (13000, '".[cuda13]"')])
def test_missing_nvrtc_names_the_extra_that_brings_it(gpu_machine, driver, extra):
    error = RuntimeError('Failure finding "libnvrtc.so": No such file: libnvrtc.so.12')
    gpu_machine(fake_cupy(driver=driver), probe=raising(error))
    reason = assert_unavailable("NVVM/NVRTC", extra, 'Failure finding "libnvrtc.so"')
    assert ("cuda13" if driver == 12040 else "cuda12") not in reason  # only the extra that fits this driver


def test_missing_nvvm_names_the_extra_that_brings_it(gpu_machine):
    class NvvmSupportError(ImportError):  # the name numba-cuda gives it
        pass
    gpu_machine(fake_cupy(driver=13000), probe=raising(NvvmSupportError("libNVVM is not available")))
    assert_unavailable("NVVM/NVRTC", '".[cuda13]"', "NvvmSupportError: libNVVM is not available")


def test_any_other_probe_error_is_quoted(gpu_machine):
    gpu_machine(probe=raising(ValueError("something else went wrong")))
    assert_unavailable("could not be compiled and launched", "ValueError: something else went wrong")


def test_a_long_error_message_is_shortened_to_one_line(gpu_machine):
    gpu_machine(probe=raising(ValueError("line\n" * 500)))
    reason = assert_unavailable("ValueError: line line")
    assert "\n" not in reason and len(reason) < 700


def test_a_wrong_answer_is_caught(gpu_machine):
    gpu_machine(probe=lambda cupy: np.zeros(cuda_probe.SIZE, np.float32))
    assert_unavailable("wrong answer", "[0.0, 0.0")


def test_a_right_answer_makes_the_device_available(gpu_machine):
    gpu_machine(probe=lambda cupy: RIGHT_ANSWER.copy())
    assert tg.cuda.is_available() is True
    assert tg.cuda.unavailable_reason() is None


# ---- once per process, never raising, never printing -----------------------------------------
def test_the_probe_runs_once_per_process_even_from_many_threads(gpu_machine):
    calls = []

    def probe(cupy):
        calls.append(1)
        return RIGHT_ANSWER.copy()

    gpu_machine(probe=probe)
    threads = [threading.Thread(target=tg.cuda.is_available) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tg.cuda.is_available() and tg.cuda.unavailable_reason() is None
    assert len(calls) == 1


def test_a_failed_check_is_remembered_too(gpu_machine):
    calls = []

    def probe(cupy):
        calls.append(1)
        raise RuntimeError('Failure finding "libnvrtc.so"')

    gpu_machine(probe=probe)
    first = tg.cuda.unavailable_reason()
    assert tg.cuda.is_available() is False and tg.cuda.unavailable_reason() == first
    assert len(calls) == 1


def test_an_unexpected_error_in_the_check_never_raises(monkeypatch, capsys):
    def broken():
        raise KeyError("surprise")
    monkeypatch.setattr(cuda_backend, "_find_reason", broken)
    assert tg.cuda.is_available() is False
    assert "failed unexpectedly" in tg.cuda.unavailable_reason() and "surprise" in tg.cuda.unavailable_reason()
    assert capsys.readouterr() == ("", "")


def test_the_check_prints_nothing(gpu_machine, capsys):
    gpu_machine(probe=raising(RuntimeError('Failure finding "libnvrtc.so"')))
    tg.cuda.is_available()
    assert capsys.readouterr() == ("", "")


# ---- the probe kernel itself, under Numba's CUDA simulator ------------------------------------
def test_the_probe_kernel_computes_the_right_answer():
    got = cuda_backend._run_probe_kernel(fake_cupy(numpy_arrays=True))
    np.testing.assert_array_equal(got, RIGHT_ANSWER)
    np.testing.assert_array_equal(cuda_probe.right_answer(), RIGHT_ANSWER)
    assert cuda_probe.BLOCKS * cuda_probe.THREADS > cuda_probe.SIZE  # some threads must fall outside the array


def test_the_whole_check_passes_when_the_probe_kernel_runs(gpu_machine):
    gpu_machine(fake_cupy(numpy_arrays=True))  # the real probe, on numpy arrays under the simulator
    assert tg.cuda.unavailable_reason() is None


def test_the_real_answer_on_this_machine_is_a_sentence_or_none(monkeypatch):
    monkeypatch.undo()  # the answer this process has really cached (or will find), without fakes
    reason = tg.cuda.unavailable_reason()
    assert tg.cuda.is_available() is (reason is None)
    assert reason is None or (isinstance(reason, str) and reason)
