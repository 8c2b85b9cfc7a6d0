"""Shared tool behaviour for the lesson scripts (nothing here is deep learning).

Every lesson does

    import common
    args = common.parse_args(__file__, __doc__, epochs=15, quick_epochs=2)

and gets the same command line:

    --quick          tiny, fast settings (what CI runs); the lesson still runs end to end
    --epochs N       (or --steps N) how long to train; --quick picks a small default
    --seed N         the seed for tg.manual_seed (default 0)
    --out DIR        where plots, samples and checkpoints go (default lessons/out/<lesson name>)
    --device D       "cpu" (default) or "cuda" where the lesson trains a model

and four helpers:

    Progress         tqdm's progress bar for long loops, with the loop's metrics (loss, ...)
    save_plot        save a matplotlib figure as PNG (skipped, with one line, without matplotlib)
    plot_curves      loss curves              (built on save_plot)
    plot_images      a grid of small images   (built on save_plot)
    plot_loss_and_accuracy   loss per batch and test accuracy per epoch, side by side
    summary          the final "what you learned" box
"""
import argparse
import math
import pathlib
import sys
import time

LESSONS_DIR = pathlib.Path(__file__).resolve().parent
_START = time.perf_counter()


# ---- the command line ------------------------------------------------------------------------
def parse_args(lesson_file, doc, *, epochs=None, quick_epochs=None, steps=None, quick_steps=None,
               device=False, extra=None, argv=None):
    """Parse the lesson's command line; returns an argparse Namespace.

    `epochs`/`steps` are the full-run defaults and `quick_epochs`/`quick_steps` the --quick ones
    (an explicit --epochs/--steps always wins). `device=True` adds --device. `extra(parser)` may
    add lesson-specific options. The out folder is created; `args.out` is a pathlib.Path and
    `args.name` the lesson's name (the file name without .py).
    """
    name = pathlib.Path(lesson_file).stem
    first_paragraph = (doc or name).strip().split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=f"python lessons/{name}.py", description=first_paragraph,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny, fast settings (used by CI)")
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=None,
                            help=f"passes over the training set (default {epochs}, --quick {quick_epochs})")
    if steps is not None:
        parser.add_argument("--steps", type=int, default=None,
                            help=f"optimizer steps (default {steps}, --quick {quick_steps})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help=f"output folder (default lessons/out/{name})")
    if device:
        parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                            help="where to train (default cpu; cuda needs an NVIDIA GPU and CuPy)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)

    if epochs is not None and args.epochs is None:
        args.epochs = quick_epochs if args.quick else epochs
    if steps is not None and args.steps is None:
        args.steps = quick_steps if args.quick else steps
    for what in ("epochs", "steps"):
        if getattr(args, what, 1) is not None and getattr(args, what, 1) < 1:
            parser.error(f"--{what} must be at least 1")
    if device and args.device == "cuda":
        import tinygrad_edu as tg
        if not tg.cuda.is_available():
            parser.error(f"--device cuda: {tg.cuda.unavailable_reason()}")
    args.name = name
    args.out = (args.out or LESSONS_DIR / "out" / name).resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    mode = "quick" if args.quick else "full"
    settings = ", ".join(f"{k}={getattr(args, k)}" for k in ("epochs", "steps", "seed", "device") if hasattr(args, k))
    print(f"== {name} ({mode} run: {settings}); outputs in {_show_path(args.out)}")
    return args


def _show_path(path):
    try:
        return str(pathlib.Path(path).resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


# ---- a progress bar --------------------------------------------------------------------------
def _format_seconds(s):
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """A progress bar on stderr for a training loop: tqdm's, with the loop's metrics beside it.

        bar = Progress(total=steps, desc="train")
        for step in range(steps):
            ...
            bar.update(loss=loss.item())
        bar.close()

    On a terminal tqdm draws and redraws the bar (step, metrics, rate, ETA). When stderr is
    not a terminal (CI, a log file) nothing is drawn until `close()`, which prints one final
    line with the totals. `unit` names what one update counts.
    """

    def __init__(self, total, desc="", unit="it", stream=None):
        from tqdm import tqdm
        self.total, self.desc, self.unit = int(total), desc, unit
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.n, self.metrics, self.start, self._closed = 0, {}, time.perf_counter(), False
        self.bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream, disable=not self.live,
                        dynamic_ncols=True, mininterval=0.1)

    def update(self, n=1, **metrics):
        """Count `n` more steps; keyword arguments (loss=...) are shown beside the bar."""
        self.n += n
        if metrics:
            self.metrics.update(metrics)
            self.bar.set_postfix_str(self._shown(), refresh=False)
        self.bar.update(n)

    def _shown(self):
        return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.metrics.items())

    def close(self):
        """Finish the bar; off a terminal, print the one line that sums it up."""
        if self._closed:
            return
        self._closed = True
        self.bar.close()
        if not self.live:
            elapsed = time.perf_counter() - self.start
            rate = self.n / elapsed if elapsed > 0 else float("nan")
            self.stream.write(f"{self.desc} {self.n}/{self.total}  {self._shown()} | {rate:.1f} {self.unit}/s | "
                              f"took {_format_seconds(elapsed)}\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- plots -----------------------------------------------------------------------------------
def save_plot(path, draw, figsize=(6, 4)):
    """Save a figure drawn by `draw(fig)` as a PNG at `path`; returns the path, or None if skipped.

    Uses matplotlib's object-oriented API (a `Figure` and the Agg canvas) and never pyplot,
    so it works without a display and never opens a window. Without matplotlib it prints one
    line saying the plot was skipped and how to install it, and the lesson carries on.
    """
    path = pathlib.Path(path)
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"plot skipped: {path.name} needs matplotlib, which is not installed "
              f"(pip install -e \".[lessons]\" or pip install matplotlib)")
        return None
    fig = Figure(figsize=figsize, dpi=100)
    draw(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    print(f"saved {_show_path(path)}")
    return path


def smooth(values, k=20):
    """A running mean over the last k values, so a noisy per-step loss curve shows its trend."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= k:
            total -= values[i - k]
        out.append(total / min(i + 1, k))
    return out


def plot_curves(path, curves, title="", xlabel="step", ylabel="loss", logy=False):
    """Line plot of named curves: `curves` maps a label to a list of y values or a pair (xs, ys)."""
    def draw(fig):
        ax = fig.add_subplot()
        for label, curve in curves.items():
            xs, ys = curve if isinstance(curve, tuple) else (range(1, len(curve) + 1), curve)
            ax.plot(list(xs), list(ys), label=label)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(curves) > 1:
            ax.legend()
    return save_plot(path, draw)


def plot_loss_and_accuracy(path, losses, steps_per_epoch, accuracies, title="", logy=False):
    """Two panels: the loss of every batch (with the mean loss of each epoch), and the test
    accuracy after each epoch."""
    def draw(fig):
        from matplotlib.ticker import MaxNLocator   # draw() only runs when matplotlib is installed
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax1.plot(range(1, len(losses) + 1), losses, alpha=0.5, label="loss per batch")
        ends = list(range(steps_per_epoch, len(losses) + 1, steps_per_epoch))
        means = [sum(losses[e - steps_per_epoch:e]) / steps_per_epoch for e in ends]
        ax1.plot([e - steps_per_epoch / 2 for e in ends], means, "o-", label="mean loss of each epoch")
        ax1.set(title=title, xlabel="step (batch)", ylabel="cross-entropy")
        if logy:
            ax1.set_yscale("log")
        ax1.grid(alpha=0.3)
        ax1.legend()
        ax2.plot(range(1, len(accuracies) + 1), accuracies, "o-")
        ax2.set(title="test accuracy after each epoch", xlabel="epoch", ylabel="accuracy")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.grid(alpha=0.3)
    return save_plot(path, draw, figsize=(11, 4))


def plot_images(path, images, titles, colors=None, cols=8, title=""):
    """A grid of grey images (each a 2-D numpy array) with a small title under each."""
    rows = math.ceil(len(images) / cols)

    def draw(fig):
        for i, (image, label) in enumerate(zip(images, titles)):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.imshow(image, cmap="gray_r", interpolation="nearest")
            ax.set_title(label, fontsize=8, color=(colors[i] if colors else "black"))
            ax.axis("off")
        if title:
            fig.suptitle(title)
    return save_plot(path, draw, figsize=(1.2 * cols, 1.4 * rows + 0.4))


# ---- the end of a lesson ---------------------------------------------------------------------
def summary(name, learned, results=None):
    """Print the final box: what the lesson measured (`results`, name -> value) and what it taught.

    Results are printed one per line as `name: value`, so scripts (and tests) can read them.
    """
    width = 78
    print("\n" + "=" * width)
    print(f"{name}: finished in {time.perf_counter() - _START:.1f} s")
    for key, value in (results or {}).items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print("-" * width)
    print("What you learned:")
    for point in learned:
        words, line, lines = point.split(), "", []
        for word in words:
            if len(line) + len(word) + 1 > width - 4:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        print("  * " + "\n    ".join(lines))
    print("=" * width)
