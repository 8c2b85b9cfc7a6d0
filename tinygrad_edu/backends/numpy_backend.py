"""The CPU backend: numpy arrays.

`xp` is numpy itself, for the plain array calls ops make (`self.xp.zeros`, ...).
The methods below are the *hot ops*: the CUDA backend (cupy_backend.py) replaces
each with one of our own kernels from kernels/, so both backends implement exactly
this table with the same arguments and results. Each is written with whole-array
calls on `self.xp` only, so the same code also serves as the CuPy fallback.
"""
import numpy as np

from .. import heap_reuse
from ..blas_threads import product
from ..shapes import window_slices

heap_reuse.apply()      # keep freed arrays in the process for the next step (heap_reuse.py: why)

_SQRT_2_OVER_PI = (2 / np.pi) ** 0.5


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

    # ---- elementwise maps (kernels/elementwise.py on the GPU) -------------------------------
    neg = staticmethod(np.negative)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    tanh = staticmethod(np.tanh)
    abs = staticmethod(np.abs)
    add = staticmethod(np.add)
    sub = staticmethod(np.subtract)
    mul = staticmethod(np.multiply)
    div = staticmethod(np.true_divide)
    pow = staticmethod(np.power)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)

    def relu(self, x):
        """max(x, 0) (cpu_activations.py: a large x on every free core)."""
        from . import cpu_activations
        fast = cpu_activations.relu(self, x)
        return np.maximum(x, 0) if fast is None else fast

    def relu_backward(self, y, g):
        """dx = g where the output y > 0, else 0 (cpu_activations.py: in one compiled pass)."""
        from . import cpu_activations
        fast = cpu_activations.relu_backward(self, y, g)
        return g * (y > 0) if fast is None else fast

    def sigmoid(self, x):
        return _sigmoid(self.xp, x)

    # ---- reductions (kernels/reduce.py on the GPU) -----------------------------------------
    def sum(self, x, axis=None, keepdims=False):
        return x.sum(axis=axis, keepdims=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return x.max(axis=axis, keepdims=keepdims)

    def min(self, x, axis=None, keepdims=False):
        return x.min(axis=axis, keepdims=keepdims)

    # ---- linear algebra --------------------------------------------------------------------
    def matmul(self, a, b):
        """a @ b with numpy's BLAS, on one thread for small products and every core for large ones
        (blas_threads.py: why one thread, on a busy machine, can be many times faster)."""
        return product(a, b)

    def index_add(self, target, index, values):
        """target[index] += values, accumulating where `index` repeats an element.

        For one integer array of row indices (an embedding's backward) the rows are
        sorted and each run of equal indices summed with one `add.reduceat`: several
        times faster than the general, element-by-element `add.at`.
        """
        from . import cpu_index_add
        if cpu_index_add.index_add_rows(self, target, index, values):     # rows of a 2-D target: one compiled pass
            return
        xp = self.xp
        if not (isinstance(index, xp.ndarray) and index.ndim == 1 and index.dtype.kind == "i" and index.size):
            xp.add.at(target, index, values)
            return
        index = xp.where(index < 0, index + target.shape[0], index)     # -1 and R-1 are one row: one run
        order = xp.argsort(index, kind="stable")
        rows = index[order]
        starts = xp.flatnonzero(xp.concatenate((xp.ones(1, dtype=bool), rows[1:] != rows[:-1])))
        target[rows[starts]] += xp.add.reduceat(values[order], starts, axis=0)

    def erf(self, x):
        from ._numpy_special import erf
        return erf(x)

    # ---- softmax family (along the last axis) ----------------------------------------------
    def softmax(self, x):
        # BEGIN SOLUTION softmax-cross-entropy  shift each row by its maximum before exponentiating
        xp = self.xp
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        e /= e.sum(axis=-1, keepdims=True)
        return e
        # END SOLUTION

    def log_softmax(self, x):
        # BEGIN SOLUTION softmax-cross-entropy  log_softmax(x) = x - logsumexp(x), computed stably
        xp = self.xp
        shifted = x - x.max(axis=-1, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
        # END SOLUTION

    def softmax_backward(self, y, g):
        # BEGIN SOLUTION softmax-cross-entropy  the vector-Jacobian product of softmax, from its output y
        return y * (g - (g * y).sum(axis=-1, keepdims=True))
        # END SOLUTION

    def log_softmax_backward(self, y, g):
        # BEGIN SOLUTION softmax-cross-entropy  the vector-Jacobian product of log_softmax, from its output y
        return g - self.xp.exp(y) * g.sum(axis=-1, keepdims=True)
        # END SOLUTION

    def cross_entropy(self, logits, target, ignore_index=-100, label_smoothing=0.0):
        """Per-row loss (N,) and its gradient dloss_row/dlogits (N, C), fused in one pass
        (cpu_cross_entropy.py: two compiled passes around numpy's exp)."""
        from . import cpu_cross_entropy
        fast = cpu_cross_entropy.cross_entropy(self, logits, target, ignore_index, label_smoothing)
        if fast is not None:
            return fast
        # BEGIN SOLUTION softmax-cross-entropy  per-row loss and dloss/dlogits in one pass; rows whose target is ignore_index get 0
        xp = self.xp
        n, c = logits.shape
        rows = xp.arange(n)
        valid = target != ignore_index
        safe_target = xp.where(valid, target, 0)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        log_probs_target = shifted[rows, safe_target] - xp.log(total[:, 0])
        loss = -(1 - label_smoothing) * log_probs_target
        if label_smoothing:
            mean_log_probs = shifted.mean(axis=1) - xp.log(total[:, 0])
            loss -= label_smoothing * mean_log_probs
        grad = exp / total
        grad[rows, safe_target] -= 1 - label_smoothing
        if label_smoothing:
            grad -= label_smoothing / c
        loss = xp.where(valid, loss, 0).astype(logits.dtype, copy=False)
        grad *= valid[:, None]
        return loss, grad
        # END SOLUTION

    def cross_entropy_mean(self, loss, target, ignore_index=-100):
        """(mean of loss over the rows whose target is not ignore_index, 1 / their count), as 0-d arrays.

        No valid row: the mean is NaN (0 / 0, as PyTorch) and 1 / count is inf.
        """
        xp = self.xp
        count = (target != ignore_index).sum().astype(loss.dtype)
        total = xp.where(target != ignore_index, loss, 0).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.asarray(total / count, dtype=loss.dtype), xp.asarray(1 / count, dtype=loss.dtype)

    def cross_entropy_mean_backward(self, dlogits, g, inverse_count):
        """The gradient of the mean loss from the per-row one: dlogits * g / count."""
        return dlogits * (g * inverse_count)

    # ---- layer normalisation over rows (kernels/layer_norm.py on the GPU) ---------------------
    def layer_norm(self, x, weight, bias, eps):
        """Rows of x (R, N) normalised, then scaled by weight and shifted by bias (None: absent).

        Returns (y, xhat, rstd (R, 1)). The math is `_normalize` in ops/normalization.py, which
        BatchNorm shares; cpu_layer_norm.py does the same in one compiled pass per row.
        """
        from . import cpu_layer_norm
        fast = cpu_layer_norm.layer_norm_forward(self, x, weight, bias, eps)
        if fast is not None:
            return fast
        from ..ops.normalization import _normalize
        xhat, rstd = _normalize(self.xp, x, (1,), eps)
        y = xhat if weight is None else xhat * weight
        if bias is not None:
            y = y + bias
        return y, xhat, rstd

    def layer_norm_backward(self, g, xhat, rstd, weight):
        """(dx, dweight, dbias) for dy = g (R, N): dx from `_normalize_backward`, the column sums for the rest
        (cpu_layer_norm.py: all three in one compiled pass per row)."""
        from . import cpu_layer_norm
        fast = cpu_layer_norm.layer_norm_backward(self, g, xhat, rstd, weight)
        if fast is not None:
            return fast
        from ..ops.normalization import _normalize_backward
        dxhat = g if weight is None else g * weight
        return _normalize_backward(dxhat, xhat, rstd, (1,)), (g * xhat).sum(axis=0), g.sum(axis=0)

    # ---- optimizer steps over flat buffers (kernels/optimizer.py on the GPU) ------------------------
    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, **options):
        """Adam's/AdamW's update of flat 1-D arrays in one compiled pass (cpu_optimizer.py), in place; returns
        False, doing nothing, where that does not apply, and optim/adam.py then runs its numpy update."""
        from . import cpu_optimizer
        return self.xp is np and cpu_optimizer.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, **options)

    def sgd_step(self, param, grad, momentum_buffer, **options):
        """SGD's update of flat 1-D arrays in one compiled pass (cpu_optimizer.py), in place; False, doing nothing,
        where that does not apply, and optim/sgd.py then runs its numpy update."""
        from . import cpu_optimizer
        return self.xp is np and cpu_optimizer.sgd_step(param, grad, momentum_buffer, **options)

    # ---- checks of the data -----------------------------------------------------------------
    def check_later(self, check):
        """Run `check()`, which raises on bad data. On the CPU the data is already here: run it now."""
        check()

    # ---- convolution -----------------------------------------------------------------------
    def im2col(self, x, kernel_size, stride, padding, dilation):
        """(N, C, H, W) -> (N, C*kh*kw, OH*OW): every receptive field as a column (a strided view, then one copy)."""
        # BEGIN SOLUTION conv2d  column (c, i, j) of output position (y, x) holds padded x[:, c, y*sh + i*dh, x*sw + j*dw]
        xp = self.xp
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        if ph or pw:
            x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        s_n, s_c, s_h, s_w = x.strides
        windows = xp.lib.stride_tricks.as_strided(
            x, (n, c, kh, kw, oh, ow), (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw))
        return windows.reshape(n, c * kh * kw, oh * ow)
        # END SOLUTION

    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        """The adjoint of im2col: add every column entry back into the pixel it was read from."""
        # BEGIN SOLUTION conv2d  add every column entry back into the input pixel it was copied from (overlaps add up)
        xp = self.xp
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = cols.reshape(n, c, kh, kw, oh, ow)
        padded = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        for i in range(kh):  # a loop over the kernel's kh*kw offsets, each one whole-array add
            for j in range(kw):
                padded[:, :, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw] += cols[:, :, i, j]
        return padded[:, :, ph:ph + h, pw:pw + w]
        # END SOLUTION

    # ---- activations and pooling ---------------------------------------------------------
    def gelu_tanh(self, x):
        """GELU's tanh approximation: y = x/2 (1 + t), t = tanh(sqrt(2/pi) (x + 0.044715 x^3)); returns (y, t).

        Written with in-place operations: on large arrays every temporary costs a fresh allocation.
        cpu_activations.py does the same in three passes instead of nine.
        """
        from . import cpu_activations
        fast = cpu_activations.gelu_tanh_forward(self, x)
        if fast is not None:
            return fast
        xp = self.xp
        t = xp.multiply(x, x, out=xp.empty_like(x))   # (out= keeps 0-d results arrays, so they can be updated in place)
        t *= 0.044715
        t += 1
        t *= x
        t *= _SQRT_2_OVER_PI
        xp.tanh(t, out=t)
        y = t + 1
        y *= x
        y *= 0.5
        return y, t

    def gelu_tanh_backward(self, x, t, g):
        """dx = dy (1/2 (1 + t) + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)), in place where possible
        (cpu_activations.py: in one compiled pass)."""
        from . import cpu_activations
        fast = cpu_activations.gelu_tanh_backward(self, x, t, g)
        if fast is not None:
            return fast
        xp = self.xp
        du = xp.multiply(x, x, out=xp.empty_like(x))
        du *= 3 * 0.044715 * _SQRT_2_OVER_PI
        du += _SQRT_2_OVER_PI                 # du/dx of the tanh's argument
        dx = xp.multiply(t, t, out=xp.empty_like(t))
        xp.subtract(1, dx, out=dx)            # 1 - t^2
        dx *= x
        dx *= du
        dx += t
        dx += 1
        dx *= 0.5
        dx *= g
        return dx

    def max_pool2d(self, padded, kernel_size, stride, out_hw):
        """Max over each window of an already padded input: a running maximum over the window
        offsets (see shapes.window_slices), one whole-array step per offset."""
        xp = self.xp
        windows = list(window_slices(kernel_size, stride, out_hw))
        y = padded[windows[0]].copy()
        for window in windows[1:]:
            xp.maximum(y, padded[window], out=y)
        return y

    def max_pool2d_backward(self, g, padded, y, kernel_size, stride):
        """Each window's gradient goes to its FIRST maximal element (as in PyTorch); a window
        holding NaN (its y is NaN) sends it to its LAST NaN, the element PyTorch's forward picks.

        `first` holds, for every window, the offset of its first maximum: walking the
        offsets from last to first, each one that equals the maximum overwrites it.
        """
        # BEGIN SOLUTION max-pool-backward  route each window's gradient to its first maximal element; overlapping windows add up
        xp = self.xp
        windows = list(window_slices(kernel_size, stride, g.shape[2:]))
        first = xp.zeros(y.shape, dtype=xp.int8 if len(windows) <= 127 else xp.int32)
        for k in range(len(windows) - 1, -1, -1):
            first = xp.where(padded[windows[k]] == y, first.dtype.type(k), first)
        if xp.isnan(y).any():  # no element equals NaN: walk first to last, each NaN overwriting
            for k, window in enumerate(windows):
                first = xp.where(xp.isnan(padded[window]), first.dtype.type(k), first)
        if kernel_size[0] > stride[0] or kernel_size[1] > stride[1]:     # overlapping windows: accumulate
            dx = xp.zeros(padded.shape, dtype=g.dtype)
            for k, window in enumerate(windows):
                dx[window] += g * (first == k)
            return dx
        tiles = stride == kernel_size and all(
            padded.shape[2 + a] == kernel_size[a] * g.shape[2 + a] for a in (0, 1))
        dx = (xp.empty if tiles else xp.zeros)(padded.shape, dtype=g.dtype)  # tiling windows write every element
        for k, window in enumerate(windows):
            xp.multiply(g, first == k, out=dx[window])
        return dx
        # END SOLUTION

    # ---- recurrent cell --------------------------------------------------------------------
    def lstm_cell_forward(self, gates, c_prev):
        """gates (B, 4H) pre-activations in PyTorch's order i, f, g, o -> h, c, activated gates.

        All four activations in one pass: sigmoid(z) = (1 + tanh(z/2)) / 2, so
        acts = tanh(gates * s) * a + b with (s, a, b) = (1/2, 1/2, 1/2) for i, f, o and (1, 1, 0) for g.
        """
        # BEGIN SOLUTION lstm-cell  return h, c and the activated gates (B, 4H) in the order i, f, g, o
        xp = self.xp
        hidden = c_prev.shape[1]
        s, b = _gate_scales(xp, hidden, gates.dtype)
        acts = gates * s
        xp.tanh(acts, out=acts)
        acts *= s
        acts += b
        i, f, g, o = acts[:, :hidden], acts[:, hidden:2 * hidden], acts[:, 2 * hidden:3 * hidden], acts[:, 3 * hidden:]
        c = f * c_prev + i * g
        h = o * xp.tanh(c)
        return h, c, acts
        # END SOLUTION

    def lstm_cell_backward(self, dh, dc, acts, c_prev, c):
        """Gradients w.r.t. the gate pre-activations and c_prev, given dL/dh and dL/dc."""
        # BEGIN SOLUTION lstm-cell  return dgates (B, 4H), the gradient w.r.t. the pre-activations, and dc_prev
        xp = self.xp
        hidden = c.shape[1]
        i, f, g, o = acts[:, :hidden], acts[:, hidden:2 * hidden], acts[:, 2 * hidden:3 * hidden], acts[:, 3 * hidden:]
        tanh_c = xp.tanh(c)
        dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
        dgates = xp.empty_like(acts)
        dgates[:, :hidden] = dc_total * g * i * (1 - i)
        dgates[:, hidden:2 * hidden] = dc_total * c_prev * f * (1 - f)
        dgates[:, 2 * hidden:3 * hidden] = dc_total * i * (1 - g * g)
        dgates[:, 3 * hidden:] = dh * tanh_c * o * (1 - o)
        return dgates, dc_total * f
        # END SOLUTION

    # ---- a whole LSTM layer's loop over time (backends/lstm_sequence.py) ------------------------
    def lstm_sequence_forward(self, x_proj, h0, c0, w_hh):
        """x_proj (T, B, 4H) = x W_ih^T + b_ih + b_hh of every step, h0, c0 (B, H), w_hh (4H, H) ->
        hc (T, B, 2H) (h_t and c_t side by side), acts (T, B, 4H) (the activated gates of every step).

        Compiled with Numba for numpy arrays (then x_proj's memory may become acts: the caller hands it over);
        otherwise one matmul and one lstm_cell_forward per step.
        """
        from . import lstm_sequence
        if self.xp is np and lstm_sequence.use_compiled():
            return lstm_sequence.compiled_forward(x_proj, h0, c0, w_hh)
        return lstm_sequence.steps_forward(self, x_proj, h0, c0, w_hh)

    def lstm_sequence_backward(self, g, hc, acts, c0, w_hh):
        """g (T, B, 2H), the gradient of hc -> dgates (T, B, 4H) of every step, dh0, dc0 (B, H)."""
        from . import lstm_sequence
        if self.xp is np and lstm_sequence.use_compiled():
            return lstm_sequence.compiled_backward(g, hc, acts, c0, w_hh)
        return lstm_sequence.steps_backward(self, g, hc, acts, c0, w_hh)

    # ---- attention -------------------------------------------------------------------------
    def attention_forward(self, q, k, v, scale, causal=False, mask=None):
        """softmax(q k^T * scale + mask) v for q (B, L, E), k (B, S, E), v (B, S, Ev); also the rows' logsumexp.
        (cpu_attention.py: the softmax in two compiled passes around numpy's exp.)"""
        from . import cpu_attention
        fast = cpu_attention.attention_forward(self, q, k, v, scale, causal, mask)
        if fast is not None:
            return fast
        xp = self.xp
        p = _attention_scores(self, q, k, scale, causal, mask)
        top = p.max(axis=-1, keepdims=True)
        top[~xp.isfinite(top)] = 0                                   # fully masked rows stay all zero
        p -= top
        xp.exp(p, out=p)
        total = p.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):
            lse = (xp.log(total) + top)[..., 0]
        total[total == 0] = 1
        p /= total
        return self.matmul(p, v), lse.astype(q.dtype, copy=False)

    def attention_backward(self, q, k, v, out, lse, dout, scale, causal=False, mask=None):
        """dq, dk, dv, recomputing the probabilities from the saved logsumexp (cpu_attention.py: compiled passes)."""
        from . import cpu_attention
        fast = cpu_attention.attention_backward(self, q, k, v, out, lse, dout, scale, causal, mask)
        if fast is not None:
            return fast
        # BEGIN SOLUTION attention-backward  recompute P from the saved logsumexp, then dv, dS = P * (dP - rowsum(dO * O)), dq, dk
        xp = self.xp
        p = _attention_scores(self, q, k, scale, causal, mask)
        finite = xp.isfinite(lse)
        p -= xp.where(finite, lse, 0)[..., None]
        xp.exp(p, out=p)
        p *= finite[..., None]
        dv = self.matmul(p.swapaxes(-1, -2), dout)
        ds = self.matmul(dout, v.swapaxes(-1, -2))                     # dP
        ds -= (dout * out).sum(axis=-1, keepdims=True)
        ds *= p                                                      # dS = P * (dP - rowsum(dO * O))
        ds *= scale
        dq = self.matmul(ds, k)
        dk = self.matmul(ds.swapaxes(-1, -2), q)
        return dq.astype(q.dtype, copy=False), dk.astype(k.dtype, copy=False), dv.astype(v.dtype, copy=False)
        # END SOLUTION


def _sigmoid(xp, x):
    """1 / (1 + e^-x), computed from e = e^-|x|, which lies in (0, 1] and so cannot overflow:
    1 / (1 + e) for x >= 0 and e / (1 + e) = e^x / (1 + e^x) for x < 0.

    Both halves keep full relative precision: sigmoid(-20) = 2.06e-9 in float32, where the
    equal (1 + tanh(x/2)) / 2 rounds to 1 - 1 = 0 (and log(sigmoid(x)) to -inf). The numerator,
    1 or e, is max(x >= 0, e): one branch-free pass, unlike a `where` on random signs.
    """
    e = xp.abs(x, out=xp.empty_like(x))
    xp.negative(e, out=e)
    xp.exp(e, out=e)                              # e = e^-|x|
    y = xp.asarray(x >= 0, dtype=x.dtype)
    xp.maximum(y, e, out=y)                       # 1 where x >= 0, else e (a NaN stays NaN)
    e += 1
    y /= e
    return y


def _attention_scores(backend, q, k, scale, causal, mask):
    """q k^T * scale (+ mask), with -inf above the diagonal when causal; a fresh array, edited in place."""
    xp = backend.xp
    scores = backend.matmul(q, k.swapaxes(-1, -2))
    scores *= scale
    if mask is not None:
        scores += mask
    if causal:
        scores += _causal_bias(xp, *scores.shape[-2:], scores.dtype)
    return scores


_causal_biases = {}
_gate_scale_cache = {}


def _gate_scales(xp, hidden, dtype):
    """(s, b) for lstm_cell_forward: s = 1/2 and b = 1/2 on the sigmoid gates i, f, o; s = 1, b = 0 on g."""
    key = (xp.__name__, hidden, dtype)
    if key not in _gate_scale_cache:
        s = xp.full(4 * hidden, 0.5, dtype=dtype)
        s[2 * hidden:3 * hidden] = 1
        _gate_scale_cache[key] = (s, 1 - s)
    return _gate_scale_cache[key]


def _causal_bias(xp, l, s, dtype):
    """(L, S) array: 0 where key j <= query i, -inf above the diagonal; made once per shape and dtype."""
    key = (xp.__name__, l, s, dtype)
    if key not in _causal_biases:
        _causal_biases[key] = xp.where(xp.tril(xp.ones((l, s), dtype=bool)), 0, -xp.inf).astype(dtype)
    return _causal_biases[key]
