"""Lesson 3: a multi-layer perceptron that reads handwritten digits.

What you will learn
  * the standard training loop: zero_grad -> forward -> loss -> backward -> step,
    the same five lines you will write in PyTorch;
  * how to split data into a training and a test set, and why you only ever report
    accuracy on examples the model never trained on;
  * nn.Sequential, nn.Linear, cross-entropy on logits, and the SGD / Adam optimizers;
  * model.train() / model.eval() and tg.no_grad() for evaluation.

The data: 1,797 scans of handwritten digits, 8x8 pixels each (scikit-learn's
"digits"). 80% train the network, the other 20% test it.

Run it:
    python lessons/03_mlp_digits.py                   # full run: ~97% test accuracy in seconds
    python lessons/03_mlp_digits.py --optimizer sgd   # plain SGD with momentum instead of Adam
    python lessons/03_mlp_digits.py --quick           # what CI runs
"""
import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import DataLoader, TensorDataset, digits


def split(images, labels, test_fraction=0.2, seed=0):
    """A random 80/20 split. The seed is fixed (not --seed), so every run tests on the same images."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def evaluate(model, images, labels, batch_size=512):
    """(accuracy, predictions) on a whole set, in eval mode and without building a graph."""
    model.eval()
    predictions = []
    with tg.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(images[start:start + batch_size])
            predictions.append(logits.argmax(dim=1).numpy())
    model.train()
    predictions = np.concatenate(predictions)
    return float((predictions == labels.numpy()).mean()), predictions


def main():
    args = common.parse_args(
        __file__, __doc__, epochs=30, quick_epochs=3, device=True,
        extra=lambda p: p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                                       help="adam (default, lr 1e-3) or sgd (lr 0.05, momentum 0.9)"))
    tg.manual_seed(args.seed)

    # ---- data ------------------------------------------------------------------------------
    images, labels = digits()                 # float32 (1797, 1, 8, 8) in [0, 1], int64 (1797,)
    x_train, y_train, x_test, y_test = split(images, labels)
    # An MLP sees a flat vector of 64 pixels; it knows nothing about which pixels are neighbours.
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)      # (N, 64)
    x_train, y_train = x_train.to(args.device), y_train.to(args.device)
    x_test, y_test = x_test.to(args.device), y_test.to(args.device)
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}; classes 0..9")
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)

    # ---- model -----------------------------------------------------------------------------
    # 64 pixels -> 128 hidden units -> 64 hidden units -> 10 scores ("logits"), one per digit.
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10),
    ).to(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(model)
    print(f"{n_params:,} parameters")

    if args.optimizer == "adam":
        optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)
    else:
        optimizer = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    # ---- the training loop -----------------------------------------------------------------
    losses, test_accs = [], []
    bar = common.Progress(args.epochs * len(loader), desc="train", unit="batch")
    for epoch in range(args.epochs):
        for xb, yb in loader:
            optimizer.zero_grad()                 # 1. clear the gradients of the last step
            logits = model(xb)                    # 2. forward: (B, 10) scores
            loss = F.cross_entropy(logits, yb)    # 3. loss: softmax + negative log-likelihood, in one
            loss.backward()                       # 4. backward: d loss / d every parameter
            optimizer.step()                      # 5. update the parameters
            losses.append(loss.item())
            bar.update(epoch=epoch + 1, loss=losses[-1])
        acc, _ = evaluate(model, x_test, y_test)
        test_accs.append(acc)
        bar.update(0, test_acc=acc)
    bar.close()

    train_acc, _ = evaluate(model, x_train, y_train)
    test_acc, predictions = evaluate(model, x_test, y_test)
    print(f"train accuracy {train_acc:.4f}   test accuracy {test_acc:.4f} "
          f"({int(round((1 - test_acc) * len(predictions)))} of {len(predictions)} test digits wrong)")

    # ---- pictures --------------------------------------------------------------------------
    common.plot_loss_and_accuracy(args.out / "loss_curve.png", losses, len(loader), test_accs,
                                  title=f"MLP on digits ({args.optimizer}); test accuracy {test_acc:.3f}")
    truth = y_test.numpy()
    wrong = np.flatnonzero(predictions != truth)
    show = np.concatenate([wrong[:8], np.setdiff1d(np.arange(len(truth)), wrong)[:24 - min(len(wrong), 8)]])
    common.plot_images(args.out / "predictions.png",
                       [x_test[int(i)].numpy().reshape(8, 8) for i in show],
                       [f"pred {predictions[i]} / true {truth[i]}" for i in show],
                       colors=["red" if predictions[i] != truth[i] else "black" for i in show],
                       title="MLP test predictions (mistakes in red, shown first)")

    common.summary(args.name, [
        "Training is one loop of five lines: zero_grad, forward, loss, backward, step.",
        "Accuracy is measured on a held-out test set (20%, fixed split) the model never trained on; "
        "the gap between train and test accuracy is overfitting.",
        "F.cross_entropy takes raw logits and integer labels; argmax of the logits is the prediction.",
        "model.eval() plus tg.no_grad() for evaluation: no dropout/batch-norm updates, no graph.",
        "An MLP treats the image as a flat list of 64 numbers; lesson 4's CNN uses the 2-D layout.",
    ], {"train accuracy": train_acc, "test accuracy": test_acc, "final loss": losses[-1]})


if __name__ == "__main__":
    main()
