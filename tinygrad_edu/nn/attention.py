"""MultiheadAttention with PyTorch's parameters (in_proj_weight, in_proj_bias, out_proj) and masks."""
import math

from .. import factories
from ..tensor import Tensor
from . import functional as F
from . import init
from .layers import Linear
from .module import Module
from .parameter import Parameter


class MultiheadAttention(Module):
    """Attention over num_heads heads of size embed_dim // num_heads.

    Q, K, V = (query, key, value) @ in_proj_weight^T (+ in_proj_bias), split into heads,
    each head computes softmax(Q K^T / sqrt(d) + mask) V, heads are concatenated and
    passed through out_proj. Masks follow PyTorch's nn.MultiheadAttention: in a bool
    attn_mask or key_padding_mask, True means "may NOT attend"; float masks are added.
    """
    def __init__(self, embed_dim, num_heads, bias=True, batch_first=False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        self.embed_dim, self.num_heads, self.batch_first = embed_dim, num_heads, batch_first
        self.head_dim = embed_dim // num_heads
        self.in_proj_weight = Parameter(factories.zeros(3 * embed_dim, embed_dim))
        self.in_proj_bias = Parameter(factories.zeros(3 * embed_dim)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        if query.ndim != 3 or query.shape[-1] != self.embed_dim or key.shape != value.shape:
            raise ValueError(f"MultiheadAttention: expected query (L, N, {self.embed_dim}) and key/value (S, N, "
                             f"{self.embed_dim}) (batch first if batch_first=True), got {query.shape}, {key.shape}, "
                             f"{value.shape}")
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, L, E = query.shape
        S = key.shape[1]
        if query is key and key is value:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
            b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
        q, k, v = (t.reshape(n, t.shape[1], self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        causal_only = is_causal and attn_mask is None and key_padding_mask is None
        if causal_only and not need_weights:  # the fused kernel applies causality itself
            mask = None
        else:
            mask = self._additive_mask(attn_mask, key_padding_mask, is_causal, n, L, S, query)
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, dim=-1)
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal_only)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(n, L, E))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        if unbatched:
            out = out[:, 0]
            weights = weights[0] if weights is not None else None
        return out, weights

    def _additive_mask(self, attn_mask, key_padding_mask, is_causal, n, L, S, like):
        """Combine attn_mask, key_padding_mask and causality into one float mask (n or 1, heads or 1, L, S)."""
        xp = like._backend.xp
        total = None

        def to_float(m):
            data = m.array
            if data.dtype.kind == "b":
                return xp.where(data, -xp.inf, 0.0).astype(like.array.dtype)
            return data.astype(like.array.dtype)

        if attn_mask is not None:
            m = to_float(attn_mask)
            if m.ndim == 3:
                m = m.reshape(n, self.num_heads, L, S)
            total = m
        elif is_causal:
            total = xp.where(xp.tril(xp.ones((L, S), dtype=bool)), 0.0, -xp.inf).astype(like.array.dtype)
        if key_padding_mask is not None:
            if key_padding_mask.shape != (n, S):
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape ({n}, {S}), got "
                                 f"{key_padding_mask.shape}")
            pad = to_float(key_padding_mask).reshape(n, 1, 1, S)
            total = pad if total is None else total + pad
        return None if total is None else Tensor._wrap(total, like._backend, False, None)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
