"""Lesson 9: residual networks -- why a deep plain CNN stalls and a ResNet of the same depth trains.

What you will learn
  * why depth alone fails: in a plain stack every layer multiplies the signal (forward) and the
    gradient (backward) by its own gain, so over 20 layers they shrink exponentially and the
    first layers get gradients of about 1e-10: the network cannot learn;
  * the residual block: out = relu(F(x) + x). The identity shortcut gives the gradient a path
    that skips F (d out / d x = 1 + d F / d x), so every layer gets a gradient of a sensible size;
  * BatchNorm inside the block keeps every layer's activations at unit scale, and a 1x1
    "projection" shortcut (stride 2) when a block changes the shape;
  * global average pooling instead of Flatten, and how to measure a network's health: the
    gradient norm of every layer (plotted for both networks);
  * with --dataset cifar10, the torchvision-style pipeline for real photos: a dataset with
    transforms (RandomCrop(32, padding=4) + RandomHorizontalFlip for augmentation, ToTensor,
    Normalize) and a DataLoader, and SGD with momentum and weight decay, the ResNet paper's recipe.

Two networks of the same depth (20 weighted layers: a 3x3 stem, 18 3x3 convolutions in three
stages of 16, 32 and 64 channels, one Linear layer) are trained on the 8x8 digits of lessons 3
and 4 with the same optimizer: a plain stack (Conv2d + ReLU, PyTorch's default initialisation,
no normalisation) and a ResNet-20 (residual blocks with BatchNorm). The plain one stays at chance
(loss ln 10 = 2.30); the residual one gets >= 98% of the test digits right.

Fair to say: the plain net is not hopeless at this depth -- a careful initialisation
(nn.init.kaiming_normal_ with zero biases) or BatchNorm alone makes it train, if more slowly.
Residual connections are what keep working as networks grow to 50, 100 or 1000 layers, and what
every modern architecture (the transformers of lessons 6 and 10 too) is built on.

CIFAR-10 (--dataset cifar10) trains only the ResNet-20, on 50,000 real 32x32 colour photos. The
loader reads cifar-10-binary.tar.gz (about 170 MB, the *binary* version) from --data-root or
$TINYGRAD_EDU_DATA, downloads it there if it can, and checks its sha256; without network, download
https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz yourself and pass --data-root. The target
for the full run (10 epochs, seed 0) is >= 70% test accuracy: a target, not a result -- it has not
been measured in this repository yet (the machine it was written on had no network). The lesson
prints the command and the time it took, so whoever runs it can record the figure here.

Run it:
    python lessons/09_residual_networks.py                   # digits: plain vs ResNet-20, ~45 s on 2 CPU cores
    python lessons/09_residual_networks.py --epochs 5        # shorter
    python lessons/09_residual_networks.py --quick           # what CI runs (1 epoch)
    python lessons/09_residual_networks.py --dataset cifar10 --data-root ~/data   # real CIFAR-10
    python lessons/09_residual_networks.py --dataset cifar10 --quick               # its pipeline on 256 photos

On 2 CPU cores one CIFAR-10 training step (128 photos) takes a few seconds, so the full CIFAR-10 run
(10 epochs of 391 steps) takes hours; --device cuda is the way to run it.

For the tests only: LESSON09_CIFAR10_SHA256=<hex> makes the CIFAR-10 loader accept an archive with
that sha256 instead of the published one (tests/test_lesson_09.py generates a tiny archive in the
real format). The file is still checked, against that digest; never set it for real data.
"""
import os
import shlex
import sys
import time

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import ChecksumError, DataLoader, Subset, TensorDataset, digits
from tinygrad_edu.vision import transforms
from tinygrad_edu.vision.datasets import CIFAR10

CIFAR10_TARGET = 0.70          # the full run's target test accuracy on CIFAR-10 (not measured here yet)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)   # per channel, train set


# =============================================================================================
# The two networks: same depth, same widths; one plain, one residual
# =============================================================================================
def stage_plan(widths, blocks_per_stage):
    """(in_channels, out_channels, stride) of every pair of 3x3 convolutions, stage by stage.

    The first pair of stages 2 and 3 has stride 2: the image halves (8 -> 4 -> 2 for the digits,
    32 -> 16 -> 8 for CIFAR-10) while the channels double, as in lesson 4 and in every ResNet.
    """
    plan, c = [], widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            plan.append((c, width, 2 if stage > 0 and block == 0 else 1))
            c = width
    return plan


class PlainNet(nn.Module):
    """A plain deep CNN: Conv2d + ReLU, again and again; no shortcuts, no normalisation.

    Every layer keeps PyTorch's default initialisation (Kaiming-uniform with a = sqrt(5): weights
    of variance 1 / (3 fan_in)). With ReLU, which zeroes half the signal, each layer then shrinks
    the variance of its input by about 6x (fan_in * 1/(3 fan_in) * 1/2 = 1/6) -- harmless in
    lesson 4's three layers, fatal in twenty.
    """

    def __init__(self, in_channels, widths, blocks_per_stage, classes=10):
        super().__init__()
        layers = [nn.Conv2d(in_channels, widths[0], 3, padding=1), nn.ReLU()]
        for c_in, c_out, stride in stage_plan(widths, blocks_per_stage):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU(),
                       nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        # global average pooling: the mean over height and width, one number per channel
        # (N, C, H, W) -> (N, C), whatever the image size; then a linear classifier
        return self.fc(self.features(x).mean(dim=(2, 3)))

    def layers(self):
        """The weighted layers from input to output (for the gradient-norm plot)."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)] + [self.fc]


class BasicBlock(nn.Module):
    """ResNet's basic block: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The convolutions have bias=False: the BatchNorm right after each one subtracts the mean
    anyway, and has its own bias (beta). When the block changes the shape (stride 2, more
    channels), x cannot be added as it is: a 1x1 convolution with stride 2 (+ BatchNorm)
    projects it to the new shape. Otherwise the shortcut is the identity -- no weights at all.
    """

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # The one line that makes the difference. In backward, the + sends the incoming gradient
        # to both branches unchanged: x gets it through the shortcut however small F's share is.
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A stem (3x3 conv + BN + ReLU), residual blocks in three stages, global average pooling, Linear.

    With widths (16, 32, 64) and 3 blocks per stage this is He et al.'s ResNet-20 for CIFAR-10:
    1 + 3 * 3 * 2 + 1 = 20 weighted layers (the 1x1 projections are not counted), like PlainNet.
    """

    def __init__(self, in_channels, widths, blocks_per_stage, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.blocks = nn.Sequential(*[BasicBlock(*plan) for plan in stage_plan(widths, blocks_per_stage)])
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))

    def layers(self):
        convs = [self.stem[0]]
        for block in self.blocks:
            convs += [block.conv1, block.conv2]
        return convs + [self.fc]


def signal_scales(model, x):
    """How different the images still look after the stem and after each pair of convolutions.

    The std over the batch (dim 0), averaged over every channel and pixel: how much an activation
    varies from one image to the next. That is the part of the signal that carries information
    about the input; a part that is the same for every image (the biases, say) tells nothing.
    """
    def spread(h):
        return h.std(dim=0).mean().item()
    with tg.no_grad():
        if isinstance(model, PlainNet):
            h, spreads = x, []
            for i, layer in enumerate(model.features):
                h = layer(h)
                if isinstance(layer, nn.ReLU) and i % 4 == 1:    # after the stem, then after every 2nd conv
                    spreads.append(spread(h))
            return spreads
        h = model.stem(x)
        spreads = [spread(h)]
        for block in model.blocks:
            h = block(h)
            spreads.append(spread(h))
        return spreads


# =============================================================================================
# Training: the usual loop, plus the gradient norm of every layer at every step
# =============================================================================================
def grad_norms(model):
    """The L2 norm of each weighted layer's weight gradient, input to output.

    (PyTorch would say p.grad.norm(); tinygrad_edu's Tensor has no .norm() yet, so it is
    written out: the square root of the sum of squares.)"""
    return [layer.weight.grad.pow(2).sum().sqrt().item() for layer in model.layers()]


def evaluate(model, batches, device):
    """(accuracy, predictions) over (images, labels) batches, in eval() mode (BatchNorm's running statistics)."""
    model.eval()
    predictions, labels = [], []
    with tg.no_grad():
        for xb, yb in batches:
            predictions.append(model(xb.to(device)).argmax(dim=1).numpy())
            labels.append(yb.numpy())
    model.train()
    predictions, labels = np.concatenate(predictions), np.concatenate(labels)
    return float((predictions == labels).mean()), predictions


def train(name, model, optimizer, loader, test_batches, epochs, device):
    """Train for `epochs`; returns losses per step, test accuracy per epoch, gradient norms per step."""
    steps = epochs * len(loader)
    # cosine schedule, stepped every step: big steps first, small ones at the end (lesson 6)
    scheduler = tg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses, accuracies, norms = [], [], []
    bar = common.Progress(steps, desc=f"{name:<8}", unit="batch")
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            norms.append(grad_norms(model))     # after backward, before the step changes the weights
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(epoch=epoch + 1, loss=losses[-1])
        accuracies.append(evaluate(model, test_batches(), device)[0])
        bar.update(0, test_acc=accuracies[-1])
    bar.close()
    return losses, accuracies, np.array(norms)


# =============================================================================================
# Data
# =============================================================================================
def split(images, labels, test_fraction=0.2, seed=0):
    """The same fixed 80/20 split as lessons 3 and 4 (the seed is not --seed: the test set never changes)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test_rows, train_rows = order[:n_test], order[n_test:]
    return images[train_rows], labels[train_rows], images[test_rows], labels[test_rows]


def cifar10_class():
    """CIFAR10, or (for the tests, see the module docstring) a subclass that expects another sha256."""
    digest = os.environ.get("LESSON09_CIFAR10_SHA256")
    if not digest:
        return CIFAR10
    print(f"LESSON09_CIFAR10_SHA256 is set: accepting an archive with sha256 {digest[:12]}... "
          f"(a generated test file, not the real CIFAR-10)")
    return type("CIFAR10", (CIFAR10,), {"resource": CIFAR10.resource._replace(sha256=digest)})


def load_cifar10(args):
    """The train set (with augmentation) and the test set (without), through torchvision's API."""
    # Augmentation: each epoch sees every photo shifted by up to 4 pixels (pad with zeros, cut a random
    # 32x32 window) and mirrored half of the time. A horse is a horse a bit to the left or mirrored,
    # so the network learns that, instead of memorising pixels. Only the training set is augmented.
    train_tf = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),                               # uint8 (32, 32, 3) -> float32 (3, 32, 32) in [0, 1]
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),     # each colour channel to mean 0, std 1
    ])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    dataset = cifar10_class()
    try:
        train_set = dataset(args.data_root, train=True, transform=train_tf, download=True)
        test_set = dataset(args.data_root, train=False, transform=test_tf, download=True)
    except (FileNotFoundError, RuntimeError, ChecksumError) as exc:   # missing, or not the right file
        folder = args.data_root or "~/.cache/tinygrad_edu"
        sys.exit(
            f"\nCIFAR-10 is not on this machine (or the file there is not the right one) and could not be "
            f"downloaded.\n"
            f"Get cifar-10-binary.tar.gz (the *binary* version, about 170 MB) and point the lesson at its folder:\n"
            f"    mkdir -p {folder} && curl -L -o {folder}/cifar-10-binary.tar.gz {CIFAR10.resource.urls[0]}\n"
            f"    python lessons/09_residual_networks.py --dataset cifar10 --data-root {folder}\n"
            f"(or put the file in the folder named by $TINYGRAD_EDU_DATA). Its sha256 must be\n"
            f"{CIFAR10.resource.sha256}; the loader checks it.\n\nThe loader said:\n{exc}")
    if args.quick:           # a few hundred photos: the whole pipeline runs, in seconds
        train_set = Subset(train_set, list(range(min(256, len(train_set)))))
        test_set = Subset(test_set, list(range(min(128, len(test_set)))))
    return train_set, test_set


# =============================================================================================
# Plots
# =============================================================================================
def plot_loss_curves(path, runs, steps_per_epoch, title):
    def draw(fig):
        from matplotlib.ticker import MaxNLocator   # draw() only runs when matplotlib is installed
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for name, run in runs.items():
            ax1.plot(range(1, len(run["losses"]) + 1), common.smooth(run["losses"], steps_per_epoch), label=name)
            ax2.plot(range(1, len(run["accuracies"]) + 1), run["accuracies"], "o-", label=name)
        ax1.axhline(np.log(10), color="grey", linestyle=":", label="chance: ln 10")
        ax1.set(title=title, xlabel="step (batch)", ylabel="cross-entropy (running mean over an epoch)")
        ax2.axhline(0.1, color="grey", linestyle=":", label="chance: 0.1")
        ax2.set(title="test accuracy after each epoch", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.legend()
    return common.save_plot(path, draw, figsize=(11, 4))


def plot_gradient_norms(path, runs):
    def draw(fig):
        from matplotlib.ticker import MaxNLocator
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for (name, run), color in zip(runs.items(), ("tab:blue", "tab:orange")):
            norms = np.maximum(run["norms"], 1e-30)          # (steps, layers); log axes cannot show 0
            layers = range(1, norms.shape[1] + 1)
            ax1.plot(layers, norms[0], "o-", color=color, label=f"{name}: first step")
            ax1.plot(layers, norms[-len(norms) // 10 - 1:].mean(axis=0), "s--", color=color, alpha=0.6,
                     label=f"{name}: mean of the last 10% of steps")
            steps = range(1, len(norms) + 1)
            ax2.plot(steps, norms[:, 0], color=color, label=f"{name}: layer 1 (first conv)")
            ax2.plot(steps, norms[:, -1], color=color, alpha=0.5, linestyle="--", label=f"{name}: last layer (fc)")
        ax1.set(title="gradient norm of each layer's weights", xlabel="layer (1 = input side)",
                ylabel="||dL/dW||", yscale="log")
        ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set(title="during training", xlabel="step (batch)", ylabel="||dL/dW||", yscale="log")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    return common.save_plot(path, draw, figsize=(12, 4.5))


def plot_predictions(path, images, predictions, truth, classes, title):
    wrong = np.flatnonzero(predictions != truth)
    show = np.concatenate([wrong[:8], np.setdiff1d(np.arange(len(truth)), wrong)[:24 - min(len(wrong), 8)]])
    show = show[:len(truth)].astype(int)
    return common.plot_images(path, [images[i] for i in show],
                              [f"{classes[predictions[i]]} / {classes[truth[i]]}" for i in show],
                              colors=["red" if predictions[i] != truth[i] else "black" for i in show],
                              title=title + " (predicted / true; mistakes in red, shown first)")


# =============================================================================================
# The lesson
# =============================================================================================
def add_options(parser):
    parser.add_argument("--dataset", choices=("digits", "cifar10"), default="digits",
                        help="digits: plain vs residual on the 8x8 digits (default); cifar10: a ResNet-20 on "
                             "real CIFAR-10 (needs cifar-10-binary.tar.gz, downloaded if possible)")
    parser.add_argument("--data-root", default=None,
                        help="folder that holds (or receives) cifar-10-binary.tar.gz (default ~/.cache/tinygrad_edu)")


def main():
    args = common.parse_args(__file__, __doc__, epochs=10, quick_epochs=1, device=True, extra=add_options)
    tg.manual_seed(args.seed)
    if args.dataset == "digits":
        run_digits(args)
    else:
        run_cifar10(args)


def run_digits(args):
    # ---- data: the 8x8 digits, (N, 1, 8, 8), the fixed split of lessons 3 and 4 -----------------
    images, labels = digits()
    x_train, y_train, x_test, y_test = split(images, labels)

    def make_loader():   # one per network, so that both see the same batches in the same order
        return DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, seed=args.seed)

    def test_batches():
        return [(x_test, y_test)]
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")

    # ---- two networks of the same depth -------------------------------------------------------
    widths, blocks = (16, 32, 64), 3
    models = {"plain": PlainNet(1, widths, blocks), "residual": ResNet(1, widths, blocks)}
    for name, model in models.items():
        print(f"{name:>8}: {len(model.layers())} weighted layers, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters")

    # ---- before training: how much of the input still reaches each layer? ---------------------
    # In the plain net each layer divides the image-to-image variation by about sqrt(6) = 2.4 (see
    # PlainNet): over 19 layers a factor of 2.4^19 = 2e7, from 0.2 down to ~1e-8. The activations are
    # not zero at the top -- the biases keep them at ~1e-2 -- but they are the *same for every image*,
    # so the classifier has nothing to go on. BatchNorm resets every block's output to unit scale,
    # and the shortcut adds x back, so in the residual net the images stay as distinguishable at
    # the top as at the bottom.
    probe = x_train[:64]
    print(f"how much the activations differ between images (std over a batch of 64, averaged), input "
          f"{probe.std(dim=0).mean().item():.0e},\nthen after the stem and after each pair of convs:")
    for name, model in models.items():
        print(f"  {name:>8}: " + " ".join(f"{s:.0e}" for s in signal_scales(model, probe)))

    # ---- train both the same way: Adam, cosine schedule, same batches -------------------------
    runs = {}
    for name, model in models.items():
        model.to(args.device)
        optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
        loader = make_loader()
        losses, accuracies, norms = train(name, model, optimizer, loader, test_batches, args.epochs, args.device)
        acc, predictions = evaluate(model, test_batches(), args.device)
        runs[name] = dict(losses=losses, accuracies=accuracies, norms=norms, accuracy=acc, predictions=predictions)
        print(f"{name}: loss {losses[0]:.3f} -> {np.mean(losses[-len(loader):]):.3f}, test accuracy {acc:.4f}; "
              f"gradient norm of layer 1 / layer {norms.shape[1]} at the first step: "
              f"{norms[0, 0]:.1e} / {norms[0, -1]:.1e}")

    # What the gradient norms say: in the plain net the first layer's gradient is about 8 orders of
    # magnitude smaller than the last layer's (~1e-10 against ~1e-2). The backward pass multiplies it
    # by every layer's transposed weights and ReLU's 0/1 mask on the way down, shrinking it just as
    # the forward pass shrank the signal. Adam rescales every step to about lr whatever the gradient's
    # size, but that does not rescue the net: a change in layer 1 barely reaches the output, and the
    # top layers, whose gradients are fine, see the same features for every image -- all they can learn
    # is how common each class is. In the residual net every layer's gradient is of the same order.
    ratio = {name: run["norms"][0, -1] / max(run["norms"][0, 0], 1e-30) for name, run in runs.items()}
    print(f"last layer / first layer gradient norm at the first step: plain {ratio['plain']:.0e}, "
          f"residual {ratio['residual']:.0e}")

    # ---- pictures -----------------------------------------------------------------------------
    plot_loss_curves(args.out / "loss_curves.png", runs, len(loader), "20 layers on the digits: plain vs residual")
    plot_gradient_norms(args.out / "gradient_norms.png", runs)
    res = runs["residual"]
    plot_predictions(args.out / "predictions.png", [x_test[i].numpy()[0] for i in range(len(y_test))],
                     res["predictions"], y_test.numpy(), [str(i) for i in range(10)],
                     f"ResNet-20 on the digits: test accuracy {res['accuracy']:.3f}")

    common.summary(args.name, LEARNED, {
        "residual test accuracy": runs["residual"]["accuracy"],
        "plain test accuracy": runs["plain"]["accuracy"],
        "residual final loss": float(np.mean(runs["residual"]["losses"][-len(loader):])),
        "plain final loss": float(np.mean(runs["plain"]["losses"][-len(loader):])),
    })


def run_cifar10(args):
    # ---- data: real photos, through a dataset with transforms and a DataLoader ------------------
    train_set, test_set = load_cifar10(args)
    # every __getitem__ runs the transforms on one photo; the loader stacks 128 of them into a batch
    batch_size = 32 if args.quick else 128
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=args.seed)

    def test_batches():
        return DataLoader(test_set, batch_size=500)
    print(f"CIFAR-10: {len(train_set):,} training and {len(test_set):,} test photos (32x32 RGB), "
          f"{len(loader)} batches of {batch_size} per epoch")

    # ---- ResNet-20 (a narrower ResNet-8 with --quick); no plain net: that comparison is the digits part
    widths, blocks = ((8, 16, 32), 1) if args.quick else ((16, 32, 64), 3)
    model = ResNet(3, widths, blocks).to(args.device)
    print(f"ResNet-{len(model.layers())}: {sum(p.numel() for p in model.parameters()):,} parameters")

    # SGD with momentum and weight decay: He et al.'s recipe for CIFAR (on photos it tends to generalise
    # better than Adam). BatchNorm is what makes a learning rate as large as 0.1 safe.
    optimizer = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    start = time.perf_counter()
    losses, accuracies, norms = train("resnet", model, optimizer, loader, test_batches, args.epochs, args.device)
    minutes = (time.perf_counter() - start) / 60
    acc, predictions = evaluate(model, test_batches(), args.device)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"trained {args.epochs} epoch(s) in {minutes:.1f} min: {command}")
    # The target is what this recipe is expected to reach on the real data after the full run. It is
    # printed as a target: it was not measured in this repository (no network where it was written).
    if args.quick:
        verdict = "not applicable to --quick"
    elif args.epochs < 10:
        verdict = f"not comparable: {args.epochs} epochs"
    else:
        verdict = "met" if acc >= CIFAR10_TARGET else "NOT met"
    print(f"target for the full run (10 epochs, seed 0, real CIFAR-10): residual test accuracy >= "
          f"{CIFAR10_TARGET:.2f} -- a target, not a measured result; this run: {acc:.4f} ({verdict})")

    # ---- pictures -----------------------------------------------------------------------------
    run = dict(losses=losses, accuracies=accuracies, norms=norms)
    plot_loss_curves(args.out / "loss_curves.png", {"residual": run}, len(loader), "ResNet on CIFAR-10")
    plot_gradient_norms(args.out / "gradient_norms.png", {"residual": run})
    base = test_set.dataset if isinstance(test_set, Subset) else test_set
    truth = np.array(base.targets[:len(test_set)])
    plot_predictions(args.out / "predictions.png", list(base.data[:len(test_set)]), predictions, truth,
                     base.classes, f"ResNet on CIFAR-10: test accuracy {acc:.3f}")

    common.summary(args.name, LEARNED, {
        "residual test accuracy": acc,
        "residual final loss": float(np.mean(losses[-len(loader):])),
        "training time": f"{minutes:.1f} min",
    })


LEARNED = [
    "A plain stack multiplies the signal and the gradient by each layer's gain: over 20 layers they vanish, "
    "the first layers get gradients of ~1e-10 and the loss stays at chance (ln 10).",
    "A residual block computes relu(F(x) + x): the + passes the gradient to x unchanged, so every layer "
    "learns; BatchNorm in the block keeps the activations at unit scale.",
    "When a block changes the shape (stride 2, more channels) a 1x1 convolution projects the shortcut; "
    "global average pooling then turns (N, C, H, W) into (N, C) for the classifier.",
    "Per-layer gradient norms are the quickest health check of a deep network: within a few orders of "
    "magnitude of each other is healthy, a steady slide towards the input is vanishing gradients.",
    "For real photos: a dataset with transforms (RandomCrop with padding, RandomHorizontalFlip, ToTensor, "
    "Normalize) and a DataLoader; augmentation applies to training data only; SGD + momentum + weight decay.",
]


if __name__ == "__main__":
    main()
