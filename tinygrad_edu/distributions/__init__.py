"""Probability distributions with PyTorch's names (torch.distributions), built from Tensor ops.

    import tinygrad_edu.distributions as D
    dist = D.Categorical(logits=policy(state))       # REINFORCE / actor-critic
    action = dist.sample()                           # no gradient through the draw
    loss = -(dist.log_prob(action) * advantage).mean() - 0.01 * dist.entropy().mean()

    posterior = D.Normal(mu, log_var.mul(0.5).exp()) # a VAE
    z = posterior.rsample()                          # reparameterised: gradients reach mu and log_var
    kl = D.kl_divergence(posterior, D.Normal(0.0, 1.0)).sum(-1)

    distribution.py  the base class: batch/event/sample shapes, sample vs rsample, validation
    constraints.py   the sets parameters and values must lie in (checked when validate_args is on)
    categorical.py   Categorical(probs=None, logits=None)
    normal.py        Normal(loc, scale)
    bernoulli.py     Bernoulli(probs=None, logits=None)
    kl.py            kl_divergence(p, q) and register_kl
"""
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .normal import Normal

__all__ = ["Distribution", "Categorical", "Normal", "Bernoulli", "kl_divergence", "register_kl", "constraints"]
