"""One seeded random generator for the whole library.

Every random factory, initializer and dropout mask draws from `generator()`, on
the CPU, so `tg.manual_seed(n)` makes a run reproducible on any device.
"""
import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseed the generator behind randn/rand/randint, nn.init and dropout."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    return _generator
