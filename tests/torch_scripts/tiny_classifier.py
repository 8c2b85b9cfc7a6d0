import sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.backends.cudnn.benchmark = True
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
x = torch.randn(64, 4)
y = (x.sum(1) > 0).long()
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).to(device)
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for epoch in range(30):
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
with torch.no_grad():
    acc = (model(x).argmax(1) == y).float().mean()
print(f"loss {loss:.4f} acc {acc.item():.3f} args {sys.argv[1:]} torch is {torch.__name__}")
try:
    torch.fft
except AttributeError as e:
    print(e)
try:
    import torch.jit
except ImportError as e:
    print(e)
