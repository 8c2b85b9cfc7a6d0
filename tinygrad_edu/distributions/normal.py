"""Normal: the Gaussian N(loc, scale^2) (a continuous policy, a VAE's encoder and prior)."""
import math
import numbers

from ..factories import randn
from . import constraints
from .distribution import Distribution, broadcast_all


class Normal(Distribution):
    r"""A normal distribution with mean `loc` and standard deviation `scale` (numbers or tensors,
    broadcast together; batch_shape is their broadcast shape, () when both are numbers).

        rsample     x = loc + scale * eps,  eps ~ N(0, 1)      dx/dloc = 1,  dx/dscale = eps
        log_prob    log p(x) = -(x - loc)^2 / (2 scale^2) - log scale - log sqrt(2 pi)
                    d/dloc = (x - loc) / scale^2,   d/dscale = (x - loc)^2 / scale^3 - 1 / scale
        entropy     H = 1/2 + log sqrt(2 pi) + log scale     dH/dscale = 1 / scale
        mean = loc, stddev = scale, variance = scale^2
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        numbers_only = isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number)
        super().__init__(() if numbers_only else self.loc.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev ** 2

    def rsample(self, sample_shape=()):
        """loc + scale * eps with eps ~ N(0, 1) drawn by tinygrad_edu's generator: differentiable in loc and scale."""
        shape = self._extended_shape(sample_shape)
        eps = randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
