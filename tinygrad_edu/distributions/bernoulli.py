"""Bernoulli: a coin that shows 1 with probability p and 0 otherwise (binary actions, binary pixels)."""
import numbers

from ..factories import rand
from ..nn.functional import binary_cross_entropy_with_logits
from . import constraints
from .distribution import EPSILON, Distribution, broadcast_all, lazy_property


class Bernoulli(Distribution):
    r"""A Bernoulli distribution, given by exactly one of
        probs   p = P(x = 1), in [0, 1]
        logits  the log-odds l = log(p / (1 - p)), any real number
    (a number or a tensor; batch_shape is its shape, () for a number). The other one is
    computed on first use: p = sigmoid(l), or l = log p - log(1 - p) with p clamped to
    [eps, 1 - eps] (eps the dtype's machine epsilon).

        log_prob(x) = x log p + (1 - x) log(1 - p) = -BCEWithLogits(l, x)
                      (written with softplus, so it stays finite for large |l|; d/dl = x - p)
        entropy     = -p log p - (1 - p) log(1 - p) = BCEWithLogits(l, p)
        mean = p, variance = p (1 - p); samples are 0.0 or 1.0 in p's dtype
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: Either `probs` or `logits` must be specified, but not both.")
        param = probs if probs is not None else logits
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        batch_shape = () if isinstance(param, numbers.Number) else self._param.shape
        super().__init__(batch_shape, validate_args=validate_args)

    @lazy_property
    def logits(self):
        """log p - log(1 - p), with p clamped to [eps, 1 - eps]."""
        eps = EPSILON[self.probs.dtype.name]
        p = self.probs.clamp(min=eps, max=1 - eps)
        return p.log() - (1 - p).log()

    @lazy_property
    def probs(self):
        """sigmoid(logits)."""
        return self.logits.sigmoid()

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        """1.0 where a uniform number u in [0, 1) (from tinygrad_edu's generator) falls below p, else 0.0."""
        shape = self._extended_shape(sample_shape)
        probs = self.probs.detach()
        u = rand(shape, dtype=probs.dtype, device=probs.device)
        return (u < probs).to(dtype=probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
