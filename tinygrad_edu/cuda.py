"""`tg.cuda`: is a CUDA device usable here?"""
from .backends.cuda_backend import cuda_unavailable_reason


def is_available():
    """True when CuPy is installed and can see an NVIDIA GPU. Never raises, never prints."""
    return cuda_unavailable_reason() is None


def unavailable_reason():
    """None, or a sentence saying why device 'cuda' cannot be used on this machine."""
    return cuda_unavailable_reason()


def choose(op, implementation):
    """Run one hot op on the "cuda" device with "ours" (our kernel in kernels/) or "cupy" (CuPy's own).

    ops: elementwise, reduce, matmul, softmax, cross_entropy, im2col, lstm_cell, attention.
    Defaults: ours everywhere except matmul, where cuBLAS (via CuPy) is the default.
    """
    from .backends import get_backend
    get_backend("cuda").choose(op, implementation)
