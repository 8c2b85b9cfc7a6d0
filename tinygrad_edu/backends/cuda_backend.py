"""The "cuda" device: CuPy arrays. Created only when a tensor first asks for it."""


def cuda_unavailable_reason():
    """None when a CUDA device can be used, else a sentence saying why not."""
    try:
        import cupy
    except ImportError:
        return ("CuPy is not installed; install the CUDA extra with `pip install -e \".[cuda]\"` "
                "on a machine with an NVIDIA GPU")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, or a driver/runtime mismatch
        return f"CuPy is installed but the CUDA driver could not be used ({exc})"
    if count == 0:
        return "CuPy and a CUDA driver are installed but no GPU was found"
    return None


def make_cuda_backend():
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device 'cuda' is not available: {reason}")
    from .cupy_backend import CudaBackend
    return CudaBackend()
