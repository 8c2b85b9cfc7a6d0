"""The base class of every distribution: shapes, sampling with and without gradients, validation.

Shapes. One Distribution object is a whole *batch* of independent distributions of
one kind (Normal(loc, scale) with loc of shape (64, 2) is 64 x 2 normals); each draws
values of `event_shape` (() for all the distributions here, a scalar per draw). So

    sample(sample_shape).shape == sample_shape + batch_shape + event_shape
    log_prob(value).shape      == value.shape broadcast with batch_shape (minus event_shape)

Gradients. `sample()` draws outside the graph: no gradient flows through a sample.
`rsample()` ("reparameterised") writes the sample as a differentiable function of
the parameters and of noise that does not depend on them, e.g. x = loc + scale * eps
with eps ~ N(0, 1), so dx/dloc = 1 and dx/dscale = eps: the pathwise gradient a VAE
trains with. A discrete sample has no such function; there the score-function
(REINFORCE) estimator differentiates log_prob instead:
    d/dθ E[f(x)] = E[f(x) d/dθ log p(x; θ)].

Validation. With validate_args (on by default, as in PyTorch) the constructor checks
each parameter against `arg_constraints` and `log_prob` checks its value against the
batch shape and the `support` (constraints.py).
"""
import numbers
import sys

from ..autograd import enable_grad, no_grad
from ..broadcast import broadcast_shape
from ..dtypes import float32
from ..tensor import Tensor

# torch.finfo(dtype).eps and .min, by dtype name: the machine epsilon and the most negative finite number
EPSILON = {"float32": 2.0 ** -23, "float64": sys.float_info.epsilon}
LOWEST = {"float32": -3.4028234663852886e38, "float64": -sys.float_info.max}


class Distribution:
    has_rsample = False
    arg_constraints = {}     # parameter name -> the constraint it must satisfy
    support = None           # the constraint every value must satisfy
    _validate_args = True

    @staticmethod
    def set_default_validate_args(value):
        """Turn validation on or off for every distribution made afterwards without validate_args=."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name not in self.__dict__:   # the other parameterisation (probs vs logits), not computed yet
                    continue
                value = self.__dict__[name]
                if not constraint.check(value).all():
                    raise ValueError(f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of "
                                     f"distribution {self!r} to satisfy the constraint {constraint!r}, but found "
                                     f"invalid values:\n{value}")

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def mean(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def variance(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def sample(self, sample_shape=()):
        """A sample of shape sample_shape + batch_shape + event_shape, outside the graph (no gradient)."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        """A reparameterised sample: differentiable with respect to the parameters."""
        raise NotImplementedError(f"{type(self).__name__} has no rsample (it cannot be reparameterised); "
                                  f"use sample() and the score function log_prob for gradients")

    def log_prob(self, value):
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value):
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def entropy(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def _extended_shape(self, sample_shape=()):
        """sample_shape + batch_shape + event_shape: the shape of a sample."""
        if not isinstance(sample_shape, (tuple, list)):
            raise TypeError(f"{type(self).__name__}: sample_shape must be a tuple of ints such as (5,) or (), "
                            f"got {sample_shape!r}")
        return tuple(int(n) for n in sample_shape) + self._batch_shape + self._event_shape

    def _validate_sample(self, value):
        """Check a value given to log_prob: a Tensor, broadcastable with the batch, inside the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_start = value.ndim - len(self._event_shape)
        if tuple(value.shape[event_start:]) != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {tuple(value.shape)} vs "
                             f"{self._event_shape}.")
        expected = self._batch_shape + self._event_shape
        for i, j in zip(reversed(value.shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {tuple(value.shape)} "
                                 f"vs {expected}.")
        if not self.support.check(value).all():
            raise ValueError(f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within the "
                             f"support ({self.support!r}) of the distribution {self!r}, but found invalid "
                             f"values:\n{value}")

    def __repr__(self):
        params = [name for name in self.arg_constraints if name in self.__dict__]
        shown = [f"{name}: {self.__dict__[name] if self.__dict__[name].numel() == 1 else self.__dict__[name].shape}"
                 for name in params]
        return f"{type(self).__name__}({', '.join(shown)})"


class lazy_property:
    """A parameter computed from the other one on first use, then kept as an instance attribute
    (Categorical's probs from its logits, or its logits from its probs).

    It is computed with gradients on even when first asked for inside no_grad (sample() does
    that), so the kept tensor stays connected to the parameter it was computed from.
    """
    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def broadcast_all(*values):
    """Numbers and tensors as tensors of one broadcast shape.

    Numbers take the dtype and device of the first tensor (float32 on the CPU when all
    are numbers); tensors are expanded, so a gradient flows back to each one summed
    over the dims it was broadcast along.
    """
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError(f"Input arguments must all be instances of Number or tinygrad_edu.Tensor, got "
                         f"{[type(v).__name__ for v in values]}")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dtype, device = (float32, None) if first is None else (first.dtype, first.device)
    tensors = [v if isinstance(v, Tensor) else Tensor(v, dtype=dtype, device=device) for v in values]
    shape = broadcast_shape("broadcast_all", *[t.shape for t in tensors])
    return tuple(t.expand(shape) for t in tensors)
