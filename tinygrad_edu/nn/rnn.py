"""Recurrent layers with PyTorch's parameter names, shapes, gate orders and initialisation.

    RNNCell, RNN    h' = tanh (or relu) (x W_ih^T + b_ih + h W_hh^T + b_hh)
    GRUCell, GRU    gate order r, z, n:
                        r  = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
                        z  = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
                        n  = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
                        h' = (1 - z) * n + z * h
    LSTMCell, LSTM  gate order i, f, g, o; one fused op per layer (ops/lstm.py)

RNN and GRU compose Tensor ops (linear, sigmoid, tanh, stack), so autograd derives their
backward (backpropagation through time) from the ops' own. The loop over time steps is
inherent: step t needs h_{t-1}. A cell and a layer's step run the same update, given the
input's share of the gates x W_ih^T + b_ih (rnn_update, gru_update).
"""
import math
import numbers
import warnings

from .. import factories
from ..ops.lstm import LSTMLayer
from ..tensor import Tensor, cat, stack
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


def _uniform_params(module, hidden_size):
    """PyTorch initialises every recurrent weight and bias (LSTM, GRU, RNN) U(-1/sqrt(H), 1/sqrt(H)) (0 when H = 0)."""
    bound = 1 / math.sqrt(hidden_size) if hidden_size > 0 else 0
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
        _check_tensor("LSTMCell", "input", input, self.weight_ih)
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
            h0, c0 = hx
            _check_tensor("LSTMCell", "h0", h0, self.weight_ih)
            if not isinstance(c0, Tensor):
                raise TypeError(f"LSTMCell: c0 must be a Tensor, got {type(c0).__name__}")
            if c0.array.dtype.kind != "f":  # PyTorch converts an integer c0, as f * c0 would
                c0 = c0.to(dtype=self.weight_ih.dtype)
            expected = (self.hidden_size,) if unbatched else (input.shape[0], self.hidden_size)
            for name, t in (("h0", h0), ("c0", c0)):  # exactly the state's shape: a batch-1 state does not broadcast
                if t.shape != expected:
                    raise ValueError(f"LSTMCell: {name} must have shape {expected} for input of shape "
                                     f"{input.shape[1:] if unbatched else input.shape}, got {t.shape}")
            hx = (h0.unsqueeze(0), c0.unsqueeze(0)) if unbatched else (h0, c0)
        h, c = F.lstm_cell(input, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h[0], c[0]) if unbatched else (h, c)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """A stack of LSTM layers over a sequence; returns output, (h_n, c_n) like PyTorch.

    input (T, B, in), or (B, T, in) with batch_first=True, or unbatched (T, in).
    Each layer runs as one fused node (ops.lstm.LSTMLayer): one matmul for the whole
    sequence's input projection, then the backend's `lstm_sequence_forward` runs the loop
    over time (per step one matmul and the fused cell; on a GPU the whole loop is one kernel).
    """
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0):
        super().__init__()
        _check_sizes("LSTM", input_size, hidden_size, num_layers)
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
        _check_tensor("LSTM", "input", input, self.weight_ih_l0)
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(f"LSTM: expected input (seq, batch, {self.input_size}) (or batch first, or unbatched "
                             f"(seq, {self.input_size})), got shape {input.shape}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        batch, H = x.shape[1], self.hidden_size
        if x.shape[0] == 0:
            raise ValueError(f"LSTM: Expected sequence length to be larger than 0, got input of shape {input.shape}")
        if hx is None:
            zeros = factories.zeros(self.num_layers, batch, H, device=x.device, dtype=x.dtype)
            h0, c0 = zeros, zeros
        else:
            for name, t in zip(("h0", "c0"), hx):
                _check_tensor("LSTM", name, t, self.weight_ih_l0)
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

    def flatten_parameters(self):
        """Does nothing: PyTorch compacts its weights into one cuDNN buffer here; ours need no compacting.

        It exists so that PyTorch scripts, which call it after moving or loading a model, run unchanged.
        """

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}")


# ---- one step of RNN and GRU, from the input's share of the gates -----------------------------
def rnn_update(x_gates, h, weight_hh, bias_hh, nonlinearity="tanh"):
    """h' = act(x_gates + h W_hh^T + b_hh), where x_gates = x W_ih^T + b_ih; act is tanh or relu."""
    _check_nonlinearity("rnn_update", nonlinearity)
    pre = x_gates + F.linear(h, weight_hh, bias_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def gru_update(x_gates, h, weight_hh, bias_hh):
    """h' from x_gates = x W_ih^T + b_ih (B, 3H), gate order r, z, n:
        r, z = sigmoid(x_gates[r, z] + (h W_hh^T + b_hh)[r, z])
        n    = tanh(x_gates[n] + r * (h W_hn^T + b_hn))          (r scales h's share only)
        h'   = (1 - z) * n + z * h
    """
    H = h.shape[-1]
    h_gates = F.linear(h, weight_hh, bias_hh)
    rz = (x_gates[..., :2 * H] + h_gates[..., :2 * H]).sigmoid()
    r, z = rz[..., :H], rz[..., H:]
    n = (x_gates[..., 2 * H:] + r * h_gates[..., 2 * H:]).tanh()
    return (1 - z) * n + z * h


# ---- argument checks shared by the cells and the layers ---------------------------------------
def _check_sizes(layer, input_size, hidden_size, num_layers=1):
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{layer}: {arg} should be of type int, got: {type(value).__name__}")
    if hidden_size <= 0:
        raise ValueError(f"{layer}: hidden_size must be greater than zero, got {hidden_size}")
    if num_layers <= 0:
        raise ValueError(f"{layer}: num_layers must be greater than zero, got {num_layers}")


def _check_nonlinearity(layer, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{layer}: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _check_tensor(layer, name, t, weight):
    """t must be a Tensor of the parameters' dtype (PyTorch refuses to mix them too)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{layer}: {name} must be a Tensor, got {type(t).__name__}")
    if t.array.dtype != weight.array.dtype:
        raise ValueError(f"{layer}: {name} dtype ({t.dtype}) does not match weight dtype ({weight.dtype}). "
                         f"Convert {name}: {name}.to({weight.dtype}), or convert the model: model.to({t.dtype})")


def _unstack(x):
    """x (L, ...) as the list [x[0], ..., x[L-1]], cut in halves, then halves of those, down to single steps.

    The backward of a slice writes a gradient as large as the tensor it was cut from: L slices of x
    would write L whole copies of x (L^2 work), while halving writes one copy per level (L log L).
    The layers then keep the sequence as this list, so no layer slices again.
    """
    if x.shape[0] == 1:
        return [x[0]]
    middle = x.shape[0] // 2
    return _unstack(x[:middle]) + _unstack(x[middle:])


class _RecurrentCell(Module):
    """What RNNCell and GRUCell share: weight_ih (gates*H, in), weight_hh (gates*H, H), bias_ih and bias_hh
    (gates*H,), all U(-1/sqrt(H), 1/sqrt(H)); input (B, in) or unbatched (in,), hx like the output or zeros."""
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(factories.zeros(self.gates * hidden_size, input_size))
        self.weight_hh = Parameter(factories.zeros(self.gates * hidden_size, hidden_size))
        self.bias_ih = Parameter(factories.zeros(self.gates * hidden_size)) if bias else None
        self.bias_hh = Parameter(factories.zeros(self.gates * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_params(self, self.hidden_size)

    def _update(self, x_gates, h):
        raise NotImplementedError

    def forward(self, input, hx=None):
        layer, H = type(self).__name__, self.hidden_size
        _check_tensor(layer, "input", input, self.weight_ih)
        if input.ndim not in (1, 2):
            raise ValueError(f"{layer}: Expected input to be 1D or 2D, got {input.ndim}D instead (shape {input.shape})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{layer}: input has inconsistent input_size: got {input.shape[-1]} expected "
                             f"{self.input_size} (input shape {input.shape})")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            h = factories.zeros(x.shape[0], H, device=x.device, dtype=x.dtype)
        else:
            _check_tensor(layer, "hx", hx, self.weight_ih)
            if hx.ndim != input.ndim:
                raise ValueError(f"{layer}: Expected hidden to be {input.ndim}D like the input (shape {input.shape}), "
                                 f"got hx of shape {hx.shape}")
            h = hx.unsqueeze(0) if unbatched else hx
            if h.shape[-1] != H:
                raise ValueError(f"{layer}: hidden0 has inconsistent hidden_size: got {h.shape[-1]}, expected {H} "
                                 f"(hx shape {hx.shape})")
            if h.shape[0] != x.shape[0]:
                raise ValueError(f"{layer}: Input batch size {x.shape[0]} doesn't match hidden0 batch size "
                                 f"{h.shape[0]} (input shape {input.shape}, hx shape {hx.shape})")
        h = self._update(F.linear(x, self.weight_ih, self.bias_ih), h)
        return h[0] if unbatched else h

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_RecurrentCell):
    """One Elman RNN step: (x (B, in), h (B, H)) -> h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh) (B, H)."""
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def _update(self, x_gates, h):
        return rnn_update(x_gates, h, self.weight_hh, self.bias_hh, self.nonlinearity)


class GRUCell(_RecurrentCell):
    """One GRU step (gate order r, z, n): (x (B, in), h (B, H)) -> h' (B, H); see gru_update."""
    gates = 3

    def _update(self, x_gates, h):
        return gru_update(x_gates, h, self.weight_hh, self.bias_hh)


class _RecurrentLayers(Module):
    """What RNN and GRU share: a stack of layers, each run over the sequence in one or two directions.

    Parameters per layer k and direction (suffix "" forward, "_reverse" backward), as PyTorch names them:
    weight_ih_l{k} (gates*H, in_k), weight_hh_l{k} (gates*H, H), bias_ih_l{k}, bias_hh_l{k} (gates*H,), with
    in_0 = input_size and in_k = H * num_directions above. The reverse direction reads the sequence from
    its end; its outputs are put back at their time steps and joined to the forward ones on the last axis.
    Dropout (training only) acts on each layer's output but the last's.

    input (L, N, in), or (N, L, in) with batch_first, or unbatched (L, in); hx (layers*directions, N, H) or
    unbatched (layers*directions, H), zeros when omitted. Returns output (L, N, directions*H) (batch first
    if asked) and h_n shaped like hx; h_n lists layer 0 forward, layer 0 reverse, layer 1 forward, ...
    """
    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False):
        super().__init__()
        layer = type(self).__name__
        _check_sizes(layer, input_size, hidden_size, num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
            raise ValueError(f"{layer}: dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{layer}: dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        gates_h = self.gates * hidden_size
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size * self.num_directions
            for suffix in ("", "_reverse")[:self.num_directions]:
                setattr(self, f"weight_ih_l{k}{suffix}", Parameter(factories.zeros(gates_h, layer_input)))
                setattr(self, f"weight_hh_l{k}{suffix}", Parameter(factories.zeros(gates_h, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_l{k}{suffix}", Parameter(factories.zeros(gates_h)))
                    setattr(self, f"bias_hh_l{k}{suffix}", Parameter(factories.zeros(gates_h)))
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_params(self, self.hidden_size)

    def flatten_parameters(self):
        """Does nothing: PyTorch compacts its weights into one cuDNN buffer here; ours need no compacting."""

    def _update(self, x_gates, h, weight_hh, bias_hh):
        raise NotImplementedError

    def _weights(self, k, direction):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer k in a direction (0 forward, 1 reverse)."""
        suffix = "_reverse" if direction else ""
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        params = [getattr(self, f"{name}_l{k}{suffix}") for name in names]
        return params if self.bias else params + [None, None]

    def _sequence_and_state(self, input, hx):
        """Check the arguments; -> x (L, N, in), h0 (layers*directions, N, H), unbatched."""
        layer, w = type(self).__name__, self.weight_ih_l0
        _check_tensor(layer, "input", input, w)
        if input.ndim not in (2, 3):
            raise ValueError(f"{layer}: Expected input to be 2D or 3D, got {input.ndim}D tensor instead "
                             f"(shape {input.shape})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{layer}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]} (input shape {input.shape})")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        if x.shape[0] == 0:
            raise ValueError(f"{layer}: Expected sequence length to be larger than 0, got input of shape "
                             f"{input.shape}")
        state = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if hx is None:
            return x, factories.zeros(*state, device=x.device, dtype=x.dtype), unbatched
        _check_tensor(layer, "hx", hx, w)
        if hx.ndim != input.ndim:
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            raise ValueError(f"{layer}: For {kind} input, hx should also be {input.ndim}-D but got {hx.ndim}-D "
                             f"tensor (input shape {input.shape}, hx shape {hx.shape})")
        h0 = hx.unsqueeze(1) if unbatched else hx
        if h0.shape != state:
            expected = (state[0], state[2]) if unbatched else state
            raise ValueError(f"{layer}: Expected hidden size {expected}, got {hx.shape} (input shape {input.shape})")
        return x, h0, unbatched

    def _scan(self, steps, h, weight_ih, weight_hh, bias_ih, bias_hh, reverse):
        """One layer in one direction over the steps x_t (N, in) from h (N, H) -> (the h_t (N, H), last h)."""
        outputs = [None] * len(steps)
        for t in (reversed(range(len(steps))) if reverse else range(len(steps))):
            h = outputs[t] = self._update(F.linear(steps[t], weight_ih, bias_ih), h, weight_hh, bias_hh)
        return outputs, h

    def forward(self, input, hx=None):
        x, h0, unbatched = self._sequence_and_state(input, hx)
        steps, h_n = _unstack(x), []
        for k in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                output, h = self._scan(steps, h0[k * self.num_directions + direction], *self._weights(k, direction),
                                       reverse=direction == 1)
                outputs.append(output)
                h_n.append(h)
            steps = [cat(pair, dim=1) for pair in zip(*outputs)] if self.bidirectional else outputs[0]
            if self.dropout and self.training and k < self.num_layers - 1:
                steps = [F.dropout(s, self.dropout, True) for s in steps]
        output, h_n = stack(steps), stack(h_n)
        if unbatched:
            return output[:, 0], h_n[:, 0]
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(_RecurrentLayers):
    """A stack of Elman RNN layers: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""
    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def _update(self, x_gates, h, weight_hh, bias_hh):
        return rnn_update(x_gates, h, weight_hh, bias_hh, self.nonlinearity)


class GRU(_RecurrentLayers):
    """A stack of GRU layers (gate order r, z, n; see gru_update)."""
    gates = 3

    def _update(self, x_gates, h, weight_hh, bias_hh):
        return gru_update(x_gates, h, weight_hh, bias_hh)
