"""`tg.cuda`: is a CUDA device usable here?"""
from .backends.cuda_backend import cuda_unavailable_reason


def is_available():
    """True when our kernels can really run here: a tiny Numba CUDA kernel compiled, ran on a CuPy array
    and gave the right answer. Checked once per process, then remembered. Never raises, never prints."""
    return cuda_unavailable_reason() is None


def unavailable_reason():
    """None, or a sentence saying why device 'cuda' cannot be used on this machine and what to install:
    CuPy missing, no driver or GPU, numba-cuda without its CUDA compiler libraries, or a wrong answer."""
    return cuda_unavailable_reason()


def choose(op, implementation):
    """Run one hot op on the "cuda" device with "ours" (our kernel in kernels/) or "cupy" (CuPy's own).

    ops: elementwise, reduce, matmul, softmax, cross_entropy, im2col, pool, layer_norm, lstm_cell, attention.
    Defaults: ours everywhere except matmul, where cuBLAS (via CuPy) is the default.
    """
    from .backends import get_backend
    get_backend("cuda").choose(op, implementation)


def synchronize():
    """Wait until the GPU has finished everything queued so far (like torch.cuda.synchronize).

    Also runs the checks of device data that wait for such a moment (bad class targets or
    embedding indices: see `check_later` in backends/cupy_backend.py), so their errors come now.
    Does nothing when device "cuda" has not been used.
    """
    from .backends import _backends
    backend = _backends.get("cuda")
    if backend is None:
        return
    if backend.on_gpu:
        import cupy
        cupy.cuda.get_current_stream().synchronize()
    backend.run_pending_checks()
