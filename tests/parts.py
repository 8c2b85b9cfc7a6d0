"""A test helper: run the CPU's parallel passes as if `cores` cores were free, however small the work."""
import contextlib

import pytest

from tinygrad_edu import blas_threads as threads_module


@contextlib.contextmanager
def split_over(cores):
    """Within this block FreeCores answers `cores`, all work counts as large enough to split (PARALLEL_PASS_ELEMENTS
    and SMALL_PRODUCT_FLOP made tiny), and the block yields the list of how many parts each call of run_parts
    was given."""
    threads = threads_module.blas_threads()
    counts = []
    run_parts = threads.run_parts

    def counting(function, parts):
        counts.append(len(parts))
        return run_parts(function, parts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads_module, "PARALLEL_PASS_ELEMENTS", 1)
        patch.setattr(threads_module, "SMALL_PRODUCT_FLOP", 1)
        patch.setattr(threads.free_cores, "now", lambda: cores)
        patch.setattr(threads, "run_parts", counting)
        yield counts
