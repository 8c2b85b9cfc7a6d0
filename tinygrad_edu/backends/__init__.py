"""Devices and their backends.

A backend is the flat table of array operations that ops call: `xp` is the array
module (numpy on "cpu", CuPy on "cuda"), and the hot ops (matmul, im2col, softmax,
...) are methods so that a device can route them to its own kernels. The CUDA
backend is created lazily, on first use: importing tinygrad_edu never touches CuPy.
"""
from .numpy_backend import NumpyBackend

_backends = {"cpu": NumpyBackend()}


def canonical_device(device):
    """'cpu', 'cuda' (also accepts 'cuda:0' and objects whose str is one of those)."""
    if device is None:
        return "cpu"
    name = str(device)
    if name in ("cpu", "cuda"):
        return name
    if name == "cuda:0":
        return "cuda"
    raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")


def get_backend(device):
    device = canonical_device(device)
    backend = _backends.get(device)
    if backend is None:
        from .cuda_backend import make_cuda_backend
        backend = _backends[device] = make_cuda_backend()
    return backend


def backend_of_array(array):
    """The backend whose array module made `array` (numpy arrays belong to the CPU)."""
    module = type(array).__module__
    if module.startswith("cupy") or module.endswith("simulated_device"):
        return get_backend("cuda")
    return _backends["cpu"]
