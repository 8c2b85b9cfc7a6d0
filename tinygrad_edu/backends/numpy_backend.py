"""The CPU backend: numpy arrays.

`xp` is numpy itself: ops call `self.xp.exp(...)` and friends directly. The methods
below are the *hot ops*: the CUDA backend replaces each with one of our own kernels
from kernels/, so both backends implement exactly this table with the same
arguments and results. Each is written with whole-array numpy calls only.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


class NumpyBackend:
    name = "cpu"
    xp = np
    array_type = np.ndarray

    def asarray(self, data, dtype=None):
        if hasattr(data, "get") and not isinstance(data, np.ndarray):  # a CuPy array: copy to the host
            data = data.get()
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return array

    # ---- linear algebra and reductions -----------------------------------------------------
    def matmul(self, a, b):
        return np.matmul(a, b)

    def index_add(self, target, index, values):
        """target[index] += values, accumulating where `index` repeats an element."""
        np.add.at(target, index, values)

    def erf(self, x):
        from ._numpy_special import erf
        return erf(x)

    # ---- softmax family (along the last axis) ----------------------------------------------
    def softmax(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def log_softmax(self, x):
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))

    def softmax_backward(self, y, g):
        return y * (g - (g * y).sum(axis=-1, keepdims=True))

    def log_softmax_backward(self, y, g):
        return g - np.exp(y) * g.sum(axis=-1, keepdims=True)

    def cross_entropy(self, logits, target, ignore_index=-100, label_smoothing=0.0):
        """Per-row loss (N,) and its gradient dloss_row/dlogits (N, C), fused in one pass."""
        n, c = logits.shape
        rows = np.arange(n)
        valid = target != ignore_index
        safe_target = np.where(valid, target, 0)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        log_probs_target = shifted[rows, safe_target] - np.log(total[:, 0])
        loss = -(1 - label_smoothing) * log_probs_target
        if label_smoothing:
            mean_log_probs = shifted.mean(axis=1) - np.log(total[:, 0])
            loss -= label_smoothing * mean_log_probs
        grad = exp / total
        grad[rows, safe_target] -= 1 - label_smoothing
        if label_smoothing:
            grad -= label_smoothing / c
        loss = np.where(valid, loss, 0).astype(logits.dtype, copy=False)
        grad *= valid[:, None]
        return loss, grad

    # ---- convolution -----------------------------------------------------------------------
    def im2col(self, x, kernel_size, stride, padding, dilation):
        """(N, C, H, W) -> (N, C*kh*kw, OH*OW): every receptive field as a column (a strided view, then one copy)."""
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        s_n, s_c, s_h, s_w = x.strides
        windows = as_strided(x, (n, c, kh, kw, oh, ow), (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw),
                             writeable=False)
        return windows.reshape(n, c * kh * kw, oh * ow)

    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        """The adjoint of im2col: add every column entry back into the pixel it was read from."""
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = cols.reshape(n, c, kh, kw, oh, ow)
        padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        for i in range(kh):  # a loop over the kernel's kh*kw offsets, each one whole-array add
            for j in range(kw):
                padded[:, :, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw] += cols[:, :, i, j]
        return padded[:, :, ph:ph + h, pw:pw + w]

    # ---- recurrent cell --------------------------------------------------------------------
    def lstm_cell_forward(self, gates, c_prev):
        """gates (B, 4H) pre-activations in PyTorch's order i, f, g, o -> h, c, activated gates."""
        hidden = c_prev.shape[1]
        acts = np.empty_like(gates)
        acts[:, :2 * hidden] = _sigmoid(gates[:, :2 * hidden])
        acts[:, 2 * hidden:3 * hidden] = np.tanh(gates[:, 2 * hidden:3 * hidden])
        acts[:, 3 * hidden:] = _sigmoid(gates[:, 3 * hidden:])
        i, f, g, o = acts[:, :hidden], acts[:, hidden:2 * hidden], acts[:, 2 * hidden:3 * hidden], acts[:, 3 * hidden:]
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        return h, c, acts

    def lstm_cell_backward(self, dh, dc, acts, c_prev, c):
        """Gradients w.r.t. the gate pre-activations and c_prev, given dL/dh and dL/dc."""
        hidden = c.shape[1]
        i, f, g, o = acts[:, :hidden], acts[:, hidden:2 * hidden], acts[:, 2 * hidden:3 * hidden], acts[:, 3 * hidden:]
        tanh_c = np.tanh(c)
        dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
        dgates = np.empty_like(acts)
        dgates[:, :hidden] = dc_total * g * i * (1 - i)
        dgates[:, hidden:2 * hidden] = dc_total * c_prev * f * (1 - f)
        dgates[:, 2 * hidden:3 * hidden] = dc_total * i * (1 - g * g)
        dgates[:, 3 * hidden:] = dh * tanh_c * o * (1 - o)
        return dgates, dc_total * f

    # ---- attention -------------------------------------------------------------------------
    def attention_forward(self, q, k, v, scale, causal=False, mask=None):
        """softmax(q k^T * scale + mask) v for q (B, L, E), k (B, S, E), v (B, S, Ev); also the rows' logsumexp."""
        scores = _attention_scores(q, k, scale, causal, mask)
        top = scores.max(axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        p = np.exp(scores - top)
        total = p.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):
            lse = (np.log(total) + top)[..., 0]
        p /= np.where(total > 0, total, 1)
        return np.matmul(p, v), lse.astype(q.dtype, copy=False)

    def attention_backward(self, q, k, v, out, lse, dout, scale, causal=False, mask=None):
        """dq, dk, dv, recomputing the probabilities from the saved logsumexp."""
        scores = _attention_scores(q, k, scale, causal, mask)
        finite = np.isfinite(lse)[..., None]
        p = np.where(finite, np.exp(scores - np.where(finite, lse[..., None], 0)), 0)
        dv = np.matmul(p.swapaxes(-1, -2), dout)
        dp = np.matmul(dout, v.swapaxes(-1, -2))
        d = (dout * out).sum(axis=-1, keepdims=True)
        ds = p * (dp - d)
        dq = np.matmul(ds, k) * scale
        dk = np.matmul(ds.swapaxes(-1, -2), q) * scale
        return dq.astype(q.dtype, copy=False), dk.astype(k.dtype, copy=False), dv.astype(v.dtype, copy=False)


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _attention_scores(q, k, scale, causal, mask):
    scores = np.matmul(q, k.swapaxes(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    if causal:
        l, s = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((l, s), dtype=bool)), scores, -np.inf)
    return scores
