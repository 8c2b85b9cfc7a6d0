"""Lesson 4: a convolutional network for handwritten digits (the main lesson).

What you will learn
  * convolution: a small filter slid over the image, so the network looks at
    neighbouring pixels together and reuses the same weights everywhere;
  * the NCHW shape convention and how Conv2d / MaxPool2d change it, layer by layer;
  * batch normalisation, and why model.train() / model.eval() matter for it;
  * a learning-rate schedule (StepLR) on top of Adam;
  * checkpoints: save the model and optimizer with tg.save, load them into a fresh
    model with tg.load + load_state_dict, and check that nothing was lost.

Same data as lesson 3 (1,797 8x8 digits, the same fixed 80/20 split), so you can
compare: the MLP gets about 97% of the test digits right, this CNN about 99%.

Run it:
    python lessons/04_cnn_digits.py              # full run: >= 97% test accuracy, ~10-20 s on 2 CPU cores
    python lessons/04_cnn_digits.py --epochs 4   # shorter
    python lessons/04_cnn_digits.py --quick      # what CI runs (2 epochs)
"""
import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import DataLoader, TensorDataset, digits


def split(images, labels, test_fraction=0.2, seed=0):
    """The same fixed 80/20 split as lesson 3 (the seed is not --seed, so the test set never changes)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def make_model():
    """Three 3x3 convolutions (each followed by batch norm and ReLU), two 2x2 max-pools, one linear layer.

    The output size of a convolution (and of pooling) along each spatial dim is

        out = floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1

    so padding=1 keeps the 8x8 size through each 3x3 convolution (8 + 2 - 2 - 1 + 1 = 8), and each
    2x2 max-pool with stride 2 halves it (floor((8 - 1 - 1) / 2) + 1 = 4).
    The channels grow (1 -> 16 -> 32 -> 64) while the image shrinks (8 -> 4 -> 2): the
    network trades "where" for "what".
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),    # (N, 16, 8, 8)
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),   # (N, 32, 8, 8)
        nn.MaxPool2d(2),                                                              # (N, 32, 4, 4)
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),   # (N, 64, 4, 4)
        nn.MaxPool2d(2),                                                              # (N, 64, 2, 2)
        nn.Flatten(),                                                                 # (N, 256)
        nn.Linear(64 * 2 * 2, 10),                                                    # (N, 10) logits
    )


def evaluate(model, images, labels, batch_size=512):
    """(accuracy, predictions). eval() makes BatchNorm use its running statistics, not the batch's."""
    model.eval()
    predictions = []
    with tg.no_grad():
        for start in range(0, len(labels), batch_size):
            predictions.append(model(images[start:start + batch_size]).argmax(dim=1).numpy())
    model.train()
    predictions = np.concatenate(predictions)
    return float((predictions == labels.numpy()).mean()), predictions


def main():
    args = common.parse_args(__file__, __doc__, epochs=12, quick_epochs=2, device=True)
    tg.manual_seed(args.seed)

    # ---- data: images keep their 2-D layout this time: (N, channels=1, height=8, width=8) --------
    images, labels = digits()
    x_train, y_train, x_test, y_test = split(images, labels)
    x_train, y_train = x_train.to(args.device), y_train.to(args.device)
    x_test, y_test = x_test.to(args.device), y_test.to(args.device)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")

    # ---- model, and the shape of the data after each layer ------------------------------------
    model = make_model().to(args.device)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; the shape after each layer:")
    with tg.no_grad():
        h = x_train[:2]
        print(f"  {'input':<58} {tuple(h.shape)}")
        for layer in model:
            h = layer(h)
            print(f"  {repr(layer):<58} {tuple(h.shape)}")

    # Adam adapts a step size per parameter; StepLR then cuts every step size by 5x every third
    # of the run, so training settles down at the end.
    optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = tg.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.2)

    # ---- train --------------------------------------------------------------------------------
    losses, test_accs = [], []
    bar = common.Progress(args.epochs * len(loader), desc="train", unit="batch")
    for epoch in range(args.epochs):
        model.train()                               # BatchNorm normalises with each batch's statistics
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.update(epoch=epoch + 1, loss=losses[-1], lr=f"{scheduler.get_last_lr()[0]:.1e}")
        scheduler.step()                            # once per epoch, after the optimizer steps
        acc, _ = evaluate(model, x_test, y_test)
        test_accs.append(acc)
        bar.update(0, test_acc=acc)
    bar.close()
    test_acc, predictions = evaluate(model, x_test, y_test)
    train_acc, _ = evaluate(model, x_train, y_train)
    print(f"train accuracy {train_acc:.4f}   test accuracy {test_acc:.4f} "
          f"({int((predictions != y_test.numpy()).sum())} of {len(predictions)} test digits wrong)")

    # ---- checkpoint: save, load into a fresh model, check ---------------------------------------
    # A state dict maps names ("0.weight", "1.running_mean", ...) to tensors. BatchNorm's running
    # statistics are *buffers*: not trained by the optimizer, but part of the state all the same.
    path = args.out / "cnn_digits.npz"
    tg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": args.epochs}, path)
    print(f"saved a checkpoint to {path.name} ({path.stat().st_size / 1024:.0f} KiB): "
          f"{len(model.state_dict())} tensors in the model's state dict")

    checkpoint = tg.load(path)                      # a plain numpy .npz inside: no pickled code
    restored = make_model()                         # fresh random weights ...
    restored.load_state_dict(checkpoint["model"])   # ... replaced by the saved ones
    restored = restored.to(args.device)
    restored_opt = tg.optim.Adam(restored.parameters(), lr=3e-3)
    restored_opt.load_state_dict(checkpoint["optimizer"])   # Adam's moments too, to resume training
    restored_acc, restored_predictions = evaluate(restored, x_test, y_test)
    print(f"reloaded model (epoch {checkpoint['epoch']}): test accuracy {restored_acc:.4f}")
    assert restored_acc == test_acc and np.array_equal(restored_predictions, predictions), \
        "the reloaded model should predict exactly what the saved one did"

    # ---- where does a training step spend its time? ----------------------------------------------
    # tg.profile() times every op's forward and backward. A CNN step is dominated by the
    # convolutions (im2col + one big matrix product each way) and the pooling; everything
    # elementwise is cheap. Compare with PyTorch's profiler: prof.key_averages().table().
    model.train()
    xb, yb = next(iter(loader))
    with tg.profile() as prof:
        optimizer.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    print("one training step, op by op (tg.profile):")
    print(prof.table(row_limit=8))

    # ---- pictures -----------------------------------------------------------------------------
    common.plot_loss_and_accuracy(args.out / "loss_curve.png", losses, len(loader), test_accs,
                                  title=f"CNN on digits; test accuracy {test_acc:.3f}", logy=True)
    truth = y_test.numpy()
    wrong = np.flatnonzero(predictions != truth)
    show = np.concatenate([wrong[:8], np.setdiff1d(np.arange(len(truth)), wrong)[:24 - min(len(wrong), 8)]])
    common.plot_images(args.out / "predictions.png",
                       [x_test[int(i)].numpy()[0] for i in show],
                       [f"pred {predictions[i]} / true {truth[i]}" for i in show],
                       colors=["red" if predictions[i] != truth[i] else "black" for i in show],
                       title="CNN test predictions (mistakes in red, shown first)")
    filters = model[0].weight.numpy()[:, 0]          # the 16 first-layer 3x3 filters
    common.plot_images(args.out / "filters.png", list(filters), [f"filter {i}" for i in range(len(filters))],
                       title="the 16 first-layer 3x3 filters (dark = large weight)")

    common.summary(args.name, [
        "Conv2d slides small filters over the image: few weights, shared across positions, and aware of "
        "which pixels are neighbours; MaxPool2d halves the resolution.",
        "Shapes are (N, C, H, W); channels grow as the image shrinks, then Flatten + Linear classify.",
        "BatchNorm uses batch statistics in train() and running averages in eval(): always call "
        "model.eval() before testing.",
        "A scheduler changes the optimizer's learning rate between epochs (StepLR: x0.2 every third).",
        "tg.save / tg.load store state dicts (parameters and buffers) and optimizer state; "
        "load_state_dict into a fresh model restores it exactly.",
    ], {"train accuracy": train_acc, "test accuracy": test_acc, "reloaded test accuracy": restored_acc,
        "final loss": losses[-1]})


if __name__ == "__main__":
    main()
