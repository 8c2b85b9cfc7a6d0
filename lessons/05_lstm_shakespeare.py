"""Lesson 5: a character-level LSTM that writes (something like) Shakespeare.

What you will learn
  * language modelling as classification: at every position, predict the next
    character; the loss is cross-entropy over the 65 possible characters;
  * a tokenizer (characters <-> integer ids) and an Embedding that turns ids into vectors;
  * the LSTM: a recurrent layer whose cell state carries information along the
    sequence, with input / forget / output gates deciding what to keep;
  * training on random windows of a long text, with gradient clipping
    (tg.nn.utils.clip_grad_norm_) so one bad batch cannot blow up the weights;
  * sampling: feed the model its own output one character at a time, carrying the
    LSTM's (h, c) state forward, with a temperature that trades safety for variety.

The data: tiny-shakespeare, 1.1 million characters of Shakespeare's plays; the first
90% train the model, the last 10% measure the validation loss.

Run it:
    python lessons/05_lstm_shakespeare.py               # full run: about a minute on 2 CPU cores
    python lessons/05_lstm_shakespeare.py --steps 3000  # longer: better spelling
    python lessons/05_lstm_shakespeare.py --quick       # what CI runs (a tiny model, a few steps)

What to expect: the loss starts at ln(65) = 4.17 (a uniform guess). Near 2.0 the model
has learned spaces, common letters and line breaks; near 1.6 it writes word-like text
with speaker names, and punctuation in sensible places.
"""
import math

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import CharTokenizer, tiny_shakespeare


class CharLSTM(nn.Module):
    """ids (B, T) -> Embedding -> LSTM -> Linear -> logits (B, T, vocab) for the *next* character."""

    def __init__(self, vocab_size, embed_dim, hidden_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)                  # id -> a learned vector
        self.lstm = nn.LSTM(embed_dim, hidden_size, batch_first=True)     # reads the sequence left to right
        self.head = nn.Linear(hidden_size, vocab_size)                    # hidden state -> a score per character

    def forward(self, ids, state=None):
        """Returns (logits, (h, c)); pass the returned state back in to continue a sequence."""
        out, state = self.lstm(self.embed(ids), state)   # out: (B, T, hidden), the hidden state at every step
        return self.head(out), state


def get_batch(data, batch_size, seq_len, rng, device):
    """batch_size random windows of the text: inputs x and targets y, y being x shifted by one character."""
    starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
    windows = np.stack([data[s:s + seq_len + 1] for s in starts])        # (B, T + 1)
    x = tg.tensor(windows[:, :-1], device=device)                         # the characters seen ...
    y = tg.tensor(windows[:, 1:], device=device)                          # ... and the ones to predict
    return x, y


def loss_of(model, x, y):
    logits, _ = model(x)                                                  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))   # over all B*T positions


@tg.no_grad()
def estimate_val_loss(model, data, batch_size, seq_len, device, batches):
    """The mean loss on a fixed set of validation windows (the same windows every time)."""
    model.eval()
    rng = np.random.default_rng(1234)
    losses = [loss_of(model, *get_batch(data, batch_size, seq_len, rng, device)).item() for _ in range(batches)]
    model.train()
    return float(np.mean(losses))


@tg.no_grad()
def sample(model, tokenizer, prompt, length, temperature, rng, device):
    """Generate `length` characters after `prompt`, one at a time.

    The prompt is read in one call; after that each call reads a single character and
    the (h, c) state carries everything the model remembers about what came before.
    """
    model.eval()
    ids = tg.tensor([tokenizer.encode(prompt)], device=device)            # (1, len(prompt))
    logits, state = model(ids)
    out = []
    for _ in range(length):
        # temperature < 1 sharpens the distribution (safer, more repetitive), > 1 flattens it
        probs = F.softmax(logits[0, -1] / temperature, dim=-1).numpy().astype(np.float64)
        next_id = int(rng.choice(len(probs), p=probs / probs.sum()))
        out.append(next_id)
        logits, state = model(tg.tensor([[next_id]], device=device), state)
    model.train()
    return prompt + tokenizer.decode(out)


def main():
    args = common.parse_args(
        __file__, __doc__, steps=1000, quick_steps=20, device=True,
        extra=lambda p: (p.add_argument("--hidden", type=int, default=None, help="LSTM size (default 256, --quick 64)"),
                         p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")))
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    hidden = args.hidden or (64 if args.quick else 256)
    batch_size, seq_len = (8, 32) if args.quick else (32, 64)
    sample_length = 120 if args.quick else 600
    val_batches = 2 if args.quick else 8

    # ---- data: text -> integer ids ------------------------------------------------------------
    text = tiny_shakespeare()
    tokenizer = CharTokenizer(text)
    data = np.array(tokenizer.encode(text), dtype=np.int64)
    n_train = int(0.9 * len(data))
    train_data, val_data = data[:n_train], data[n_train:]
    print(f"{len(text):,} characters, vocabulary of {tokenizer.vocab_size}: {''.join(tokenizer.itos)!r}")
    print(f"'First Citizen' -> {tokenizer.encode('First Citizen')}")

    # ---- model and optimizer ------------------------------------------------------------------
    model = CharLSTM(tokenizer.vocab_size, embed_dim=64, hidden_size=hidden).to(args.device)
    print(model)
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters; batches of {batch_size} windows of "
          f"{seq_len} characters")
    optimizer = tg.optim.Adam(model.parameters(), lr=3e-3)
    max_norm = 1.0

    print("before training, the model babbles uniformly at random:")
    print("  " + repr(sample(model, tokenizer, "\n", 60, 1.0, rng, args.device)))

    # ---- train --------------------------------------------------------------------------------
    losses, val_points, clipped, largest_norm = [], [], 0, 0.0
    eval_every = max(1, args.steps // 10)
    bar = common.Progress(args.steps, desc="train", unit="step")
    for step in range(1, args.steps + 1):
        x, y = get_batch(train_data, batch_size, seq_len, rng, args.device)
        optimizer.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        # Recurrent nets can produce huge gradients (the same weights are applied T times). Scale all
        # gradients together so their joint norm is at most max_norm; the direction is unchanged.
        norm = tg.nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()
        clipped += norm > max_norm
        largest_norm = max(largest_norm, norm)
        optimizer.step()
        losses.append(loss.item())
        bar.update(loss=losses[-1], grad_norm=norm)
        if step % eval_every == 0 or step == args.steps:
            val_points.append((step, estimate_val_loss(model, val_data, batch_size, seq_len, args.device, val_batches)))
            bar.update(0, val_loss=val_points[-1][1])
    bar.close()
    train_loss = float(np.mean(losses[-max(1, eval_every):]))
    val_loss = val_points[-1][1]
    print(f"train loss {losses[0]:.3f} -> {train_loss:.3f} (start: ln({tokenizer.vocab_size}) = "
          f"{math.log(tokenizer.vocab_size):.3f});  validation loss {val_loss:.3f}\n"
          f"largest gradient norm {largest_norm:.2f}: clipping at {max_norm} acted in {clipped} of {args.steps} "
          f"steps")

    # ---- sample -------------------------------------------------------------------------------
    text_out = sample(model, tokenizer, "ROMEO:\n", sample_length, args.temperature, rng, args.device)
    print(f"\n---- sample (temperature {args.temperature}) ----\n{text_out}\n---- end of sample ----")
    sample_path = args.out / "sample.txt"
    sample_path.write_text(f"# {args.name}: {args.steps} steps, validation loss {val_loss:.3f}, "
                           f"temperature {args.temperature}\n{text_out}\n", encoding="utf-8")
    print(f"saved {sample_path.name}")

    common.plot_curves(args.out / "loss_curve.png",
                       {"train (per step)": losses,
                        "train (running mean)": common.smooth(losses, 50),
                        "validation": tuple(zip(*val_points))},
                       title=f"char-LSTM on tiny-shakespeare (hidden {hidden})", xlabel="step",
                       ylabel="cross-entropy per character")

    common.summary(args.name, [
        "A language model is a classifier applied at every position: predict character t+1 from "
        "characters 1..t, with cross-entropy over the vocabulary.",
        "CharTokenizer maps characters to ids; nn.Embedding maps ids to trainable vectors.",
        "nn.LSTM(batch_first=True) takes (B, T, features) and returns the hidden state at every step plus "
        "the final (h, c), which can be passed back in to continue the sequence.",
        "clip_grad_norm_ rescales all gradients together when their norm is too large, keeping recurrent "
        "training stable.",
        "Sampling feeds the model its own output one character at a time; temperature trades "
        "predictability for variety.",
    ], {"train loss": train_loss, "validation loss": val_loss, "sample": str(sample_path.name)})


if __name__ == "__main__":
    main()
