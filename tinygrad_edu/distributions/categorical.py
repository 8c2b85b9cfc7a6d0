"""Categorical: one of K classes, with probabilities p_0..p_{K-1} (the policy of a discrete-action agent)."""
from ..broadcast import broadcast_shape
from ..tensor import Tensor
from . import constraints
from .distribution import EPSILON, LOWEST, Distribution, lazy_property


class Categorical(Distribution):
    r"""A categorical distribution over {0, ..., K-1}, K = the size of the last dim of probs or logits.

    Give exactly one of
        probs   non-negative, not all zero; normalised over the last dim:  p = probs / sum(probs)
        logits  any real numbers (unnormalised log-probabilities); normalised with log-softmax:
                log p = logits - logsumexp(logits)
    The other one is computed on first use: probs = softmax(logits), logits = log(p) (p
    clamped to [eps, 1 - eps] first, eps the dtype's machine epsilon, so log(0) is avoided).
    Leading dims of probs/logits are the batch: batch_shape = shape[:-1].

        log_prob(k) = log p_k                        (a gather; d/dlogits_j = [j = k] - p_j)
        entropy     = -sum_k p_k log p_k             (0 log 0 = 0)
        mean, variance: NaN (the classes are labels, not numbers), as in PyTorch
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: Either `probs` or `logits` must be specified, but not both.")
        name, param = ("probs", probs) if probs is not None else ("logits", logits)
        if not isinstance(param, Tensor):
            raise TypeError(f"Categorical: `{name}` must be a Tensor, got {type(param).__name__}")
        if param.ndim < 1:
            raise ValueError(f"Categorical: `{name}` parameter must be at least one-dimensional (its last dim holds "
                             f"the classes), got shape {param.shape}")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        super().__init__(self._param.shape[:-1], validate_args=validate_args)

    @lazy_property
    def logits(self):
        """log p, with p clamped to [eps, 1 - eps]."""
        eps = EPSILON[self.probs.dtype.name]
        return self.probs.clamp(min=eps, max=1 - eps).log()

    @lazy_property
    def probs(self):
        """softmax(logits) over the last dim."""
        return self.logits.softmax(-1)

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self._param.new_full(self._extended_shape(), float("nan"))

    @property
    def variance(self):
        return self._param.new_full(self._extended_shape(), float("nan"))

    def sample(self, sample_shape=()):
        """Class indices (int64) of shape sample_shape + batch_shape, drawn by tinygrad_edu's generator."""
        shape = self._extended_shape(sample_shape)
        count = 1
        for n in sample_shape:
            count *= int(n)
        rows = self.probs.detach().reshape(-1, self._num_events)       # one row per batch element
        drawn = rows.multinomial(count, replacement=True)              # (rows, count)
        return drawn.T.reshape(shape)

    def log_prob(self, value):
        """log p_value: the log-probabilities gathered at the class indices in `value`."""
        if self._validate_args:
            self._validate_sample(value)
        index = value.long().unsqueeze(-1)
        shape = broadcast_shape("Categorical.log_prob", index.shape, self.logits.shape)
        log_pmf = self.logits.expand(shape)
        return log_pmf.gather(-1, index.expand(shape[:-1] + (1,))).squeeze(-1)

    def entropy(self):
        """-sum_k p_k log p_k; a logit of -inf (p_k = 0) is clamped to the lowest finite number so that
        0 * log 0 gives 0 (and a finite gradient), not NaN."""
        logits = self.logits.clamp(min=LOWEST[self.logits.dtype.name])
        return -(logits * self.probs).sum(-1)
