"""The one switch for the CPU's compiled fast paths (cpu_conv.py, cpu_layer_norm.py, cpu_activations.py,
cpu_attention.py, cpu_optimizer.py).

Each fast path computes exactly what a plain, readable version of its op computes, only
faster. `plain()` turns them all off in the calling thread, so that tests (and curious
students) can run the plain versions on the same data and compare; `takes` is the test each
fast path makes before it runs: CPU backend, numpy float32 or float64 arrays of one dtype,
none of them empty.
"""
import contextlib
import threading

import numpy as np


class _Switch(threading.local):
    """Whether ops take the fast paths, for each thread on its own (False inside `plain()`)."""
    on = True


_switch = _Switch()


@contextlib.contextmanager
def plain():
    """Within this block (in this thread) every op runs its plain version: the backend's whole-array numpy code
    (the assignments' code), as on a device without these loops."""
    before, _switch.on = _switch.on, False
    try:
        yield
    finally:
        _switch.on = before


def active():
    """Whether the fast paths are on in this thread (False inside `plain()`)."""
    return _switch.on


def takes(backend, *arrays):
    """Whether the fast paths take these arrays: on the CPU backend, non-empty numpy float32 or float64
    arrays, all of one dtype."""
    dtype = arrays[0].dtype
    return (_switch.on and backend.name == "cpu" and dtype in (np.float32, np.float64)
            and all(type(a) is np.ndarray and a.dtype == dtype and a.size for a in arrays))
