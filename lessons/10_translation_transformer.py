"""Lesson 10: an encoder-decoder Transformer that translates dates written in words into ISO form.

What you will learn
  * sequence-to-sequence with nn.Transformer: an encoder reads the whole source sentence, a
    decoder writes the translation one token at a time while attending to the encoder's output
    (cross-attention);
  * sinusoidal positional encoding (written here): attention alone is blind to word order;
  * the masks: a causal mask on the target (nn.Transformer.generate_square_subsequent_mask) and
    key padding masks that hide the <pad> tokens of shorter source sentences;
  * teacher forcing: in training the decoder reads the *true* previous characters, so all
    positions are trained in parallel with one cross-entropy;
  * greedy decoding: at test time the decoder reads its *own* previous outputs, one token at a time;
  * attention maps: which source words each output character looked at, taken from the decoder's
    cross-attention (nn.MultiheadAttention with need_weights=True), plotted and explained.

The language is generated here, so nothing is downloaded: a random date between 1900 and 2099 is
written in words in one of four word orders, e.g.

    the third of march nineteen ninety-one        ->  1991-03-03
    july the twenty-first , two thousand and five  ->  2005-07-21

The model must read number words ("ninety-one" -> 91), turn a month name into its number, and
reorder everything (the year comes first in ISO form but last in the sentence). The held-out
test dates never appear in training, in any wording. Target: >= 99% exact match (every one of the
ten characters right) in under 5 minutes on 2 CPU cores.

What to expect: after the full run (1,500 steps of 64 sentences) the training loss is about 1e-3
per character and about 99.6% of the 2,000 held-out dates come out exactly right. Most of the few
mistakes are 'twenty nineteen' read as 1920: the one year in which 'nineteen' is not the century,
and a rare wording in training. Look at the mistakes the lesson prints: they are rarely random.

Run it:
    python lessons/10_translation_transformer.py              # full run: about 50 s on 2 CPU cores
    python lessons/10_translation_transformer.py --steps 600  # shorter
    python lessons/10_translation_transformer.py --quick      # what CI runs (a tiny model, a few steps)
"""
import datetime
import math
import re

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F


# =============================================================================================
# The synthetic language: dates in words -> ISO dates
# =============================================================================================
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
            "eighteenth", "nineteenth", "twentieth"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
FIRST_DAY, LAST_DAY = datetime.date(1900, 1, 1).toordinal(), datetime.date(2099, 12, 31).toordinal()


def number_words(n):
    """1..99 in words: 7 -> 'seven', 40 -> 'forty', 91 -> 'ninety-one'."""
    return ONES[n] if n < 20 else TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else "")


def ordinal_words(n):
    """1..31 as an ordinal: 3 -> 'third', 21 -> 'twenty-first', 30 -> 'thirtieth'."""
    if n <= 20:
        return ORDINALS[n]
    return "thirtieth" if n == 30 else TENS[n // 10] + f"-{ORDINALS[n % 10]}"


def year_words(year, rng):
    """1991 -> 'nineteen ninety-one'; 1905 -> 'nineteen oh five'; 2012 -> 'twenty twelve' or
    'two thousand (and) twelve'. Some years have several wordings: the model must learn them all."""
    century, yy = divmod(year, 100)
    if century == 19:
        return "nineteen " + ("hundred" if yy == 0 else f"oh {ONES[yy]}" if yy < 10 else number_words(yy))
    if yy == 0:
        return "two thousand"
    choices = ["two thousand and ", "two thousand "] + (["twenty "] if yy >= 10 else [])
    return choices[rng.integers(len(choices))] + number_words(yy)


def date_sentence(date, rng, form=None):
    """One random wording of a date in one of four word orders (or the order `form` picks)."""
    day, month, year = ordinal_words(date.day), MONTHS[date.month - 1], year_words(date.year, rng)
    forms = [f"the {day} of {month} {year}",     # the third of march nineteen ninety-one
             f"{month} the {day} {year}",        # march the third nineteen ninety-one
             f"{month} {day} , {year}",          # march third , nineteen ninety-one
             f"{day} {month} {year}"]            # third march nineteen ninety-one
    return forms[rng.integers(len(forms)) if form is None else form]


def tokenize(sentence):
    """Words, with '-' and ',' as tokens of their own: 'ninety-one' -> ['ninety', '-', 'one']."""
    return re.findall(r"[a-z]+|[-,]", sentence)


# The source vocabulary: every word the generator can write (index 0 is <pad>). The target is
# written one character at a time, from 13 tokens: <bos> starts the decoder's input, <eos> ends
# the translation, then the ten digits and '-'.
SRC_ITOS = ["<pad>"] + sorted(set(tokenize(" ".join(ONES + TENS + ORDINALS + MONTHS + [
    "the of and oh hundred thousand thirtieth , -"]))))
SRC_STOI = {w: i for i, w in enumerate(SRC_ITOS)}
PAD = 0
TGT_ITOS = ["<bos>", "<eos>"] + list("0123456789-")
TGT_STOI = {c: i for i, c in enumerate(TGT_ITOS)}
BOS, EOS = TGT_STOI["<bos>"], TGT_STOI["<eos>"]
TGT_LEN = len("1991-03-03") + 1       # ten characters and <eos>: every target has this length


def encode_src(sentences):
    """Sentences -> src (N, S) word ids, padded with <pad> up to the longest sentence."""
    ids = [[SRC_STOI[w] for w in tokenize(s)] for s in sentences]
    src = np.full((len(ids), max(map(len, ids))), PAD, dtype=np.int64)
    for i, row in enumerate(ids):
        src[i, :len(row)] = row
    return src


def encode_batch(sentences, isos):
    """src (N, S) as above; ISO strings -> the decoder's input tgt_in = <bos> 1 9 9 1 - 0 3 - 0 (N, 11)
    and what it must output at each position, tgt_out = 1 9 9 1 - 0 3 - 0 3 <eos> (N, 11)."""
    chars = np.array([[TGT_STOI[c] for c in iso] for iso in isos], dtype=np.int64)
    tgt_in = np.concatenate([np.full((len(isos), 1), BOS), chars], axis=1)
    tgt_out = np.concatenate([chars, np.full((len(isos), 1), EOS)], axis=1)
    return encode_src(sentences), tgt_in, tgt_out


class DateData:
    """Held-out dates chosen once (a fixed seed, not --seed, so the test set never changes); training
    batches are fresh random dates that are never one of them -- an endless supply of sentences."""

    def __init__(self, n_val, n_test, seed):
        split = np.random.default_rng(1234)
        held_out = split.choice(LAST_DAY - FIRST_DAY + 1, size=n_val + n_test, replace=False) + FIRST_DAY
        self.held_out = set(held_out.tolist())
        self.val = self._sentences(held_out[:n_val], split)
        self.test = self._sentences(held_out[n_val:], split)
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def _sentences(ordinals, rng):
        dates = [datetime.date.fromordinal(int(o)) for o in ordinals]
        return [date_sentence(d, rng) for d in dates], [d.isoformat() for d in dates]

    def batch(self, size):
        ordinals = []
        while len(ordinals) < size:
            o = int(self.rng.integers(FIRST_DAY, LAST_DAY + 1))
            if o not in self.held_out:
                ordinals.append(o)
        return encode_batch(*self._sentences(ordinals, self.rng))


# =============================================================================================
# The model: embeddings + sinusoidal positions -> nn.Transformer -> a linear layer to the 13 tokens
# =============================================================================================
class SinusoidalPositionalEncoding(nn.Module):
    """Adds PE[pos] to the embedding at position pos (Vaswani et al., 2017):

        PE[pos, 2i] = sin(pos / 10000^(2i/d)),   PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

    Each pair of columns is a clock turning at its own speed, from once every 2*pi positions to once
    every 10000*2*pi, so every position gets a distinct pattern, and PE[pos + k] is a fixed rotation
    of PE[pos]: "k places later" is easy for attention to learn. Nothing here is trained: the table
    is a buffer (saved in the state dict, never changed by the optimizer)."""

    def __init__(self, d_model, max_len=64):
        super().__init__()
        pos = np.arange(max_len)[:, None]                                     # (max_len, 1)
        freq = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)  # 1 / 10000^(2i/d)
        pe = np.zeros((max_len, d_model), dtype=np.float32)
        pe[:, 0::2], pe[:, 1::2] = np.sin(pos * freq), np.cos(pos * freq)
        self.register_buffer("pe", tg.tensor(pe))

    def forward(self, x):                                                     # x: (N, T, d_model)
        return x + self.pe[:x.shape[1]]                                       # (T, d) broadcasts over N


class DateTranslator(nn.Module):
    def __init__(self, d_model, nhead, layers, dim_feedforward):
        super().__init__()
        self.d_model = d_model
        self.src_tok = nn.Embedding(len(SRC_ITOS), d_model)    # one vector per source word
        self.tgt_tok = nn.Embedding(len(TGT_ITOS), d_model)    # one vector per target character
        self.pos = SinusoidalPositionalEncoding(d_model)
        # batch_first=True: tensors are (batch, sequence, features), as everywhere else in these lessons.
        # No dropout: every batch is fresh data, so there is nothing to overfit (and it is faster).
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=layers,
                                          num_decoder_layers=layers, dim_feedforward=dim_feedforward,
                                          dropout=0.0, batch_first=True)
        self.generator = nn.Linear(d_model, len(TGT_ITOS))    # decoder output -> scores of the 13 tokens

    def embed_src(self, src):
        # The embeddings are N(0, 1) and the positional encoding is in [-1, 1]; scaling by sqrt(d), as in
        # the paper, keeps the words louder than their positions.
        return self.pos(self.src_tok(src) * math.sqrt(self.d_model))

    def embed_tgt(self, tgt):
        return self.pos(self.tgt_tok(tgt) * math.sqrt(self.d_model))

    def forward(self, src, tgt_in, src_padding):
        """Teacher forcing: the decoder reads the true target shifted right (<bos> 1 9 9 1 - 0 3 - 0) and
        predicts every next character at once; the causal mask stops position t from peeking at t+1..."""
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])   # (T, T): 0 / -inf above
        h = self.transformer(self.embed_src(src), self.embed_tgt(tgt_in), tgt_mask=causal,
                             src_key_padding_mask=src_padding,       # encoder: no word attends to <pad>
                             memory_key_padding_mask=src_padding)    # decoder: no character attends to <pad>
        # (tgt_key_padding_mask would hide padding in the target, too; every ISO date has the same length,
        # so our targets have none.)
        return self.generator(h)                                     # (N, T, 13) logits

    # The same network in two halves, for decoding: read the source once, then write step by step.
    def encode(self, src, src_padding):
        return self.transformer.encoder(self.embed_src(src), src_key_padding_mask=src_padding)

    def decode(self, tgt_in, memory, src_padding):
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        h = self.transformer.decoder(self.embed_tgt(tgt_in), memory, tgt_mask=causal,
                                     memory_key_padding_mask=src_padding)
        return self.generator(h)


def padding_mask(src):
    """(N, S) bool, True where the source is <pad>: PyTorch's convention, True = 'may NOT attend'."""
    return tg.tensor(src == PAD)


# =============================================================================================
# Greedy decoding and the exact-match score
# =============================================================================================
@tg.no_grad()
def greedy_decode(model, src):
    """Write each translation one character at a time, feeding the model its own previous outputs.

    The encoder runs once; the decoder reruns on the growing prefix <bos>, <bos> 1, <bos> 1 9, ...
    and we keep the most likely next character each time (greedy: no search over alternatives).
    A real implementation caches each layer's keys and values instead of recomputing the prefix."""
    model.eval()
    src_padding = padding_mask(src)
    memory = model.encode(tg.tensor(src), src_padding)
    ys = np.full((len(src), 1), BOS, dtype=np.int64)
    for _ in range(TGT_LEN):
        logits = model.decode(tg.tensor(ys), memory, src_padding)     # (N, t, 13)
        next_token = logits[:, -1].argmax(dim=-1).numpy()             # only the last position is new
        ys = np.concatenate([ys, next_token[:, None]], axis=1)
        if (ys == EOS).any(axis=1).all():                             # every sentence has ended
            break
    model.train()
    outputs = []
    for row in ys[:, 1:]:
        chars = []
        for t in row:
            if t == EOS:
                break
            chars.append(TGT_ITOS[t] if t != BOS else "?")
        outputs.append("".join(chars))
    return outputs


def exact_match(model, sentences, isos, batch_size=500):
    """The fraction of sentences translated with every character right (and nothing extra)."""
    predictions = []
    for start in range(0, len(sentences), batch_size):
        predictions += greedy_decode(model, encode_src(sentences[start:start + batch_size]))
    return float(np.mean([p == t for p, t in zip(predictions, isos)])), predictions


# =============================================================================================
# Attention maps: the decoder's cross-attention, re-run with need_weights=True
# =============================================================================================
@tg.no_grad()
def cross_attention_maps(model, src, tgt_in):
    """For every decoder layer, the cross-attention weights (N, heads, T, S): row t says how much the
    query that writes output character t took from each source word.

    nn.TransformerDecoderLayer calls its attention with need_weights=False (the fused path keeps no
    weights), so we run each layer's three steps ourselves -- this is all a post-norm decoder layer
    (norm_first=False, the default) does -- and ask multihead_attn for its weights. Then we check
    that our spelled-out layer gives exactly what the layer itself computes."""
    model.eval()
    src_padding = padding_mask(src)
    src, tgt_in = tg.tensor(src), tg.tensor(tgt_in)
    memory = model.encode(src, src_padding)
    causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
    x = model.embed_tgt(tgt_in)
    maps = []
    for layer in model.transformer.decoder.layers:
        # 1. masked self-attention over the characters written so far
        h = layer.norm1(x + layer.self_attn(x, x, x, attn_mask=causal, need_weights=False)[0])
        # 2. cross-attention: queries from the decoder, keys and values from the encoder's memory
        attended, weights = layer.multihead_attn(h, memory, memory, key_padding_mask=src_padding,
                                                 need_weights=True, average_attn_weights=False)
        h = layer.norm2(h + attended)
        # 3. the position-wise feed-forward block
        h = layer.norm3(h + layer.linear2(layer.activation(layer.linear1(h))))
        out = layer(x, memory, tgt_mask=causal, memory_key_padding_mask=src_padding)
        assert np.allclose(h.numpy(), out.numpy(), atol=1e-4), "the spelled-out decoder layer should match"
        maps.append(weights.numpy())
        x = out
    model.train()
    return maps


def plot_attention(path, maps, sentences, outputs, layer_names):
    """One heatmap per example (columns) and decoder layer (rows), averaged over the heads."""
    def draw(fig):
        n_rows, n_cols = len(maps), len(sentences)
        for r, layer_maps in enumerate(maps):
            for c, (sentence, output) in enumerate(zip(sentences, outputs)):
                words = tokenize(sentence)
                weights = layer_maps[c].mean(axis=0)[:len(output) + 1, :len(words)]   # (T, S) head average
                ax = fig.add_subplot(n_rows, n_cols, r * n_cols + c + 1)
                ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
                ax.set_xticks(range(len(words)))
                ax.set_xticklabels(words, rotation=90, fontsize=7)
                ax.set_yticks(range(len(output) + 1))
                ax.set_yticklabels(list(output) + ["<eos>"], fontsize=7)
                ax.set_title(f"{layer_names[r]}: {output}", fontsize=8)
        fig.suptitle("decoder cross-attention (mean of the heads): the row of each output character shows "
                     "which source words it read", fontsize=9)
    return common.save_plot(path, draw, figsize=(3.2 * len(sentences), 3.4 * len(maps) + 0.6))


def describe_attention(weights, sentence, output):
    """Print, for each output character, the source word it attended to most (head average)."""
    words = tokenize(sentence)
    mean = weights.mean(axis=0)
    print(f"  {sentence!r} -> {output}")
    for t, char in enumerate(list(output) + ["<eos>"]):
        j = int(mean[t, :len(words)].argmax())
        print(f"    writing {char:>5}: most attention on {words[j]!r} ({mean[t, j]:.2f})")


# =============================================================================================
# Training
# =============================================================================================
def main():
    args = common.parse_args(__file__, __doc__, steps=1500, quick_steps=15)
    tg.manual_seed(args.seed)
    if args.quick:
        cfg = dict(d_model=32, nhead=2, layers=1, dim_feedforward=64)
        batch_size, n_val, n_test, lr = 16, 50, 100, 1e-3
    else:
        cfg = dict(d_model=64, nhead=4, layers=2, dim_feedforward=256)
        batch_size, n_val, n_test, lr = 64, 300, 2000, 1e-3

    # ---- data --------------------------------------------------------------------------------
    data = DateData(n_val, n_test, seed=args.seed)
    print(f"source vocabulary: {len(SRC_ITOS)} words; target vocabulary: {len(TGT_ITOS)} tokens {TGT_ITOS}")
    print(f"{len(data.test[0])} held-out test dates and {len(data.val[0])} validation dates, never used "
          f"in training; some training sentences:")
    src, tgt_in, tgt_out = data.batch(3)
    for row_src, row_in, row_out in zip(src, tgt_in, tgt_out):
        words = " ".join(SRC_ITOS[i] for i in row_src)
        print(f"  src {words:<66} tgt_in {''.join(TGT_ITOS[i][0] for i in row_in)}"
              f"  tgt_out {''.join(TGT_ITOS[i] if i != EOS else '$' for i in row_out)}")
    print("  (in tgt_in '<' is <bos>; in tgt_out '$' is <eos>; src is padded with <pad> to the longest sentence)")

    # ---- model -------------------------------------------------------------------------------
    model = DateTranslator(**cfg)
    print(f"\nnn.Transformer {cfg}: {sum(p.numel() for p in model.parameters()):,} parameters")
    print("the causal mask for 4 target positions (row = query, column = key; -inf = may not look):")
    print(nn.Transformer.generate_square_subsequent_mask(4).numpy())

    # Adam with a short linear warm-up (post-norm transformers dislike big steps at the start),
    # then a cosine decay to 10% of the peak: LambdaLR multiplies lr by a function of the step.
    optimizer = tg.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))   # the paper's betas
    warmup = max(1, args.steps // 15)

    def schedule(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    scheduler = tg.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    # ---- train (teacher forcing) -----------------------------------------------------------------
    losses, val_points = [], []
    eval_every = max(5, args.steps // 10)      # ten validation points (fewer in a --quick run)
    bar = common.Progress(args.steps, desc="train", unit="step")
    for step in range(1, args.steps + 1):
        src, tgt_in, tgt_out = data.batch(batch_size)
        logits = model(tg.tensor(src), tg.tensor(tgt_in), padding_mask(src))        # (N, 11, 13)
        loss = F.cross_entropy(logits.reshape(-1, len(TGT_ITOS)), tg.tensor(tgt_out).reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        tg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.update(loss=losses[-1])
        if step % eval_every == 0 or step == args.steps:
            val_points.append((step, exact_match(model, *data.val)[0]))
            bar.update(0, val_exact=val_points[-1][1])
    bar.close()

    # ---- the held-out test: greedy decoding, exact match -----------------------------------------
    test_acc, predictions = exact_match(model, *data.test)
    sentences, isos = data.test
    wrong = [i for i, (p, t) in enumerate(zip(predictions, isos)) if p != t]
    print(f"\nheld-out test: {len(isos) - len(wrong)} of {len(isos)} dates translated exactly "
          f"(greedy decoding, one character at a time)")
    for i in list(range(4)) + wrong[:6]:
        mark = "ok   " if predictions[i] == isos[i] else "WRONG"
        print(f"  {mark} {sentences[i]:<58} -> {predictions[i]:<11} (true {isos[i]})")

    # ---- attention maps ------------------------------------------------------------------------
    # Four held-out dates from across the two centuries, one in each word order. The decoder reads
    # its own greedy output, exactly as when it translated them.
    rng = np.random.default_rng(7)
    held_out = sorted(data.held_out)
    dates = [datetime.date.fromordinal(held_out[(2 * k + 1) * len(held_out) // 8]) for k in range(4)]
    picks = [date_sentence(date, rng, form=k) for k, date in enumerate(dates)]
    src = encode_src(picks)
    outputs = [o[:10] for o in greedy_decode(model, src)]
    # (an untrained model may stop early or write <bos>: pad such outputs to 10 tokens with <bos>)
    tgt_in = np.array([[BOS] + [TGT_STOI.get(c, BOS) for c in o.ljust(10, "?")] for o in outputs])
    maps = cross_attention_maps(model, src, tgt_in)
    print("\nwhere the last decoder layer's cross-attention looks (mean of the heads):")
    describe_attention(maps[-1][0], picks[0], outputs[0])
    print("Read the rows of attention_maps.png the same way. In a trained model the last layer (bottom row) is\n"
          "sharp: the century digits read 'nineteen' / 'two thousand' / 'twenty', the next two the tens and ones\n"
          "words of the year, the month's digits the month name, the day's digits the day's words ('seventh'\n"
          "for the 7 of 27) -- wherever those words sit in the sentence. Cross-attention is how the decoder\n"
          "reorders the source. The first layer is blurrier: it gathers context that the second layer's\n"
          "queries then use. Each map is the mean of the heads; one head alone may be sharper or look elsewhere.")

    # ---- pictures ------------------------------------------------------------------------------
    def draw(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax1.plot(range(1, len(losses) + 1), losses, alpha=0.4, label="per step")
        ax1.plot(range(1, len(losses) + 1), common.smooth(losses, 50), label="running mean")
        ax1.set(title="training loss (teacher forcing)", xlabel="step", ylabel="cross-entropy per character")
        ax1.set_yscale("log")
        ax1.grid(alpha=0.3)
        ax1.legend()
        ax2.plot(*zip(*val_points), "o-")
        ax2.set(title="validation exact match (greedy decoding)", xlabel="step", ylabel="exact match",
                ylim=(-0.02, 1.02))
        ax2.grid(alpha=0.3)
    common.save_plot(args.out / "loss_curve.png", draw, figsize=(11, 4))
    plot_attention(args.out / "attention_maps.png", maps, picks, outputs,
                   [f"decoder layer {i + 1}" for i in range(len(maps))])

    common.summary(args.name, [
        "An encoder-decoder Transformer reads the whole source with self-attention, then writes the "
        "target token by token; cross-attention lets each output token look at any source word.",
        "Attention ignores order, so positions are added to the embeddings: sinusoidal encodings need no "
        "training and give every position a distinct, smoothly related pattern.",
        "Masks: generate_square_subsequent_mask hides the future from the decoder; key padding masks "
        "(True = may not attend) hide the <pad> tokens of short sentences from every query.",
        "Teacher forcing trains all positions at once on the true previous tokens; greedy decoding feeds "
        "the model its own outputs one token at a time, so one early mistake can spoil the rest.",
        "Cross-attention maps show the learned alignment: year digits read the year words, month digits "
        "the month name -- the reordering a translation needs.",
    ], {"held-out exact-match": test_acc, "final loss": float(np.mean(losses[-max(1, eval_every):])),
        "validation exact-match": val_points[-1][1]})


if __name__ == "__main__":
    main()
