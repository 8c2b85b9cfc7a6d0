"""A character LSTM language model on tiny-shakespeare (truncated backpropagation through time), plain PyTorch.

Runs unchanged on PyTorch and on tinygrad_edu (`python -m tinygrad_edu.torch_compat lstm_language_model.py`).
"""
import argparse
import math
import os

import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=1000)
parser.add_argument("--data", default=os.path.join(os.environ.get("TINYGRAD_EDU_DATA", "."), "tinyshakespeare.txt"))
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)

with open(args.data, encoding="utf-8") as f:
    text = f.read()[:100_000]
vocab = sorted(set(text))
ids = torch.tensor([vocab.index(c) for c in text], dtype=torch.long)
batch, seq_len, hidden = 16, 50, 128
usable = (len(ids) - 1) // (batch * seq_len) * batch * seq_len
inputs = ids[:usable].view(batch, -1)                 # each row a continuous stream
targets = ids[1:usable + 1].view(batch, -1)


class CharLSTM(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 64)
        self.lstm = nn.LSTM(64, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        y, state = self.lstm(self.embed(x), state)
        return self.out(y), state


model = CharLSTM(len(vocab))
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
criterion = nn.CrossEntropyLoss()
state, position = None, 0
for step in range(args.steps):
    if position + seq_len > inputs.size(1):
        state, position = None, 0
    x = inputs[:, position:position + seq_len]
    y = targets[:, position:position + seq_len]
    position += seq_len
    if state is not None:
        state = tuple(s.detach() for s in state)      # truncated BPTT: keep the state, cut the graph
    logits, state = model(x, state)
    loss = criterion(logits.reshape(-1, len(vocab)), y.reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step == 0:
        print(f"loss at step 0: {loss.item():.4f} (uniform guess: {math.log(len(vocab)):.4f})")
print(f"final loss: {loss.item():.4f}")
