"""End to end: a small CNN, built and trained only with tinygrad_edu, learns the 8x8 digits."""
import time

import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import DataLoader, TensorDataset, digits

pytestmark = pytest.mark.slow


def _digits_or_skip():
    try:
        return digits()
    except FileNotFoundError as exc:
        pytest.skip(f"8x8 digits data not available offline: {exc}")


def test_small_cnn_reaches_95_percent_on_digits_within_60_seconds():
    images, labels = _digits_or_skip()
    tg.manual_seed(0)
    order = tg.Tensor(tg.random.generator().permutation(len(labels)))
    images, labels = images[order], labels[order]
    split = int(0.8 * len(labels))
    train = DataLoader(TensorDataset(images[:split], labels[:split]), batch_size=64, shuffle=True, seed=0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    opt = tg.optim.Adam(model.parameters(), lr=3e-3)

    start = time.perf_counter()
    for epoch in range(8):
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    elapsed = time.perf_counter() - start

    model.eval()
    with tg.no_grad():
        predictions = model(images[split:]).argmax(dim=1)
    accuracy = (predictions == labels[split:]).float().mean().item()
    print(f"digits CNN: test accuracy {accuracy:.3f} after {elapsed:.1f} s of training")
    assert accuracy >= 0.95
    assert elapsed < 60
