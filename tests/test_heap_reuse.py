"""glibc keeps a training step's freed arrays for the next step (tinygrad_edu/heap_reuse.py)."""
import os
import subprocess
import sys

import pytest

from tinygrad_edu import heap_reuse

# Each round allocates four 8 MiB arrays (more than glibc's default trim threshold adapts to),
# writes them, and frees them all: the pattern of a step's activations. It prints the minor
# page faults of the last 10 rounds, after 3 rounds of warm-up.
_ROUNDS = """
import resource, numpy as np, tinygrad_edu
def round_():
    arrays = [np.ones(2 * 1024 * 1024, dtype=np.float32) for _ in range(4)]
    del arrays
for _ in range(3):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(heap_reuse._glibc() is None, reason="glibc's malloc thresholds only")


def _faults(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TINYGRAD_EDU_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", _ROUNDS], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@glibc_only
def test_freed_arrays_are_reused_without_page_faults():
    # 10 rounds x 32 MiB would be 81920 fresh 4 KiB pages if nothing were kept
    assert _faults() < 1000


@glibc_only
def test_glibc_defaults_fault_every_round_when_asked_for():
    # the opt-out really restores glibc's behaviour, which is what the first test is measured against
    assert _faults(TINYGRAD_EDU_MALLOC="default") > 5000


@pytest.mark.parametrize("env, chose", [
    ({}, False),
    ({"TINYGRAD_EDU_MALLOC": "default"}, True),
    ({"TINYGRAD_EDU_MALLOC": "tuned"}, False),
    ({"MALLOC_TRIM_THRESHOLD_": "131072"}, True),
    ({"MALLOC_MMAP_THRESHOLD_": "131072"}, True),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}, True),
    ({"GLIBC_TUNABLES": "glibc.rtld.nns=2"}, False),
])
def test_the_users_own_malloc_settings_win(env, chose):
    assert heap_reuse.user_chose_malloc_settings(env) is chose
