"""The CPU backend: numpy arrays.

`xp` is numpy itself; the methods below are the hot ops that the CUDA backend
replaces with its own kernels. Each is written with whole-array numpy calls only.
"""
import numpy as np


class NumpyBackend:
    name = "cpu"
    xp = np

    def asarray(self, data, dtype=None):
        if hasattr(data, "get") and not isinstance(data, np.ndarray):  # a CuPy array: copy to the host
            data = data.get()
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return array

    # ---- hot ops -------------------------------------------------------------------------
    def matmul(self, a, b):
        return np.matmul(a, b)

    def index_add(self, target, index, values):
        """target[index] += values, accumulating where `index` repeats an element."""
        np.add.at(target, index, values)
