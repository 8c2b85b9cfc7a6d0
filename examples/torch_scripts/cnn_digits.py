"""An MNIST-style CNN with torchvision transforms, on the 8x8 handwritten digits, in plain PyTorch.

Runs unchanged on PyTorch with torchvision, and on tinygrad_edu
(`python -m tinygrad_edu.torch_compat cnn_digits.py`, where torchvision is tinygrad_edu.vision).
The digits come from scikit-learn's digits.csv.gz (in $TINYGRAD_EDU_DATA).
"""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--data", default=os.path.join(os.environ.get("TINYGRAD_EDU_DATA", "."), "digits.csv.gz"))
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)


class Digits(Dataset):
    """The 1,797 digits as 8x8 uint8 images (like MNIST's 28x28), first 1,500 for training."""

    def __init__(self, path, train, transform):
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
        rows = table[:1500] if train else table[1500:]
        self.images = (rows[:, :64] * 255 // 16).astype(np.uint8).reshape(-1, 8, 8)
        self.labels = rows[:, 64]
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


normalize = transforms.Normalize((0.3,), (0.4,))
train = Digits(args.data, True, transforms.Compose([transforms.RandomCrop(8, padding=1), transforms.ToTensor(),
                                                     normalize]))
test = Digits(args.data, False, transforms.Compose([transforms.ToTensor(), normalize]))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(args.epochs):
    model.train()
    for x, y in DataLoader(train, batch_size=32, shuffle=True, num_workers=0):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if epoch == 0:
        print(f"loss at epoch 0: {loss.item():.4f}")
model.eval()
correct = 0
with torch.no_grad():
    for x, y in DataLoader(test, batch_size=100):
        correct += (model(x).argmax(dim=1) == y).sum().item()
print(f"final loss: {loss.item():.4f}")
print(f"test accuracy: {correct / len(test):.4f}")
