"""`tg.profile()`: where the time goes, op by op, forward and backward separately.

    with tg.profile() as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    print(prof.table())          # like PyTorch's prof.key_averages().table()

While a profile is active, every `Function.apply` times its forward and every node's
backward is timed during `backward()` (autograd.py asks `current` on each op: one attribute
read when no profile is active). Times are wall-clock and include what the op waits for
(on a GPU, kernels run asynchronously, so synchronise before reading GPU times).
"""
import collections
import time

current = None     # the active Profile, if any (autograd.py reads this)


class Profile:
    """Collects (calls, seconds) per (op, forward|backward); a context manager."""

    def __init__(self):
        self.stats = collections.defaultdict(lambda: [0, 0.0])
        self.wall = 0.0

    def __enter__(self):
        global current
        self._outer, current = current, self
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        global current
        self.wall = time.perf_counter() - self._start
        current = self._outer
        return False

    def add(self, op, phase, seconds):
        entry = self.stats[(op, phase)]
        entry[0] += 1
        entry[1] += seconds

    def rows(self):
        """[(op, forward calls, forward s, backward calls, backward s)], the slowest first."""
        ops = {op for op, _ in self.stats}
        rows = [(op, *self.stats.get((op, "forward"), (0, 0.0)), *self.stats.get((op, "backward"), (0, 0.0)))
                for op in ops]
        return sorted(rows, key=lambda r: -(r[2] + r[4]))

    def table(self, row_limit=20):
        """A text table: per op, calls and milliseconds forward and backward, and its share of the ops' time."""
        rows = self.rows()
        total = sum(r[2] + r[4] for r in rows) or 1e-12
        width = max([len(r[0]) for r in rows] + [2])
        head = (f"{'op':<{width}}  {'fwd calls':>9}  {'fwd ms':>9}  {'bwd calls':>9}  {'bwd ms':>9}  "
                f"{'total ms':>9}  {'%':>6}")
        lines = [head, "-" * len(head)]
        for op, fc, fs, bc, bs in rows[:row_limit]:
            lines.append(f"{op:<{width}}  {fc:>9}  {fs * 1e3:>9.3f}  {bc:>9}  {bs * 1e3:>9.3f}  "
                         f"{(fs + bs) * 1e3:>9.3f}  {100 * (fs + bs) / total:>5.1f}%")
        if len(rows) > row_limit:
            lines.append(f"... {len(rows) - row_limit} more ops")
        lines.append(f"ops: {total * 1e3:.3f} ms of {self.wall * 1e3:.3f} ms wall time inside the profile "
                     f"(the rest is Python around the ops)")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def profile():
    """A new Profile to use as `with tg.profile() as prof:`."""
    return Profile()
