"""erf for numpy arrays: numpy has no erf, so compile math.erf into a ufunc with Numba."""
import math

import numba


@numba.vectorize(["float32(float32)", "float64(float64)"], cache=True)
def erf(x):
    return math.erf(x)
