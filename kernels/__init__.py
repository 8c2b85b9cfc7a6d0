"""Our own CUDA kernels, written with Numba CUDA: one file per hot op (see README.md)."""
