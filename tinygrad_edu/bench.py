"""The project's benchmark: `python -m tinygrad_edu.bench` (see BENCHMARKS.md in the shared folder).

Four training workloads (mlp, cnn, lstm, gpt); one step = zero_grad, forward, loss,
backward, optimizer step; float32, random data, fixed seed; the median of 20 timed
steps after 3 warm-up steps. Each workload is written ONCE, against a library
object `lib` with PyTorch's names, and run with tinygrad_edu and, when it can be
imported, with PyTorch: the identical model in the same run. Each (library,
workload) pair runs in its own child process, so peak memory is measured cleanly
(the growth of the process's peak resident set during the steps).
"""
import argparse
import json
import subprocess
import sys
import time

WORKLOADS = ("mlp", "cnn", "lstm", "gpt")


# ---- the workloads, written once for any library with PyTorch's API --------------------------
# BENCHMARKS.md's shapes ("full"), and the same architectures shrunk ("tiny") for tests that count
# what one step does (kernel launches, host synchronisations) under the CUDA simulator.
SIZES = {
    "full": dict(mlp=(128, 784, 256, 10), cnn=(64, 32, 32, 64, 10), lstm=(32, 64, 64, 128, 65),
                 gpt=(16, 64, 128, 4, 2, 65)),
    "tiny": dict(mlp=(4, 16, 8, 3), cnn=(2, 8, 4, 4, 3), lstm=(2, 8, 8, 8, 65), gpt=(2, 8, 8, 2, 2, 65)),
}


def build(lib, name, device, size="full", seq_len=None):
    """Return (model, step) for a workload; `step()` runs one full training step.

    size: "full" (BENCHMARKS.md's shapes) or "tiny" (the same layers, small enough for the simulator);
    seq_len: the lstm's sequence length, if not its size's.
    """
    nn, F = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; choose from {WORKLOADS}")
    shape = SIZES[size][name]
    if name == "mlp":
        batch, features, hidden, classes = shape
        model = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
        x, y = lib.randn(batch, features), lib.randint(0, classes, (batch,))
        opt_cls, opt_args = lib.optim.SGD, dict(lr=0.1)
    elif name == "cnn":
        batch, side, c1, c2, classes = shape
        model = nn.Sequential(nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(c2 * (side // 4) ** 2, classes))
        x, y = lib.randn(batch, 3, side, side), lib.randint(0, classes, (batch,))
        opt_cls, opt_args = lib.optim.SGD, dict(lr=0.01)
    elif name == "lstm":
        batch, steps, embed, hidden, vocab = shape
        steps = seq_len or steps
        model = _char_lstm(lib, vocab, embed, hidden)
        x, y = lib.randint(0, vocab, (batch, steps)), lib.randint(0, vocab, (batch, steps))
        opt_cls, opt_args = lib.optim.Adam, dict(lr=1e-3)
    else:
        batch, block, dim, heads, layers, vocab = shape
        model = _tiny_gpt(lib, vocab, block, dim, heads, layers)
        x, y = lib.randint(0, vocab, (batch, block)), lib.randint(0, vocab, (batch, block))
        opt_cls, opt_args = lib.optim.AdamW, dict(lr=3e-4)
    model = model.to(device)
    x, y = x.to(device), y.to(device)
    opt = opt_cls(model.parameters(), **opt_args)

    def step():
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    return model, step


def _char_lstm(lib, vocab=65, embed=64, hidden=128):
    nn = lib.nn

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.head(out)

    return CharLSTM()


def _tiny_gpt(lib, vocab=65, block=64, dim=128, heads=4, layers=2):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.fc, self.out = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(dim, dim=-1)
            q, k, v = (z.reshape(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(block, dim)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

        def forward(self, tokens):
            t = tokens.shape[1]
            x = self.tok(tokens) + self.pos(lib.arange(t, device=tokens.device))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x))

    return GPT()


# ---- measuring one (library, workload) in this process ---------------------------------------
def _rss_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(libname, name, device, steps, warmup=3):
    if libname == "torch":
        import torch as lib
        sync = (lambda: lib.cuda.synchronize()) if device == "cuda" else (lambda: None)
    else:
        import tinygrad_edu as lib
        sync = _cupy_sync if device == "cuda" else (lambda: None)
    # Code first: one step of the same layers at tiny sizes loads (and, where Numba compiles, builds) the
    # code every step runs, so the peak below counts the step's data, not a one-time load of code
    # (PyTorch's kernels are compiled ahead of time and loaded with the library, before any step).
    build(lib, name, device, size="tiny")[1]()
    model, step = build(lib, name, device)
    baseline = _rss_mb("VmRSS")
    try:  # reset the kernel's peak-RSS counter so VmHWM measures the steps alone
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    for _ in range(warmup):
        loss = step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - start)
    times.sort()
    peak = _rss_mb("VmHWM") - baseline
    if device == "cuda":
        peak = _gpu_peak_mb(libname)
    return {"ms": 1000 * times[len(times) // 2], "peak_mb": max(peak, 0.0), "loss": float(loss.item())}


def _cupy_sync():
    import cupy
    cupy.cuda.Device().synchronize()


def _gpu_peak_mb(libname):
    if libname == "torch":
        import torch
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import cupy
    return cupy.get_default_memory_pool().total_bytes() / 2 ** 20


# ---- the command line ------------------------------------------------------------------------
def _run_child(libname, name, device, steps):
    cmd = [sys.executable, "-m", "tinygrad_edu.bench", "--child", libname, "--workload", name, "--device", device,
           "--steps", str(steps)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child {libname}/{name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _torch_available(device):
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed"
    if device == "cuda" and not torch.cuda.is_available():
        return False, "PyTorch cannot see a CUDA device"
    return True, f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, action="append",
                        help="run only this workload (repeatable); default: all")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per workload (median reported)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--child", choices=("tinygrad_edu", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(measure(args.child, args.workload[0], args.device, args.steps)))
        return 0

    if args.device == "cuda":
        import tinygrad_edu as tg
        if not tg.cuda.is_available():
            parser.error(f"--device cuda: {tg.cuda.unavailable_reason()}")
    with_torch, torch_note = _torch_available(args.device)
    print(f"tinygrad_edu benchmark on {args.device}; median of {args.steps} steps after 3 warm-up steps; "
          f"{'comparing with ' + torch_note if with_torch else torch_note + ': showing our figures alone'}")
    header = f"{'workload':<9}{'ms/step':>10}{'peak MB':>10}"
    if with_torch:
        header += f"{'torch ms':>10}{'torch MB':>10}{'ratio':>8}{'mem ratio':>11}"
    print(header)
    results = {}
    for name in args.workload or WORKLOADS:
        ours = _run_child("tinygrad_edu", name, args.device, args.steps)
        row = f"{name:<9}{ours['ms']:>10.2f}{ours['peak_mb']:>10.1f}"
        entry = {"ours": ours}
        if with_torch:
            ref = _run_child("torch", name, args.device, args.steps)
            ratio = ours["ms"] / ref["ms"]
            mem_ratio = ours["peak_mb"] / ref["peak_mb"] if ref["peak_mb"] > 0 else float("nan")
            row += f"{ref['ms']:>10.2f}{ref['peak_mb']:>10.1f}{ratio:>8.2f}{mem_ratio:>11.2f}"
            entry.update(torch=ref, ratio=ratio, mem_ratio=mem_ratio)
        print(row, flush=True)
        results[name] = entry
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "steps": args.steps, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
