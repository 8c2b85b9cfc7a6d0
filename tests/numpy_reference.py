"""Plain-numpy definitions that the layer tests compare against (written from the math, not the library)."""
import numpy as np


def sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def lstm_step_ref(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's LSTM cell, gate order i, f, g, o."""
    gates = x @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        gates = gates + b_ih + b_hh
    H = h.shape[-1]
    i, f = sigmoid_np(gates[..., :H]), sigmoid_np(gates[..., H:2 * H])
    g, o = np.tanh(gates[..., 2 * H:3 * H]), sigmoid_np(gates[..., 3 * H:])
    c2 = f * c + i * g
    return o * np.tanh(c2), c2
