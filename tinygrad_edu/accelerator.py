"""`tg.accelerator`, PyTorch's device-agnostic view of "is there a GPU?"."""
from . import cuda
from .device import device


def is_available():
    """True when the CUDA device can be used."""
    return cuda.is_available()


def current_accelerator():
    """device('cuda') when a GPU can be used, else None."""
    return device("cuda") if cuda.is_available() else None


def device_count():
    return 1 if cuda.is_available() else 0
