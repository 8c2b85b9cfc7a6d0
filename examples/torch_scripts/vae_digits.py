"""A variational autoencoder on the 8x8 handwritten digits, in plain PyTorch.

Runs unchanged on PyTorch and on tinygrad_edu (`python -m tinygrad_edu.torch_compat vae_digits.py`).
The digits come from scikit-learn's digits.csv.gz (in $TINYGRAD_EDU_DATA).
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=30)
parser.add_argument("--data", default=os.path.join(os.environ.get("TINYGRAD_EDU_DATA", "."), "digits.csv.gz"))
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)

with gzip.open(args.data, "rt") as f:
    table = np.loadtxt(f, delimiter=",", dtype=np.float32)
images = torch.from_numpy(np.ascontiguousarray(table[:, :64] / 16.0))
loader = DataLoader(TensorDataset(images), batch_size=64, shuffle=True)


class VAE(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.mu, self.logvar = nn.Linear(128, latent), nn.Linear(128, latent)
        self.dec = nn.Sequential(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 64), nn.Sigmoid())

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)      # the reparameterisation trick
        return self.dec(z), mu, logvar


def vae_loss(recon, x, mu, logvar):
    reconstruction = F.binary_cross_entropy(recon, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (reconstruction + kl) / x.size(0)


model = VAE()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(args.epochs):
    total, batches = 0.0, 0
    for (x,) in loader:
        recon, mu, logvar = model(x)
        loss = vae_loss(recon, x, mu, logvar)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    if epoch == 0:
        print(f"loss at epoch 0: {total / batches:.4f}")
print(f"final loss: {total / batches:.4f}")
