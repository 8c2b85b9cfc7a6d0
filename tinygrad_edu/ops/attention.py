"""Scaled dot-product attention, fused into one node.

Forward (per batch item): S = Q K^T * scale + mask, P = softmax(S), O = P V.
Only O and the rows' logsumexp are kept; backward recomputes P from them:
    dV = P^T dO,   dP = dO V^T,   dS = P * (dP - rowsum(dO * O)),
    dQ = scale * dS K,   dK = scale * dS^T Q.
"""
from ..autograd import Function


class ScaledDotProductAttention(Function):
    """q (B, L, E), k (B, S, E), v (B, S, Ev) -> (B, L, Ev). `mask` is an additive array (no gradient)."""
    def forward(self, q, k, v, scale=1.0, causal=False, mask=None):
        out, lse = self.backend.attention_forward(q, k, v, scale, causal, mask)
        self.save_for_backward(q, k, v, out, lse, mask)
        self.scale, self.causal = scale, causal
        return out

    def backward(self, g):
        q, k, v, out, lse, mask = self.saved
        return self.backend.attention_backward(q, k, v, out, lse, g, self.scale, self.causal, mask)
