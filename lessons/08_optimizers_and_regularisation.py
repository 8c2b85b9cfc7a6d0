"""Lesson 8: optimizers, regularisation and learning-rate schedules.

What you will learn
  * what SGD, SGD with momentum, RMSprop, Adam and AdamW do with a gradient: each update
    rule written out in numpy, next to the library's optimizer, and checked against it;
  * how the five compare when they train the same small network from the same starting
    weights on the same batches (their loss curves on one plot);
  * overfitting, created on purpose: a wide MLP, 200 training digits (a fifth of them
    mislabeled), trained for a long time, learns its training set by heart and does much
    worse on the test set; then dropout and L2 weight decay closing that train/test gap;
  * that an L2 penalty in the loss is exactly SGD's weight_decay, and why AdamW decays the
    weights separately from Adam's gradient step;
  * learning-rate schedules (StepLR, CosineAnnealingLR, OneCycleLR): their lr curves, and
    what they do to the loss compared with a constant lr.

Same data as lessons 3 and 4 (1,797 8x8 digits, the same fixed 80/20 split), seen by an MLP
as 64 numbers. Each part ends with a table row of final train/test accuracy per setting.

Run it:
    python lessons/08_optimizers_and_regularisation.py                   # full run: ~8 s on 2 CPU cores
    python lessons/08_optimizers_and_regularisation.py --label-noise 0   # overfitting with clean labels only
    python lessons/08_optimizers_and_regularisation.py --quick           # what CI runs (a few seconds)
"""
import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import DataLoader, TensorDataset, digits
from tinygrad_edu.optim import lr_scheduler


# =============================================================================================
# Part 0: the update rules, by hand
# =============================================================================================
# Every optimizer gets the gradient g of the loss with respect to a parameter p and moves p.
# They differ only in what they remember between steps ("state") and how they scale g.
# Here each rule is written out in numpy (float64), following PyTorch's documentation; the
# library's optimizers (tinygrad_edu/optim/) follow the same rules, and we check that they do.

def sgd_by_hand(p, g, state, t, lr, momentum=0.0, weight_decay=0.0):
    """SGD: step against the gradient. Momentum keeps a running sum of past gradients
    (b = momentum * b + g), so steps grow along directions where the gradient keeps its sign
    and cancel where it flips. weight_decay adds the gradient of (wd / 2) * p^2: an L2 penalty."""
    g = g + weight_decay * p
    if momentum:
        state["b"] = g if t == 1 else momentum * state["b"] + g
        g = state["b"]
    return p - lr * g


def rmsprop_by_hand(p, g, state, t, lr, alpha=0.99, eps=1e-8):
    """RMSprop: divide g by the root of a running mean of g^2, so every coordinate moves by
    about lr, however large or small its gradient is (a per-parameter step size)."""
    state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(state["v"]) + eps)


def adam_by_hand(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """Adam = momentum (m, a running mean of g) + RMSprop (v, a running mean of g^2), each
    corrected for starting at 0. Adam's weight_decay is an L2 penalty added to g (so it is then
    divided by sqrt(v) like the rest of g); AdamW's (decoupled=True) shrinks p directly."""
    beta1, beta2 = betas
    if decoupled:
        p = p * (1 - lr * weight_decay)                 # AdamW: decay first, gradient untouched
    else:
        g = g + weight_decay * p                        # Adam: L2 penalty inside the gradient
    state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    m_hat = state["m"] / (1 - beta1 ** t)               # bias correction: m and v start at 0
    v_hat = state["v"] / (1 - beta2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def check_update_rules(steps=5):
    """A few steps of each optimizer on a toy loss, by hand and by the library; they must agree.

    The toy loss is an elongated bowl, loss = 0.5 * sum(c * p^2) with curvatures c from 0.1 to 10,
    whose gradient is c * p. Plain SGD must keep lr below 2 / max(c) or it blows up along the
    steep direction, and then it crawls along the flat one: the problem the other optimizers fix.
    """
    curvature = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 10.0])
    p_start = np.random.default_rng(0).standard_normal(len(curvature))
    cases = [  # name, the library's optimizer, the same rule by hand
        ("SGD", lambda ps: tg.optim.SGD(ps, lr=0.05),
         lambda p, g, s, t: sgd_by_hand(p, g, s, t, lr=0.05)),
        ("SGD + momentum", lambda ps: tg.optim.SGD(ps, lr=0.05, momentum=0.9),
         lambda p, g, s, t: sgd_by_hand(p, g, s, t, lr=0.05, momentum=0.9)),
        ("SGD + weight decay", lambda ps: tg.optim.SGD(ps, lr=0.05, weight_decay=0.1),
         lambda p, g, s, t: sgd_by_hand(p, g, s, t, lr=0.05, weight_decay=0.1)),
        ("RMSprop", lambda ps: tg.optim.RMSprop(ps, lr=0.01),
         lambda p, g, s, t: rmsprop_by_hand(p, g, s, t, lr=0.01)),
        ("Adam", lambda ps: tg.optim.Adam(ps, lr=0.01),
         lambda p, g, s, t: adam_by_hand(p, g, s, t, lr=0.01)),
        ("Adam + weight decay (L2)", lambda ps: tg.optim.Adam(ps, lr=0.01, weight_decay=0.1),
         lambda p, g, s, t: adam_by_hand(p, g, s, t, lr=0.01, weight_decay=0.1)),
        ("AdamW (decoupled decay)", lambda ps: tg.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
         lambda p, g, s, t: adam_by_hand(p, g, s, t, lr=0.01, weight_decay=0.1, decoupled=True)),
    ]
    print(f"update rules by hand vs tinygrad_edu.optim ({steps} steps on loss = 0.5 * sum(c * p^2)):")
    worst = 0.0
    for name, make_optimizer, rule in cases:
        p = nn.Parameter(tg.tensor(p_start.astype(np.float32)))
        c = tg.tensor(curvature.astype(np.float32))
        optimizer = make_optimizer([p])
        mine, state = p_start.copy(), {}
        for t in range(1, steps + 1):
            optimizer.zero_grad()
            (0.5 * (c * p * p).sum()).backward()       # the library computes g = c * p by autograd
            optimizer.step()
            mine = rule(mine, curvature * mine, state, t)   # we use the gradient formula directly
        diff = float(np.abs(p.detach().numpy() - mine).max())
        worst = max(worst, diff)
        loss_now = 0.5 * (curvature * mine ** 2).sum()
        print(f"  {name:<26} max |library - by hand| = {diff:.1e}   loss now {loss_now:.4f}")
    # (Look at "Adam + weight decay (L2)": its loss is Adam's. The L2 term wd * p is added to g and then
    # divided by sqrt(v) like the rest of g, so it hardly changes Adam's normalised step. AdamW
    # shrinks p directly, by lr * wd * p each step, whatever the gradient: that is "decoupled".)

    # L2 regularisation: adding (wd / 2) * ||p||^2 to the loss adds wd * p to the gradient, which is
    # exactly what SGD's weight_decay does. (With Adam the two differ from AdamW: see adam_by_hand.)
    p1 = nn.Parameter(tg.tensor(p_start.astype(np.float32)))
    p2 = nn.Parameter(tg.tensor(p_start.astype(np.float32)))
    c = tg.tensor(curvature.astype(np.float32))
    with_decay = tg.optim.SGD([p1], lr=0.05, momentum=0.9, weight_decay=0.1)
    with_penalty = tg.optim.SGD([p2], lr=0.05, momentum=0.9)
    for _ in range(steps):
        for p, optimizer, penalty in ((p1, with_decay, 0.0), (p2, with_penalty, 0.1)):
            optimizer.zero_grad()
            (0.5 * (c * p * p).sum() + penalty / 2 * (p * p).sum()).backward()
            optimizer.step()
    diff = float(np.abs(p1.detach().numpy() - p2.detach().numpy()).max())
    worst = max(worst, diff)
    print(f"  SGD(weight_decay=0.1) vs SGD on loss + 0.05 * ||p||^2: max difference {diff:.1e} (the same thing)")
    assert worst < 1e-5, "the library's optimizers should follow the update rules written above"
    print("update rules by hand match the library's optimizers")


# =============================================================================================
# Data, models and the training loop (lesson 3's, with a scheduler and evaluation added)
# =============================================================================================
def split(images, labels, test_fraction=0.2, seed=0):
    """The same fixed 80/20 split as lessons 3 and 4 (the seed is not --seed: the test set never changes)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def small_subset(x, y, per_class, label_noise, seed=0):
    """`per_class` training digits of each class, and a fraction `label_noise` of their labels
    replaced by a different, wrong digit. Returns (x, noisy labels, true labels)."""
    y_np = y.numpy()
    keep = np.concatenate([np.flatnonzero(y_np == digit)[:per_class] for digit in range(10)])
    true = y_np[keep]
    rng = np.random.default_rng(seed)
    flip = rng.permutation(len(keep))[:int(round(label_noise * len(keep)))]
    noisy = true.copy()
    noisy[flip] = (true[flip] + rng.integers(1, 10, size=len(flip))) % 10   # any digit but the right one
    return x[keep], tg.tensor(noisy), tg.tensor(true)


def make_small_net():
    """The small network every optimizer and schedule trains: 64 pixels -> 64 -> 10."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def make_wide_net(width, dropout):
    """Two wide hidden layers: far more weights (~300k) than training examples (200), so it can
    simply memorise them. With dropout, nn.Dropout zeroes a random 20% of the input pixels and
    50% of the hidden units at every training step (scaling the rest up to keep the mean), so no
    unit can rely on any particular other one: the network has to learn redundant, smoother
    features. In eval() mode Dropout does nothing."""
    def maybe_dropout(p):
        return [nn.Dropout(p)] if dropout else []
    return nn.Sequential(*maybe_dropout(0.2),
                         nn.Linear(64, width), nn.ReLU(), *maybe_dropout(0.5),
                         nn.Linear(width, width), nn.ReLU(), *maybe_dropout(0.5),
                         nn.Linear(width, 10))


def predict(model, x):
    """Predicted digits, in eval mode (no dropout) and without building a graph."""
    model.eval()
    with tg.no_grad():
        predictions = model(x).argmax(dim=1).numpy()
    model.train()
    return predictions


def accuracy(model, x, y):
    return float((predict(model, x) == y.numpy()).mean())


def train(model, optimizer, loader, epochs, desc, scheduler=None, eval_sets=None, eval_every=1):
    """Lesson 3's loop. A scheduler, if given, is stepped after *every batch* (so StepLR's step_size
    and CosineAnnealingLR's T_max count batches here). Returns the loss and lr of every batch and
    the accuracy on each of `eval_sets` (name -> (x, y)) every `eval_every` epochs."""
    eval_sets = eval_sets or {}
    history = {"loss": [], "lr": [], "epoch": [], **{name: [] for name in eval_sets}}
    bar = common.Progress(epochs * len(loader), desc=f"{desc:<22}", unit="batch")
    for epoch in range(1, epochs + 1):
        for xb, yb in loader:
            history["lr"].append(optimizer.param_groups[0]["lr"])   # the lr this step uses
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()                                    # after the optimizer's step
            history["loss"].append(loss.item())
            bar.update(loss=history["loss"][-1])
        if eval_sets and (epoch % eval_every == 0 or epoch == epochs):
            history["epoch"].append(epoch)
            for name, (x, y) in eval_sets.items():
                history[name].append(accuracy(model, x, y))
    bar.close()
    return history


def print_table(title, rows):
    """rows: (setting, train accuracy, test accuracy)."""
    print(f"\n{title}")
    print(f"  {'setting':<32} {'train acc':>9} {'test acc':>9} {'gap':>7}")
    for setting, train_acc, test_acc in rows:
        print(f"  {setting:<32} {train_acc:>9.4f} {test_acc:>9.4f} {train_acc - test_acc:>+7.3f}")


def main():
    def extra(parser):
        parser.add_argument("--overfit-epochs", type=int, default=None,
                            help="epochs of the overfitting part (default 300, --quick 20)")
        parser.add_argument("--label-noise", type=float, default=0.2,
                            help="fraction of the 200 small-set training labels made wrong (default 0.2)")
    args = common.parse_args(__file__, __doc__, epochs=10, quick_epochs=1, extra=extra)
    if args.overfit_epochs is None:
        args.overfit_epochs = 20 if args.quick else 300
    if not (args.overfit_epochs >= 1 and 0.0 <= args.label_noise < 1.0):
        raise SystemExit("--overfit-epochs must be at least 1 and --label-noise in [0, 1)")
    tg.manual_seed(args.seed)
    table = []   # (part, setting, train accuracy, test accuracy) for the final table

    check_update_rules()

    # ---- data ------------------------------------------------------------------------------
    images, labels = digits()
    x_train, y_train, x_test, y_test = split(images, labels)
    x_train, x_test = x_train.flatten(1), x_test.flatten(1)      # (N, 64): an MLP sees 64 numbers
    print(f"\ntrain {tuple(x_train.shape)}, test {tuple(x_test.shape)}")
    evaluate_on = {"train": (x_train, y_train), "test": (x_test, y_test)}

    # =========================================================================================
    # Part 1: five optimizers, one network
    # =========================================================================================
    # A fair race: the same starting weights (tg.manual_seed right before building the model)
    # and the same batches in the same order (a DataLoader with the same seed) for each.
    # The learning rates are the usual defaults for each kind: SGD needs a large lr, the
    # adaptive ones (which divide by the gradient's size) a small one.
    print(f"\n== Part 1: five optimizers train the same small network for {args.epochs} epochs")
    optimizers = {
        "SGD (lr 0.05)": lambda ps: tg.optim.SGD(ps, lr=0.05),
        "SGD + momentum 0.9": lambda ps: tg.optim.SGD(ps, lr=0.05, momentum=0.9),
        "RMSprop (lr 1e-3)": lambda ps: tg.optim.RMSprop(ps, lr=1e-3),
        "Adam (lr 1e-3)": lambda ps: tg.optim.Adam(ps, lr=1e-3),
        "AdamW (lr 1e-3, wd 0.01)": lambda ps: tg.optim.AdamW(ps, lr=1e-3, weight_decay=0.01),
    }
    optimizer_runs = {}
    for name, make_optimizer in optimizers.items():
        tg.manual_seed(args.seed)                   # identical starting weights for every optimizer
        model = make_small_net()
        loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)
        optimizer_runs[name] = train(model, make_optimizer(model.parameters()), loader, args.epochs, name,
                                     eval_sets=evaluate_on)
        table.append(("optimizers", name, optimizer_runs[name]["train"][-1], optimizer_runs[name]["test"][-1]))
    print_table("Part 1: final accuracy per optimizer", [row[1:] for row in table if row[0] == "optimizers"])
    # (Adam and AdamW start out identical: with wd 0.01 and lr 1e-3 the decay shrinks the weights
    # by a factor (1 - 1e-5) per step. Decoupled decay matters over long runs, like lesson 6's.)

    def draw_optimizers(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for name, run in optimizer_runs.items():
            style = "--" if name.startswith("AdamW") else "-"     # dashed: AdamW lies on top of Adam here
            ax1.plot(range(1, len(run["loss"]) + 1), common.smooth(run["loss"], 20), style, label=name)
            ax2.plot(run["epoch"], run["test"], "o" + style, label=name)
        ax1.set(title="training loss (running mean of 20 batches)", xlabel="step (batch)", ylabel="cross-entropy")
        ax1.set_yscale("log")
        ax2.set(title="test accuracy after each epoch", xlabel="epoch", ylabel="accuracy")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.legend()
    common.save_plot(args.out / "optimizer_curves.png", draw_optimizers, figsize=(11, 4))

    # =========================================================================================
    # Part 2: overfitting on purpose, then regularisation
    # =========================================================================================
    # Three ingredients make a network overfit: few examples, many weights, and a long training.
    # The 8x8 digits are so easy that even 200 clean examples give ~91% test accuracy, so we add a
    # fourth, common in real data: some wrong labels. A network that learns its training set by
    # heart must learn those wrong labels too, and what it learns for them is noise that hurts on
    # new digits. (Try --label-noise 0: the gap is smaller, and regularisation mostly lowers the
    # test *loss*.)
    width = 128 if args.quick else 512
    x_small, y_small, y_small_true = small_subset(x_train, y_train, per_class=20, label_noise=args.label_noise)
    wrong = np.flatnonzero(y_small.numpy() != y_small_true.numpy())
    n_weights = sum(p.numel() for p in make_wide_net(width, dropout=False).parameters())
    print(f"\n== Part 2: a {width}-wide MLP ({n_weights:,} weights) on {len(y_small)} training digits "
          f"({len(wrong)} of them with a wrong label), {args.overfit_epochs} epochs")
    # Two regularisers, alone and together:
    #   dropout       -- nn.Dropout layers (see make_wide_net);
    #   weight decay  -- SGD(weight_decay=0.02): an L2 penalty 0.01 * ||w||^2 on every weight, which
    #                    pulls all weights towards 0 at every step, so only the weights the data keeps
    #                    asking for grow large: the function the network computes stays smoother.
    settings = {"no regularisation": (False, 0.0), "dropout": (True, 0.0),
                "weight decay (L2 0.02)": (False, 0.02), "dropout + weight decay": (True, 0.02)}
    overfit_runs = {}
    for name, (dropout, weight_decay) in settings.items():
        tg.manual_seed(args.seed)                   # Dropout has no weights: the same start for all four
        model = make_wide_net(width, dropout)
        optimizer = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
        # 200 examples: every step sees all of them at once (one batch per epoch, full-batch gradient descent)
        loader = DataLoader(TensorDataset(x_small, y_small), batch_size=len(y_small))
        run = train(model, optimizer, loader, args.overfit_epochs, name,
                    eval_sets={"train": (x_small, y_small), "test": (x_test, y_test)},
                    eval_every=max(1, args.overfit_epochs // 60))
        # What did it learn for the mislabeled images: the wrong label it was shown, or the true digit?
        guess = predict(model, x_small[wrong]) if len(wrong) else np.array([])
        run["memorised"] = int((guess == y_small.numpy()[wrong]).sum())
        run["true digit"] = int((guess == y_small_true.numpy()[wrong]).sum())
        overfit_runs[name] = run
        table.append(("regularisation", name, run["train"][-1], run["test"][-1]))
    print_table("Part 2: final accuracy (train = on the 200 labels it was trained on)",
                [row[1:] for row in table if row[0] == "regularisation"])
    # Read the plot too: without regularisation the test accuracy is best early on and then falls as the
    # network memorises (stopping at the best validation accuracy, "early stopping", is a third
    # regulariser). And more regularisation is not always better: too much also keeps the network
    # from learning the correct labels (underfitting). Its strength is a hyperparameter, to be chosen
    # on validation data, never on the test set.
    if len(wrong):
        print(f"on the {len(wrong)} mislabeled training digits, each network predicts:")
        for name, run in overfit_runs.items():
            print(f"  {name:<24} the wrong label it was shown: {run['memorised']:>3}   the true digit: "
                  f"{run['true digit']:>3}")
    gap_plain = overfit_runs["no regularisation"]["train"][-1] - overfit_runs["no regularisation"]["test"][-1]
    gap_both = overfit_runs["dropout + weight decay"]["train"][-1] - overfit_runs["dropout + weight decay"]["test"][-1]
    print(f"train/test gap without regularisation: {gap_plain:.4f}")
    print(f"train/test gap with dropout + weight decay: {gap_both:.4f}")

    def draw_overfitting(fig):
        for i, (name, run) in enumerate(overfit_runs.items()):
            ax = fig.add_subplot(2, 2, i + 1)
            ax.plot(run["epoch"], run["train"], label="train (the labels it sees)")
            ax.plot(run["epoch"], run["test"], label="test")
            ax.set(title=f"{name}: train {run['train'][-1]:.3f}, test {run['test'][-1]:.3f}",
                   xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right")
        fig.suptitle(f"a {width}-wide MLP on {len(y_small)} digits ({len(wrong)} mislabeled): "
                     "train vs test accuracy")
    common.save_plot(args.out / "overfitting.png", draw_overfitting, figsize=(11, 7))

    # =========================================================================================
    # Part 3: learning-rate schedules
    # =========================================================================================
    # A large lr makes fast progress but cannot settle into a minimum: the steps overshoot, and the
    # noise of mini-batches keeps the loss bouncing. A schedule starts large and ends small.
    #   StepLR            -- multiply the lr by gamma every step_size steps (a staircase);
    #   CosineAnnealingLR -- glide from lr to eta_min along half a cosine;
    #   OneCycleLR        -- warm up from max_lr / 25 to max_lr over the first 30% of the steps,
    #                        then anneal far below the start; it also moves SGD's momentum the
    #                        opposite way (0.95 -> 0.85 -> 0.95).
    # All four here use SGD with momentum 0.9, peak at the same lr, and are stepped after every batch.
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)
    total = args.epochs * len(loader)
    last = max(1, total // 10)      # "final loss" below = the mean loss of the last 10% of the steps
    peak_lr = 0.3   # high on purpose: at a constant 0.3 the loss keeps bouncing instead of settling
    print(f"\n== Part 3: learning-rate schedules, {total} steps of SGD + momentum, peak lr {peak_lr}")
    schedules = {
        "constant lr": None,
        "StepLR (x0.1 every third)": lambda opt: lr_scheduler.StepLR(opt, step_size=max(1, total // 3), gamma=0.1),
        "CosineAnnealingLR": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0),
        "OneCycleLR": lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=peak_lr, total_steps=total),
    }
    schedule_runs = {}
    for name, make_scheduler in schedules.items():
        tg.manual_seed(args.seed)
        model = make_small_net()
        optimizer = tg.optim.SGD(model.parameters(), lr=peak_lr, momentum=0.9)
        scheduler = make_scheduler(optimizer) if make_scheduler else None
        loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=args.seed)
        schedule_runs[name] = train(model, optimizer, loader, args.epochs, name, scheduler=scheduler,
                                    eval_sets=evaluate_on)
        table.append(("lr schedules", name, schedule_runs[name]["train"][-1], schedule_runs[name]["test"][-1]))
    print_table("Part 3: final accuracy per schedule", [row[1:] for row in table if row[0] == "lr schedules"])
    for name, run in schedule_runs.items():
        print(f"  {name:<28} mean training loss over the last {last} steps: {np.mean(run['loss'][-last:]):.4f}")

    def draw_schedules(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for name, run in schedule_runs.items():
            ax1.plot(range(1, len(run["lr"]) + 1), run["lr"], label=name)
            ax2.plot(range(1, len(run["loss"]) + 1), common.smooth(run["loss"], 20), label=name)
        ax1.set(title="learning rate at each step", xlabel="step (batch)", ylabel="lr")
        ax2.set(title="training loss (running mean of 20 batches)", xlabel="step (batch)", ylabel="cross-entropy")
        ax2.set_yscale("log")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.legend()
    common.save_plot(args.out / "lr_schedules.png", draw_schedules, figsize=(11, 4))

    # ---- all settings in one table -------------------------------------------------------------
    print("\nfinal train / test accuracy of every setting:")
    print(f"  {'part':<15} {'setting':<28} {'train acc':>9} {'test acc':>9}")
    for part, setting, train_acc, test_acc in table:
        print(f"  {part:<15} {setting:<28} {train_acc:>9.4f} {test_acc:>9.4f}")

    best_optimizer = min(optimizer_runs, key=lambda n: np.mean(optimizer_runs[n]["loss"][-last:]))
    common.summary(args.name, [
        "Every optimizer maps a gradient to a step: SGD scales it by lr, momentum accumulates past "
        "gradients, RMSprop divides by their running root mean square, Adam does both (with bias "
        "correction); the library's optimizers follow these rules exactly.",
        "Compare optimizers fairly: same starting weights (manual_seed before building the model), same "
        "batches, each with a learning rate suited to it.",
        "Overfitting is a gap between train and test accuracy: a big network, few examples and long "
        "training learn the training set by heart, wrong labels included.",
        "Dropout (random units zeroed while training, none in eval()) and weight decay (an L2 penalty: "
        "SGD's weight_decay) close that gap; AdamW decays weights apart from Adam's adaptive step.",
        "A learning-rate schedule takes big steps early and small ones late; StepLR, CosineAnnealingLR "
        "and OneCycleLR are stepped after the optimizer, here once per batch.",
    ], {"optimizer with the lowest final training loss": best_optimizer,
        "test accuracy without regularisation": overfit_runs["no regularisation"]["test"][-1],
        "test accuracy with dropout + weight decay": overfit_runs["dropout + weight decay"]["test"][-1],
        "train/test gap without regularisation": gap_plain,
        "train/test gap with dropout + weight decay": gap_both})


if __name__ == "__main__":
    main()
