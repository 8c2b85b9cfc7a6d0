"""Attention's softmax on the CPU in a few compiled passes around numpy's exp and BLAS's products.

Scaled dot-product attention (NumpyBackend.attention_forward / attention_backward) is two
batched matrix products each way with a row softmax in between. The products go to BLAS.
The softmax, written as whole-array numpy, is a chain of passes over the (B, L, S) scores,
each with its own temporary: scale, add the causal mask, the row maximum, subtract it, exp,
the row sum, divide, the logsumexp; and the backward as many again. For a transformer's short
rows (S = 64 keys) numpy's row reductions are slow too (a row maximum over (64, 64, 64)
scores takes as long as the exp).

Here each row is handled whole, while it is in the cache, by a compiled loop (Numba's @njit),
and only the exp, which numpy does with SIMD instructions, stays a numpy call (see
cpu_activations.py for why a compiled loop should not compute exp or tanh itself):

    forward:   s = q k^T (BLAS);  per row: s = s * scale (+ causal -inf), m = max(s), s -= m;
               p = exp(s) (numpy);  per row: l = sum(p), p /= l, lse = m + log(l);  out = p v (BLAS)
    backward:  s = q k^T (BLAS);  per row: s = s * scale (+ causal -inf) - lse;  p = exp(s) (numpy);
               dv = p^T dO, dp = dO v^T (BLAS);  per row: ds = p (dp - rowsum(dO * O)) * scale;
               dq = ds k, dk = ds^T q (BLAS)

with the plain version's rules for odd rows: a row whose maximum is not finite is shifted by
0 instead (a row masked everywhere gives p = 0 and lse = -inf; +inf or NaN give NaN, as
numpy does), and a row whose lse is not finite gets p = 0 in the backward (NaN where its
score is NaN or +inf, as 0 * NaN is in the plain version). An additive mask is added by numpy
(after the scale, as in the plain version) before the first pass. Causal rows only look at
keys j <= i; the masked entries are written as -inf (p = 0) without reading the product there.

The items of the batch (batch x heads) never meet, so each free core takes a share of them,
on BLAS's own threads (`_over_the_batch`, blas_threads.run_parts): its products (one BLAS call
per item, each too small to split) and its row passes, written into its own rows of the outputs.
The compiled passes are `nogil`, so that two run at once. Measured on the benchmark gpt's
attention (64 items of 64 x 64, causal): forward and backward 4.7 -> 3.0 ms per step.

In a student copy the backward's passes are part of the attention-backward assignment:
`attention_backward` returns None there, and the student's NumpyBackend.attention_backward runs.
"""
import numpy as np
from numba import njit

from ..blas_threads import blas_threads, product, shares
from .fast_path_switch import takes


def attention_forward(backend, q, k, v, scale, causal, mask):
    """(out, lse) as NumpyBackend.attention_forward; None where the fast path does not apply."""
    if not takes(backend, q, k, v) or (mask is not None and not takes(backend, q, mask)):
        return None
    out = np.empty(q.shape[:-1] + v.shape[-1:], dtype=q.dtype)
    lse = np.empty(q.shape[:-1], dtype=q.dtype)
    _over_the_batch(_forward_part, backend, [q, k, v, out, lse], mask, scale, causal)
    return out, lse


def _forward_part(backend, q, k, v, out, lse, mask, scale, causal):
    """attention_forward for some of the batch's items, written into their rows of out and lse."""
    scores, scale = _raw_scores(backend, q, k, scale, mask)
    number = scores.dtype.type
    top = np.empty(scores.shape[:-1], dtype=scores.dtype)
    _scale_and_shift(scores, number(scale), causal, top)
    np.exp(scores, out=scores)
    _normalise(scores, top, lse)
    product(scores, v, out=out)


def attention_backward(backend, q, k, v, out, lse, dout, scale, causal, mask):
    """(dq, dk, dv) as NumpyBackend.attention_backward; None where the fast path does not apply."""
    # BEGIN SOLUTION attention-backward  (optional) the compiled form of your attention_backward
    # BEGIN PROMPT
    # return None   # not part of this copy: attention's backward runs your attention_backward
    # END PROMPT
    if not takes(backend, q, k, v, out, lse, dout) or (mask is not None and not takes(backend, q, mask)):
        return None
    grads = [np.empty(a.shape, dtype=a.dtype) for a in (q, k, v)]
    _over_the_batch(_backward_part, backend, [q, k, v, np.ascontiguousarray(out), np.ascontiguousarray(lse),
                                              np.ascontiguousarray(dout)] + grads, mask, scale, causal)
    return tuple(grads)
    # END SOLUTION


def _backward_part(backend, q, k, v, out, lse, dout, dq, dk, dv, mask, scale, causal):
    """attention_backward for some of the batch's items, written into their rows of dq, dk and dv."""
    # BEGIN SOLUTION attention-backward
    # BEGIN PROMPT
    # return   # not part of this copy (attention_backward returns None before calling it)
    # END PROMPT
    p, remaining_scale = _raw_scores(backend, q, k, scale, mask)
    number = p.dtype.type
    _scale_and_subtract(p, number(remaining_scale), causal, lse)
    np.exp(p, out=p)
    product(p.swapaxes(-1, -2), dout, out=dv)
    ds = product(dout, v.swapaxes(-1, -2))                                # dP
    _softmax_backward(ds, p, dout, out, number(scale))
    product(ds, k, out=dq)
    product(ds.swapaxes(-1, -2), q, out=dk)
    # END SOLUTION


def _over_the_batch(part, backend, batched, mask, scale, causal):
    """part(backend, *(a[lo:hi] for a in batched), mask (its rows lo:hi where it has the batch's), scale, causal)
    for each free core's share of the batch, at the same time on BLAS's threads (blas_threads.run_parts); one part
    where the whole attention is a small amount of work. The items of a batch never meet, and each part writes
    only its own rows of the outputs."""
    q, k, v = batched[:3]
    batch = q.shape[0]
    flop = 4 * batch * q.shape[1] * k.shape[1] * max(q.shape[2], v.shape[2])       # the two products
    threads = blas_threads()
    parts = threads.parts_for(flop, batch)
    per_item_mask = mask is not None and mask.ndim == 3 and mask.shape[0] == batch
    threads.run_parts(part, [(backend,) + tuple(a[lo:hi] for a in batched)
                             + (mask[lo:hi] if per_item_mask else mask, scale, causal)
                             for lo, hi in shares(batch, parts)])


def _raw_scores(backend, q, k, scale, mask):
    """(q k^T, the scale still to apply): a fresh C-contiguous (B, L, S) array. With a mask, the scale is applied
    here and the mask added (by numpy), and 1 is left to apply. k^T is made contiguous first: BLAS runs the
    batch of small products faster on it than on a transposed view."""
    scores = backend.matmul(q, np.ascontiguousarray(k.swapaxes(-1, -2)))
    if mask is None:
        return scores, scale
    scores *= scale
    scores += mask
    return scores, 1.0


@njit(cache=True, nogil=True)
def _scale_and_shift(scores, scale, causal, top):
    """Each row: s = s * scale (-inf right of the diagonal when causal), top = its maximum (0 where that is
    not finite), s -= top."""
    batch, rows, keys = scores.shape
    minus_infinity = -np.inf
    for b in range(batch):
        for i in range(rows):
            row = scores[b, i]
            visible = min(i + 1, keys) if causal else keys
            highest = minus_infinity
            for j in range(visible):
                row[j] *= scale
                highest = max(highest, row[j])
            for j in range(visible, keys):
                row[j] = minus_infinity
            if not np.isfinite(highest):
                highest = 0.0
            top[b, i] = highest
            for j in range(visible):
                row[j] -= highest


@njit(cache=True, nogil=True, error_model="numpy")       # x / 0 without a check: the division vectorises
def _normalise(p, top, lse):
    """Each row of p = exp(shifted scores): divide by its sum (1 where the sum is 0); lse = top + log(sum)."""
    batch, rows, keys = p.shape
    for b in range(batch):
        for i in range(rows):
            row = p[b, i]
            total = 0.0
            for j in range(keys):
                total += row[j]
            lse[b, i] = top[b, i] + np.log(total) if total > 0 or total != total else -np.inf
            divisor = row.dtype.type(total if total != 0 else 1.0)
            for j in range(keys):
                row[j] /= divisor


@njit(cache=True, nogil=True)
def _scale_and_subtract(scores, scale, causal, lse):
    # BEGIN SOLUTION attention-backward
    # BEGIN PROMPT
    # return   # not part of this copy (attention_backward returns None before calling it)
    # END PROMPT
    batch, rows, keys = scores.shape
    minus_infinity = -np.inf
    for b in range(batch):
        for i in range(rows):
            row = scores[b, i]
            visible = min(i + 1, keys) if causal else keys
            shift = lse[b, i]
            if np.isfinite(shift):
                for j in range(visible):
                    row[j] = row[j] * scale - shift
            else:                     # no finite logsumexp: p = 0, except NaN where the score is NaN or +inf
                for j in range(visible):
                    score = row[j] * scale
                    row[j] = minus_infinity if score < np.inf else np.nan
            for j in range(visible, keys):
                row[j] = minus_infinity
    # END SOLUTION


@njit(cache=True, nogil=True)
def _softmax_backward(ds, p, dout, out, scale):
    """ds holds dP = dO V^T; make it dS = P * (dP - rowsum(dO * O)) * scale, row by row."""
    # BEGIN SOLUTION attention-backward
    # BEGIN PROMPT
    # return   # not part of this copy (attention_backward returns None before calling it)
    # END PROMPT
    batch, rows, keys = ds.shape
    width = dout.shape[2]
    for b in range(batch):
        for i in range(rows):
            dot = 0.0
            for e in range(width):
                dot += dout[b, i, e] * out[b, i, e]
            row, probabilities = ds[b, i], p[b, i]
            for j in range(keys):
                row[j] = probabilities[j] * (row[j] - dot) * scale
    # END SOLUTION
