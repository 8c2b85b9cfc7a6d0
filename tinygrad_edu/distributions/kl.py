r"""kl_divergence(p, q): the Kullback-Leibler divergence KL(p || q) = E_p[log p(x) - log q(x)], in closed form.

Each pair of distribution types has its own formula, kept in a small table filled by
`@register_kl(TypeP, TypeQ)`, as in PyTorch. kl_divergence looks the pair up, the most
specific types first (a subclass of Normal uses Normal's formula unless it registers
its own). The result has the broadcast batch shape of p and q, and it is
differentiable with respect to both distributions' parameters (a VAE's KL term).
"""
import math

from ..nn.functional import binary_cross_entropy_with_logits
from ..tensor import where
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .normal import Normal

_KL_REGISTRY = {}    # (type of p, type of q) -> function(p, q)


def register_kl(type_p, type_q):
    """Decorator: register `fn(p, q)` as KL(p || q) for p of type_p and q of type_q."""
    for name, t in (("type_p", type_p), ("type_q", type_q)):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"Expected {name} to be a Distribution subclass but got {t!r}")

    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        return fn
    return decorator


def kl_divergence(p, q):
    """KL(p || q), of shape broadcast(p.batch_shape, q.batch_shape)."""
    for type_p in type(p).__mro__:
        for type_q in type(q).__mro__:
            fn = _KL_REGISTRY.get((type_p, type_q))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                              f"{type(q).__name__}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    r"""KL = log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2
           = (r + t - 1 - log r) / 2,   r = (s_p / s_q)^2,  t = ((m_p - m_q) / s_q)^2."""
    var_ratio = (p.scale / q.scale) ** 2
    t = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    r"""KL = sum_k p_k (log p_k - log q_k); a term is +inf where q_k = 0 < p_k, and 0 where p_k = 0."""
    t = p.probs * (p.logits - q.logits)
    t = where(q.probs == 0, math.inf, t)
    t = where(p.probs == 0, 0.0, t)
    return t.sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    r"""KL = p (log p - log q) + (1 - p) (log(1 - p) - log(1 - q)), the sum over the outcomes 1 and 0.

    With logits l: log p = -softplus(-l) and log(1 - p) = -softplus(l), softplus(z) = log(1 + e^z),
    which stay finite where p is 0 or 1 in floating point. As for Categorical, an outcome's term is
    +inf where q gives it probability 0 and p does not, and 0 where p gives it probability 0.
    """
    outcome_1 = p.probs * (_softplus(-q.logits) - _softplus(-p.logits))
    outcome_1 = where(q.probs == 0, math.inf, outcome_1)
    outcome_1 = where(p.probs == 0, 0.0, outcome_1)
    outcome_0 = (1 - p.probs) * (_softplus(q.logits) - _softplus(p.logits))
    outcome_0 = where(q.probs == 1, math.inf, outcome_0)
    outcome_0 = where(p.probs == 1, 0.0, outcome_0)
    return outcome_1 + outcome_0


def _softplus(z):
    """log(1 + e^z), stable for any z, with its gradient sigmoid(z): the fused binary cross-entropy op
    computes it, since BCEWithLogits(x, target 1) = softplus(-x)."""
    return binary_cross_entropy_with_logits(-z, z.new_ones(z.shape), reduction="none")
