"""What one training step asks of a GPU: kernel launches and host synchronisations, counted under the simulator.

The four BENCHMARKS.md workloads run on the "cuda" device simulated on counting arrays
(tinygrad_edu/backends/simulated_device.py; our own kernels are counted by
kernels/launch.py), with the same layers at tiny sizes. A step must never make Python wait
for the device (no device->host transfer) nor copy data from the host, and must stay within
its launch budget: each launch costs microseconds of Python before the GPU does anything.
"""
import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import bench
from tinygrad_edu.backends import simulated_device
from tinygrad_edu.kernels.launch import LAUNCHES

pytestmark = pytest.mark.kernels

# Launches (our kernels + array operations) per training step; the lstm's at T = 64.
LAUNCH_BUDGET = {"mlp": 20, "cnn": 60, "lstm": 60, "gpt": 200}


def count_one_step(name, **sizes):
    """(our kernel launches, device counters) of one training step after two warm-up steps."""
    model, step = bench.build(tg, name, "cuda", size="tiny", **sizes)
    step()
    step()
    simulated_device.COUNTERS.reset()
    LAUNCHES.reset()
    loss = step()
    counts = simulated_device.COUNTERS.snapshot()
    assert np.isfinite(loss.item())          # reading the loss is the one transfer, after the step
    return LAUNCHES.count, counts


@pytest.mark.parametrize("name", bench.WORKLOADS)
def test_a_training_step_never_waits_for_the_device(counted_cuda, name):
    kernels, counts = count_one_step(name, **({"seq_len": 64} if name == "lstm" else {}))
    assert counts["to_host"] == 0, f"{name}: {counts['to_host']} device->host transfers in one step"
    assert counts["to_device"] == 0, f"{name}: {counts['to_device']} host->device copies in one step"
    total = kernels + counts["launches"]
    assert total <= LAUNCH_BUDGET[name], (f"{name}: {total} launches per step ({kernels} of our kernels, "
                                          f"{counts['launches']} array operations); budget {LAUNCH_BUDGET[name]}")


def test_the_lstm_step_launches_as_many_kernels_for_any_sequence_length(counted_cuda):
    # the time loop runs inside the kernels: launches must not grow with T
    short, long = (count_one_step("lstm", seq_len=t) for t in (3, 17))
    assert short[0] + short[1]["launches"] == long[0] + long[1]["launches"], (short, long)


def test_reading_a_value_is_counted_as_a_transfer(counted_cuda):
    x = tg.ones(3, device="cuda")
    simulated_device.COUNTERS.reset()
    total = x.sum()
    assert simulated_device.COUNTERS.to_host == 0
    assert total.item() == 3.0
    assert simulated_device.COUNTERS.to_host == 1
    assert bool(x.array.sum() > 0)          # an implicit conversion of a device array is one too
    assert simulated_device.COUNTERS.to_host == 2


def test_bad_targets_on_the_device_are_reported_at_the_next_read(counted_cuda):
    logits = tg.randn(4, 3, device="cuda", requires_grad=True)
    target = tg.tensor([0, 1, 3, 2], device="cuda")
    loss = tg.nn.functional.cross_entropy(logits, target)        # no synchronisation here: no error yet
    assert simulated_device.COUNTERS.to_host == 0
    with pytest.raises(IndexError, match=r"cross_entropy: target value 3 is out of range for 3 classes"):
        loss.item()
    assert counted_cuda.pending_checks == []                      # reported once, then forgotten
    assert np.isnan(loss.item())                                  # the value itself is NaN (the bad row)


def test_bad_embedding_indices_on_the_device_are_reported_at_the_next_read(counted_cuda):
    emb = tg.nn.Embedding(5, 2).to("cuda")
    out = emb(tg.tensor([[1, 7]], device="cuda"))
    with pytest.raises(IndexError, match=r"embedding: index 7 .* out of range for 5 embeddings"):
        out.numpy()


def test_synchronize_reports_what_was_waiting(counted_cuda):
    tg.nn.functional.cross_entropy(tg.randn(2, 3, device="cuda"), tg.tensor([5, 0], device="cuda"))
    with pytest.raises(IndexError, match="target value 5"):
        tg.cuda.synchronize()
    tg.cuda.synchronize()                                         # nothing left: no error


def test_pending_checks_run_even_if_the_program_never_reads(counted_cuda, monkeypatch):
    from tinygrad_edu.backends import cupy_backend
    monkeypatch.setattr(cupy_backend, "MAX_PENDING_CHECKS", 3)
    runs = []
    for i in range(2):
        counted_cuda.check_later(lambda i=i: runs.append(i))
    assert runs == []
    counted_cuda.check_later(lambda: runs.append(2))
    assert runs == [0, 1, 2] and counted_cuda.pending_checks == []


def test_on_the_cpu_checks_run_at_once():
    with pytest.raises(IndexError, match="cross_entropy: target value 3"):
        tg.nn.functional.cross_entropy(tg.randn(2, 3), tg.tensor([0, 3]))
