"""The BLAS thread policy: one thread for small products, the free cores for large ones (blas_threads.py)."""
import numpy as np

from tinygrad_edu import blas_threads as bt


class FakeClock:
    def __init__(self):
        self.wall, self.machine, self.mine = 0.0, 0.0, 0.0


def make_free_cores(monkeypatch, cores=2):
    clock = FakeClock()
    free = bt.FreeCores(cores)
    monkeypatch.setattr(bt.time, "monotonic", lambda: clock.wall)
    monkeypatch.setattr(bt.time, "process_time", lambda: clock.mine)
    monkeypatch.setattr(free, "_machine_busy_seconds", lambda: clock.machine)
    return free, clock


def test_free_cores_subtract_what_other_programs_use(monkeypatch):
    free, clock = make_free_cores(monkeypatch)
    assert free.now() == 2                       # first look: nothing measured yet, every core counts
    clock.wall, clock.machine, clock.mine = 1.0, 2.0, 1.0    # the machine was busy 2 cores, we used 1
    assert free.now() == 1
    clock.wall, clock.machine, clock.mine = 1.2, 2.4, 1.2    # too soon to look again: the last answer stays
    assert free.now() == 1
    clock.wall, clock.machine, clock.mine = 2.0, 3.9, 2.9    # we used 1.9 cores of 1.9: the others left
    assert free.now() == 2


def test_free_cores_never_below_one(monkeypatch):
    free, clock = make_free_cores(monkeypatch)
    free.now()
    clock.wall, clock.machine, clock.mine = 1.0, 5.0, 0.0    # others busier than the machine has cores
    assert free.now() == 1


def test_small_products_run_on_one_thread_and_large_ones_on_the_free_cores(monkeypatch):
    threads = bt.BlasThreads()
    monkeypatch.setattr(threads.free_cores, "now", lambda: 7)
    assert threads.threads_for(32, 128, 512) == 1
    assert threads.threads_for(1024, 512, 128) == 7
    calls = []
    threads._setter, threads._current = calls.append, None
    threads.for_product((64, 32, 64), (64, 64, 32))           # a stack of small products: sized per matrix
    threads.for_product((64, 32, 64), (64, 64, 32))           # unchanged: OpenBLAS is not called again
    threads.for_product((1024, 512), (512, 128))
    assert calls == [1, 7]


def test_the_library_finds_numpys_openblas_or_stays_out_of_the_way():
    threads = bt.blas_threads()
    a = np.ones((300, 300), np.float32)
    threads.for_product(a.shape, a.shape)                     # never raises, whatever the BLAS
    assert (a @ a)[0, 0] == 300


# ---- parallel work on OpenBLAS's own threads (run_parts) ------------------------------------------------
def test_run_parts_runs_every_part_on_openblas_threads_at_the_same_time():
    """Two parts that each wait for the other can only finish if they run at the same time, on two threads."""
    import threading
    threads = bt.blas_threads()
    assert threads.active and threads._run_on_pool is not None and threads._run_on_pool.workers() >= 2, \
        "numpy's OpenBLAS (with gotoblas_pthread and two threads) is expected on the test machines"
    meeting = threading.Barrier(2, timeout=10)
    seen = {}

    def part(name):
        seen[name] = threading.get_ident()
        meeting.wait()                       # raises BrokenBarrierError after 10 s if the other part is not running

    threads.run_parts(part, [("first",), ("second",)])
    assert set(seen) == {"first", "second"} and seen["first"] != seen["second"]
    assert seen["first"] == threading.get_ident()          # the first part runs on the calling thread
    assert threads._current == 1                          # BLAS stayed on one thread for the parts' own products


def test_run_parts_raises_what_a_part_raised_and_runs_one_part_here():
    threads = bt.blas_threads()

    def part(k):
        if k == 1:
            raise ValueError("part 1 failed")

    try:
        threads.run_parts(part, [(0,), (1,)])
    except ValueError as error:
        assert "part 1 failed" in str(error)
    else:
        raise AssertionError("the part's exception was lost")
    calls = []
    threads.run_parts(lambda *a: calls.append(a), [(1, 2)])
    assert calls == [(1, 2)]


def test_run_parts_runs_one_after_another_when_there_are_more_parts_than_threads():
    threads = bt.blas_threads()
    import threading
    order = []
    parts = [(k,) for k in range(threads._run_on_pool.workers() + 1)]
    threads.run_parts(lambda k: order.append((k, threading.get_ident())), parts)
    assert [k for k, _ in order] == list(range(len(parts)))
    assert {ident for _, ident in order} == {threading.get_ident()}


def test_split_pass_shares_a_large_first_axis_out_over_the_free_cores(monkeypatch):
    threads = bt.blas_threads()
    monkeypatch.setattr(threads.free_cores, "now", lambda: 2)
    seen = []
    big = np.arange(bt.PARALLEL_PASS_ELEMENTS + 3, dtype=np.float64)
    out = np.empty_like(big)
    threads.split_pass(lambda a, b, shift: (seen.append((a[0], a.size)), np.add(a, shift, out=b)), [big, out], 1.0)
    assert sorted(seen) == [(0, big.size // 2), (big.size // 2, big.size - big.size // 2)]
    np.testing.assert_array_equal(out, big + 1)
    seen.clear()
    small = np.arange(10.0)
    threads.split_pass(lambda a: seen.append(a.size), [small])
    assert seen == [10]                          # too small to be worth a second thread
