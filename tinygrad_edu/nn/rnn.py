"""LSTMCell and LSTM with PyTorch's parameter names, shapes, gate order (i, f, g, o) and initialisation."""
import math

from .. import factories
from ..ops.lstm import LSTMLayer
from ..tensor import stack
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _uniform_params(module, hidden_size):
    """PyTorch initialises every LSTM weight and bias U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


class LSTMCell(Module):
    """One step: (x (B, in), (h, c) (B, H) each) -> (h', c')."""
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = Parameter(factories.zeros(4 * hidden_size, input_size))
        self.weight_hh = Parameter(factories.zeros(4 * hidden_size, hidden_size))
        self.bias_ih = Parameter(factories.zeros(4 * hidden_size)) if bias else None
        self.bias_hh = Parameter(factories.zeros(4 * hidden_size)) if bias else None
        _uniform_params(self, hidden_size)

    def forward(self, input, hx=None):
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"LSTMCell: expected input (batch, {self.input_size}) or ({self.input_size},), "
                             f"got shape {input.shape}")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = factories.zeros(input.shape[0], self.hidden_size, device=input.device, dtype=input.dtype)
            hx = (zeros, zeros)
        else:
            hx = tuple(t.unsqueeze(0) if unbatched else t for t in hx)
        h, c = F.lstm_cell(input, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h[0], c[0]) if unbatched else (h, c)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """A stack of LSTM layers over a sequence; returns output, (h_n, c_n) like PyTorch.

    input (T, B, in), or (B, T, in) with batch_first=True, or unbatched (T, in).
    Each layer runs as one fused node (ops.lstm.LSTMLayer): one matmul for the whole
    sequence's input projection, then one matmul and one fused cell per step.
    """
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", Parameter(factories.zeros(4 * hidden_size, layer_input)))
            setattr(self, f"weight_hh_l{k}", Parameter(factories.zeros(4 * hidden_size, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{k}", Parameter(factories.zeros(4 * hidden_size)))
                setattr(self, f"bias_hh_l{k}", Parameter(factories.zeros(4 * hidden_size)))
        _uniform_params(self, hidden_size)

    def forward(self, input, hx=None):
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"LSTM: expected input (seq, batch, {self.input_size}) (or batch first, or unbatched "
                             f"(seq, {self.input_size})), got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        batch, H = x.shape[1], self.hidden_size
        if hx is None:
            zeros = factories.zeros(self.num_layers, batch, H, device=x.device, dtype=x.dtype)
            h0, c0 = zeros, zeros
        else:
            h0, c0 = (t.unsqueeze(1) if unbatched else t for t in hx)
            if h0.shape != (self.num_layers, batch, H) or c0.shape != (self.num_layers, batch, H):
                raise ValueError(f"LSTM: h0 and c0 must have shape ({self.num_layers}, {batch}, {H}), got "
                                 f"{h0.shape} and {c0.shape}")
        h_n, c_n = [], []
        for k in range(self.num_layers):
            params = [getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")]
            if self.bias:
                params += [getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")]
            hc = LSTMLayer.apply(x, h0[k], c0[k], *params)
            x = hc[:, :, :H]
            h_n.append(x[-1])
            c_n.append(hc[-1, :, H:])
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        h_n, c_n = stack(h_n), stack(c_n)
        if unbatched:
            return x[:, 0], (h_n[:, 0], c_n[:, 0])
        return (x.transpose(0, 1) if self.batch_first else x), (h_n, c_n)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}")
