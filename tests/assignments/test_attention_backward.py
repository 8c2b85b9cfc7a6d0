"""Graded: attention-backward (15 points). dq, dk, dv of scaled dot-product attention, without and with masks."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from grading import assert_close, check_gradients

pytestmark = pytest.mark.assignment("attention-backward")


def _normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _gradients_by_formula(q, k, v, g, scale, bias):
    """dq, dk, dv of out = softmax(q k^T scale + bias) v, one query row at a time, through the softmax's full
    Jacobian diag(p) - p p^T (bias is additive, -inf where a key is hidden)."""
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            logits = q[b, i] @ k[b].T * scale + bias[b, i]
            p = np.exp(logits - logits.max())
            p = p / p.sum()
            dv[b] += np.outer(p, g[b, i])
            dp = v[b] @ g[b, i]                               # d loss / d p_j = v_j . g_i
            dlogits = (np.diag(p) - np.outer(p, p)) @ dp
            dq[b, i] = scale * dlogits @ k[b]
            dk[b] += scale * np.outer(dlogits, q[b, i])
    return dq, dk, dv


def _backward(q, k, v, g, **kwargs):
    tq, tk, tv = (tg.tensor(a, requires_grad=True) for a in (q, k, v))
    F.scaled_dot_product_attention(tq, tk, tv, **kwargs).backward(tg.tensor(g))
    return tq.grad, tk.grad, tv.grad


@pytest.mark.points(3)
def test_gradients_without_a_mask():
    q, k, v = _normal(1, (2, 3, 4), (2, 4, 4), (2, 4, 5))
    check_gradients("attention, 3 queries, 4 keys, no mask", F.scaled_dot_product_attention, q, k, v)


@pytest.mark.points(3)
def test_gradients_with_a_causal_mask():
    q, k, v = _normal(2, (2, 2, 4, 4), (2, 2, 4, 4), (2, 2, 4, 3))
    check_gradients("attention with heads, is_causal=True",
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v)


@pytest.mark.points(3)
def test_gradients_with_an_additive_mask():
    q, k, v, mask = _normal(3, (2, 3, 4), (2, 4, 4), (2, 4, 4), (3, 4))
    mask[0, 2] = -np.inf                                      # a hidden key as well as finite biases
    tmask = tg.tensor(mask)
    check_gradients("attention with a float mask (3, 4) added to the scores",
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=tmask), q, k, v)
    allowed = tg.tensor(np.array([[True, False, True, True], [False, True, True, False],
                                  [True, True, True, True]]))
    check_gradients("attention with a bool mask",
                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed), q, k, v)


@pytest.mark.points(3)
def test_gradients_match_the_softmax_jacobian():
    q, k, v, g = _normal(4, (2, 4, 4), (2, 3, 4), (2, 3, 2), (2, 4, 2))
    no_bias = np.zeros((2, 4, 3))
    expected = _gradients_by_formula(q, k, v, g, 0.5, no_bias)
    for name, got, want in zip("qkv", _backward(q, k, v, g), expected):
        assert_close(got, want, f"d{name}, no mask", rtol=1e-9, atol=1e-12)
    q, k, v, g = _normal(5, (2, 4, 4), (2, 4, 4), (2, 4, 3), (2, 4, 3))
    causal = np.broadcast_to(np.where(np.arange(4)[:, None] >= np.arange(4)[None, :], 0.0, -np.inf), (2, 4, 4))
    expected = _gradients_by_formula(q, k, v, g, 0.5, causal)
    for name, got, want in zip("qkv", _backward(q, k, v, g, is_causal=True), expected):
        assert_close(got, want, f"d{name}, causal", rtol=1e-9, atol=1e-12)


@pytest.mark.points(3)
def test_custom_scale_and_a_fully_masked_row():
    q, k, v = _normal(6, (2, 3, 2), (2, 3, 2), (2, 3, 4))
    check_gradients("attention with scale=1.3", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=1.3),
                    q, k, v)
    # query 1 may attend no key: its output is 0, so it sends no gradient anywhere (and nothing is NaN)
    allowed = np.array([[True, True, False], [False, False, False], [False, True, True]])
    g = _normal(7, (2, 3, 4))[0]
    dq, dk, dv = _backward(q, k, v, g, attn_mask=tg.tensor(allowed))
    bias = np.where(allowed, 0.0, -np.inf)
    kept = [0, 2]                                              # the rows that see at least one key
    expected = _gradients_by_formula(q[:, kept], k, v, g[:, kept], 1 / np.sqrt(2),
                                     np.broadcast_to(bias[kept], (2, 2, 3)))
    assert_close(dq[:, 1], np.zeros((2, 2)), "dq of the fully masked query row")
    assert_close(dq[:, kept], expected[0], "dq of the other rows", rtol=1e-9, atol=1e-12)
    assert_close(dk, expected[1], "dk with a fully masked query row", rtol=1e-9, atol=1e-12)
    assert_close(dv, expected[2], "dv with a fully masked query row", rtol=1e-9, atol=1e-12)
