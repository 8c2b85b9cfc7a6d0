"""MultiheadAttention with PyTorch's parameters, arguments, masks and returned weights.

With E = embed_dim split into num_heads heads of d = E / num_heads columns each:

    Q = query W_q^T + b_q     K = key W_k^T + b_k     V = value W_v^T + b_v
    A_h = softmax(Q_h K_h^T / sqrt(d) + M)          (L, S): head h's attention weights
    out = concat_h(A_h V_h) W_o^T + b_o              (out_proj)

W_q, W_k, W_v are the three row blocks of in_proj_weight (3E, E) when key and value have E
features too (kdim == vdim == E), else the separate q_proj_weight (E, E), k_proj_weight
(E, kdim), v_proj_weight (E, vdim); in_proj_bias (3E) holds b_q, b_k, b_v. Gradients
flow through these Tensor ops (and the fused attention op when no weights are asked for).

M combines the masks, as in PyTorch: in a bool attn_mask or key_padding_mask True means
"may NOT attend" (-inf in M); a float mask is added as it is. attn_mask is (L, S) for every
batch item and head, or (N * num_heads, L, S); key_padding_mask is (N, S) and masks keys.
Inputs are (L, N, E) (batch_first=False), (N, L, E) (batch_first=True) or unbatched (L, E).
"""
import math

from .. import factories
from ..tensor import cat
from . import functional as F
from . import init
from .layers import Linear
from .module import Module
from .parameter import Parameter


class NonDynamicallyQuantizableLinear(Linear):
    """A plain Linear: PyTorch's class for MultiheadAttention.out_proj (its name only matters to quantisation)."""


def _empty(*shape):
    return Parameter(factories.zeros(*shape))


class MultiheadAttention(Module):
    """Attention from L queries to S keys/values over num_heads heads; see the module docstring for the math.

    forward returns (output, weights): output like query; weights (N, L, S) averaged over the heads,
    (N, num_heads, L, S) with average_attn_weights=False, or None with need_weights=False.
    add_bias_kv appends the learned bias_k/bias_v (1, 1, E) as one more key/value; add_zero_attn
    appends a key and value of zeros per head. Both add a column (never masked) to the masks.
    During training, dropout zeroes attention weights with probability `dropout`.
    """
    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = _empty(3 * embed_dim, embed_dim)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = _empty(embed_dim, embed_dim)
            self.k_proj_weight = _empty(embed_dim, self.kdim)
            self.v_proj_weight = _empty(embed_dim, self.vdim)
            self.in_proj_weight = None
        self.in_proj_bias = _empty(3 * embed_dim) if bias else None
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        if add_bias_kv:
            self.bias_k, self.bias_v = _empty(1, 1, embed_dim), _empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        """PyTorch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        """is_causal=True without attn_mask masks the keys after each query (PyTorch insists on the mask too);
        with attn_mask given, the mask is what is applied (is_causal is only PyTorch's hint that it is causal)."""
        batched = self._check_inputs(query, key, value, key_padding_mask)
        self_attention = query is key and key is value
        query, key, value = (self._to_batch_first(t, batched) for t in (query, key, value))
        if key_padding_mask is not None and not batched:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        n, L, E = query.shape
        S = key.shape[1]
        self._check_masks(n, L, S, key, attn_mask, key_padding_mask)
        dropout_p = self.dropout if self.training else 0.0
        explicit = need_weights or dropout_p > 0.0  # the weights themselves are needed (returned or dropped out)
        fused_causal = (is_causal and attn_mask is None and key_padding_mask is None and not explicit
                        and self.bias_k is None and not self.add_zero_attn)

        q, k, v = self._in_projection(query, key, value, self_attention)
        mask = self._combined_mask(attn_mask, key_padding_mask, is_causal and not fused_causal, n, L, S, q)
        if self.bias_k is not None:  # one more key and value: the learned biases
            k = cat([k, self.bias_k.expand(n, 1, E)], dim=1)
            v = cat([v, self.bias_v.expand(n, 1, E)], dim=1)
            mask = None if mask is None else mask.pad((0, 1))
        q, k, v = (t.reshape(n, t.shape[1], self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if self.add_zero_attn:  # one more key and value of zeros in every head
            zeros = k.new_zeros(n, self.num_heads, 1, self.head_dim)
            k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
            mask = None if mask is None else mask.pad((0, 1))

        if explicit:
            scores = (q * math.sqrt(1.0 / self.head_dim)) @ k.transpose(-2, -1)
            weights = F.softmax(scores if mask is None else scores + mask, dim=-1)
            weights = F.dropout(weights, dropout_p, training=True)
            out = weights @ v
        else:  # the fused attention op, which keeps no (N, H, L, S) weights
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=fused_causal)
        out = self._from_batch_first(self.out_proj(out.transpose(1, 2).reshape(n, L, E)), batched)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        return out, (weights if batched else weights[0])

    # ---- the parts -------------------------------------------------------------------------
    def _in_projection(self, query, key, value, self_attention):
        """Q, K, V = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v (one matmul for self-attention)."""
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, b_q), F.linear(key, self.k_proj_weight, b_k),
                    F.linear(value, self.v_proj_weight, b_v))
        if self_attention:
            return F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        return F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)

    def _combined_mask(self, attn_mask, key_padding_mask, causal, n, L, S, like):
        """attn_mask (else the causal mask, if `causal`) + key_padding_mask, as one float mask broadcastable to
        (n, heads, L, S); None when there is nothing to mask."""
        mask = None
        if attn_mask is not None:
            mask = _additive(attn_mask, "attn_mask", like)
            if mask.ndim == 3:
                mask = mask.reshape(n, self.num_heads, L, S)
        elif causal:
            mask = self._causal_mask(L, S, like)
        if key_padding_mask is not None:
            padding = _additive(key_padding_mask, "key_padding_mask", like).reshape(n, 1, 1, S)
            mask = padding if mask is None else mask + padding
        return mask

    @staticmethod
    def _causal_mask(L, S, like):
        """(L, S) float mask: 0 where key j <= query i, -inf after."""
        return like.new_full((L, S), float("-inf")).triu(diagonal=1)

    def _to_batch_first(self, t, batched):
        if not batched:
            return t.unsqueeze(0)
        return t if self.batch_first else t.transpose(0, 1)

    def _from_batch_first(self, t, batched):
        if not batched:
            return t[0]
        return t if self.batch_first else t.transpose(0, 1)

    # ---- argument checks -------------------------------------------------------------------
    def _check_inputs(self, query, key, value, key_padding_mask):
        """PyTorch's rules for the inputs; returns whether they are batched (3-D) rather than unbatched (2-D)."""
        op = "MultiheadAttention"
        if query.ndim not in (2, 3):
            raise ValueError(f"{op}: query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor (shape {query.shape})")
        batched = query.ndim == 3
        kind = "batched (3-D)" if batched else "unbatched (2-D)"
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{op}: for {kind} query, expected key and value to be {query.ndim}-D but found "
                             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
            raise ValueError(f"{op}: for {kind} query, expected key_padding_mask to be None or "
                             f"{query.ndim - 1}-D but found {key_padding_mask.ndim}-D tensor instead")
        if query.shape[-1] != self.embed_dim:
            raise ValueError(f"{op}: was expecting embedding dimension of {self.embed_dim}, but got "
                             f"{query.shape[-1]} (query shape {query.shape})")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{op}: expected key (..., kdim={self.kdim}) and value (..., vdim={self.vdim}), got "
                             f"key {key.shape} and value {value.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{op}: key's sequence and batch dims {key.shape[:-1]} do not match value's "
                             f"{value.shape[:-1]}")
        return batched

    def _check_masks(self, n, L, S, key, attn_mask, key_padding_mask):
        """Batch sizes and mask shapes, once the inputs are (n, L, E) and (n, S, kdim)."""
        op = "MultiheadAttention"
        if key.shape[0] != n:
            raise ValueError(f"{op}: query has batch size {n} but key and value have batch size {key.shape[0]}")
        if key_padding_mask is not None and key_padding_mask.shape != (n, S):
            raise ValueError(f"{op}: expecting key_padding_mask shape of {(n, S)}, but got {key_padding_mask.shape}")
        if attn_mask is None:
            return
        if attn_mask.ndim == 2 and attn_mask.shape != (L, S):
            raise RuntimeError(f"{op}: the shape of the 2D attn_mask is {attn_mask.shape}, but should be {(L, S)}")
        if attn_mask.ndim == 3 and attn_mask.shape != (n * self.num_heads, L, S):
            raise RuntimeError(f"{op}: the shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                               f"{(n * self.num_heads, L, S)} (batch size * num_heads, L, S)")
        if attn_mask.ndim not in (2, 3):
            raise RuntimeError(f"{op}: attn_mask's dimension {attn_mask.ndim} is not supported; expected (L, S) or "
                               f"(batch size * num_heads, L, S)")

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def _additive(mask, name, like):
    """A mask as numbers to add to the scores: bool True (may not attend) -> -inf, False -> 0; floats as they are."""
    kind = mask.array.dtype.kind
    if kind == "b":
        return like.new_zeros(mask.shape).masked_fill(mask, float("-inf"))
    if kind == "f":
        return mask if mask.dtype == like.dtype else mask.to(dtype=like.dtype)
    raise TypeError(f"MultiheadAttention: only bool and floating types of {name} are supported, got {mask.dtype}")
