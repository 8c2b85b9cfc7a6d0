"""Lesson 6: a tiny GPT, trained on Shakespeare one character at a time.

What you will learn
  * self-attention: every position builds a query, compares it with the keys of all
    earlier positions, and takes a softmax-weighted average of their values;
  * the causal mask (a position may not look at the future), checked against
    F.scaled_dot_product_attention(..., is_causal=True) by hand;
  * the transformer block: pre-LayerNorm, attention and a GELU MLP, each inside a
    residual connection (x = x + f(norm(x)));
  * token + position embeddings: attention itself does not know the order of things;
  * AdamW with decoupled weight decay on the weight matrices only (parameter groups),
    and a cosine learning-rate schedule (CosineAnnealingLR, stepped every step).

The task is lesson 5's (predict the next character of tiny-shakespeare), so the two
models can be compared directly. Unlike the LSTM, the GPT sees its whole context
window at once, with no recurrence, so all T positions are computed in parallel.

What to expect: after the full run (1,200 steps) the validation loss is about 1.8 and the
sample has speaker names, line breaks and mostly real short words. Compare it with lesson
5's LSTM using the losses and times measured for both in lessons/README.md: at this small
size and short training the two are close, and recurrence is a strong prior for text;
Transformers pull ahead as the model, the data and the context grow.

Run it:
    python lessons/06_gpt_shakespeare.py             # full run: a few minutes on 2 CPU cores
    python lessons/06_gpt_shakespeare.py --steps 3000
    python lessons/06_gpt_shakespeare.py --quick     # what CI runs (a tiny model, a few steps)
"""
import math

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import CharTokenizer, tiny_shakespeare


# =============================================================================================
# The model
# =============================================================================================
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, written out (nn.MultiheadAttention does the same job).

    x (B, T, C) -> q, k, v, each (B, heads, T, C / heads) -> attention per head -> (B, T, C).
    Each head can attend to different things (the previous character, the start of the
    word, the speaker's name, ...); their outputs are concatenated and mixed by `proj`.
    """

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)   # one matrix makes queries, keys and values together
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)                                       # 3 x (B, T, C)
        q, k, v = (t.reshape(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)                 # (B, heads, T, C/heads)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))                         # heads side by side again


class Block(nn.Module):
    """A transformer block: communicate (attention), then compute (MLP), each as a residual update."""

    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))   # pre-LayerNorm: normalise the input of each branch, not the sum,
        x = x + self.mlp(self.ln2(x))    # so the residual path x -> x is left clean (deep stacks train well)
        return x


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, dim, heads, layers):
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(vocab_size, dim)       # what each character is
        self.pos = nn.Embedding(block_size, dim)       # where it is: attention alone is blind to order
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, ids):
        B, T = ids.shape
        x = self.tok(ids) + self.pos(tg.arange(T, device=ids.device))   # (B, T, dim) + (T, dim): broadcast
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))                                   # (B, T, vocab) next-character logits


# =============================================================================================
# Attention by hand: what F.scaled_dot_product_attention(..., is_causal=True) computes
# =============================================================================================
def attention_by_hand(q, k, v):
    """softmax(q k^T / sqrt(d) with the future masked out) v, one step at a time."""
    T, d = q.shape[-2], q.shape[-1]
    # Why divide by sqrt(d)? q.k adds up d products of numbers of about unit size, so its spread grows
    # like sqrt(d). Unscaled, large d makes the scores large, softmax nearly one-hot, and its gradient
    # nearly zero; dividing by sqrt(d) keeps the scores' variance near 1 whatever the head size.
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)           # (..., T, T): how well query i matches key j
    future = tg.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))   # True above the diagonal: j > i
    scores = scores.masked_fill(future, float("-inf"))        # e^-inf = 0: no weight on the future
    weights = F.softmax(scores, dim=-1)                       # each row sums to 1
    return weights @ v, weights


def show_attention_check():
    tg.manual_seed(0)
    q, k, v = tg.randn(2, 5, 8), tg.randn(2, 5, 8), tg.randn(2, 5, 8)
    ours, weights = attention_by_hand(q, k, v)
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    diff = float(np.abs(ours.numpy() - fused.numpy()).max())
    print("attention weights of one sequence (row i = query at position i; zeros above the diagonal):")
    print(np.array2string(weights.numpy()[0], precision=2, suppress_small=True))
    print(f"attention by hand vs F.scaled_dot_product_attention(is_causal=True): max difference {diff:.1e}")
    assert diff < 1e-5, "the hand-written attention should match the library's"


# =============================================================================================
# Data, loss, sampling (as in lesson 5)
# =============================================================================================
def get_batch(data, batch_size, block_size, rng, device):
    starts = rng.integers(0, len(data) - block_size - 1, size=batch_size)
    windows = np.stack([data[s:s + block_size + 1] for s in starts])
    return tg.tensor(windows[:, :-1], device=device), tg.tensor(windows[:, 1:], device=device)


def loss_of(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@tg.no_grad()
def estimate_val_loss(model, data, batch_size, block_size, device, batches):
    model.eval()
    rng = np.random.default_rng(1234)
    losses = [loss_of(model, *get_batch(data, batch_size, block_size, rng, device)).item() for _ in range(batches)]
    model.train()
    return float(np.mean(losses))


@tg.no_grad()
def sample(model, tokenizer, prompt, length, temperature, rng, device, top_k=None):
    """Append one character at a time. The GPT has no state to carry: it rereads its last
    block_size characters each time (a real implementation caches the keys and values)."""
    model.eval()
    ids = tokenizer.encode(prompt)
    for _ in range(length):
        context = tg.tensor([ids[-model.block_size:]], device=device)
        logits = model(context)[0, -1] / temperature
        if top_k is not None:   # keep only the k most likely characters
            kth = np.sort(logits.numpy())[-top_k]
            logits = logits.masked_fill(logits < float(kth), float("-inf"))
        probs = F.softmax(logits, dim=-1).numpy().astype(np.float64)
        ids.append(int(rng.choice(len(probs), p=probs / probs.sum())))
    model.train()
    return tokenizer.decode(ids)


def main():
    args = common.parse_args(
        __file__, __doc__, steps=1200, quick_steps=20, device=True,
        extra=lambda p: p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature"))
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.quick:
        cfg = dict(block_size=32, dim=32, heads=2, layers=1)
        batch_size, sample_length, val_batches = 8, 120, 2
    else:
        cfg = dict(block_size=64, dim=128, heads=4, layers=2)
        batch_size, sample_length, val_batches = 32, 600, 8

    show_attention_check()

    # ---- data --------------------------------------------------------------------------------
    text = tiny_shakespeare()
    tokenizer = CharTokenizer(text)
    data = np.array(tokenizer.encode(text), dtype=np.int64)
    n_train = int(0.9 * len(data))
    train_data, val_data = data[:n_train], data[n_train:]

    # ---- model -------------------------------------------------------------------------------
    model = GPT(tokenizer.vocab_size, **cfg).to(args.device)
    print(f"\nGPT {cfg}: {sum(p.numel() for p in model.parameters()):,} parameters; batches of {batch_size} "
          f"windows of {cfg['block_size']} characters")

    # AdamW's weight decay pulls weights towards 0 (a brake on overfitting). It is meant for the
    # weight *matrices*; biases, LayerNorm gains and embeddings are usually left alone -- two
    # parameter groups with different options, in one optimizer.
    def wants_decay(name, p):
        return p.ndim == 2 and not name.startswith(("tok.", "pos."))   # a Linear's weight matrix
    decay = [p for name, p in model.named_parameters() if wants_decay(name, p)]
    no_decay = [p for name, p in model.named_parameters() if not wants_decay(name, p)]
    optimizer = tg.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                {"params": no_decay, "weight_decay": 0.0}], lr=2e-3, betas=(0.9, 0.99))
    # The cosine schedule starts at lr and glides to lr/10 by the last step: big steps early,
    # fine ones at the end. Here it is stepped once per optimizer step, so T_max = steps.
    scheduler = tg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps, eta_min=2e-4)
    print(f"AdamW: {len(decay)} weight matrices with weight decay 0.1, {len(no_decay)} other tensors without")

    # ---- train -------------------------------------------------------------------------------
    losses, val_points, lrs = [], [], []
    eval_every = max(1, args.steps // 10)
    bar = common.Progress(args.steps, desc="train", unit="step")
    for step in range(1, args.steps + 1):
        x, y = get_batch(train_data, batch_size, cfg["block_size"], rng, args.device)
        optimizer.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        tg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
        losses.append(loss.item())
        bar.update(loss=losses[-1], lr=f"{lrs[-1]:.1e}")
        if step % eval_every == 0 or step == args.steps:
            val_points.append((step, estimate_val_loss(model, val_data, batch_size, cfg["block_size"], args.device,
                                                       val_batches)))
            bar.update(0, val_loss=val_points[-1][1])
    bar.close()
    train_loss = float(np.mean(losses[-max(1, eval_every):]))
    val_loss = val_points[-1][1]
    print(f"train loss {losses[0]:.3f} -> {train_loss:.3f} (start: ln(65) = {math.log(65):.3f}); "
          f"validation loss {val_loss:.3f}")

    # ---- sample ------------------------------------------------------------------------------
    text_out = sample(model, tokenizer, "ROMEO:\n", sample_length, args.temperature, rng, args.device, top_k=20)
    print(f"\n---- sample (temperature {args.temperature}, top-k 20) ----\n{text_out}\n---- end of sample ----")
    sample_path = args.out / "sample.txt"
    sample_path.write_text(f"# {args.name}: {args.steps} steps, validation loss {val_loss:.3f}, "
                           f"temperature {args.temperature}, top-k 20\n{text_out}\n", encoding="utf-8")
    print(f"saved {sample_path.name}")

    def draw(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax1.plot(range(1, len(losses) + 1), losses, alpha=0.4, label="train (per step)")
        ax1.plot(range(1, len(losses) + 1), common.smooth(losses, 50), label="train (running mean)")
        ax1.plot(*zip(*val_points), "o-", label="validation")
        ax1.set(title="tiny GPT on tiny-shakespeare", xlabel="step", ylabel="cross-entropy per character")
        ax1.grid(alpha=0.3)
        ax1.legend()
        ax2.plot(range(1, len(lrs) + 1), lrs)
        ax2.set(title="learning rate (CosineAnnealingLR)", xlabel="step", ylabel="lr")
        ax2.grid(alpha=0.3)
    common.save_plot(args.out / "loss_curve.png", draw, figsize=(11, 4))

    common.summary(args.name, [
        "Self-attention: softmax(q k^T / sqrt(d)) v, with the future masked to -inf so each position only "
        "sees the past; F.scaled_dot_product_attention(is_causal=True) computes exactly that, fused.",
        "Several heads attend to different things in parallel; their outputs are concatenated and projected.",
        "A block is x + attn(ln1(x)) then x + mlp(ln2(x)): residual paths and pre-LayerNorm keep deep "
        "stacks trainable; position embeddings tell the model the order of the characters.",
        "AdamW decays weights separately from the gradient step; parameter groups give matrices decay "
        "and leave biases, norms and embeddings alone.",
        "CosineAnnealingLR lowers the learning rate along half a cosine; step it once per optimizer step "
        "with T_max = number of steps.",
    ], {"train loss": train_loss, "validation loss": val_loss, "sample": str(sample_path.name)})


if __name__ == "__main__":
    main()
