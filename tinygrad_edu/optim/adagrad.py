"""Adagrad: a per-coordinate learning rate that shrinks with the sum of all squared gradients so far."""
from .optimizer import Optimizer


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), PyTorch's update rule exactly.

    For each parameter p with gradient g, at step t (t = 1, 2, ...), with every element of
    the sum starting at s_0 = initial_accumulator_value:

        g     <- g + weight_decay * p                      (L2 penalty, if weight_decay != 0)
        lr_t   = lr / (1 + (t - 1) * lr_decay)             (the decayed learning rate)
        s_t    = s_{t-1} + g^2                             (sum of all squared gradients: "sum")
        p     <- p - lr_t * g / (sqrt(s_t) + eps)

    s only grows, so every coordinate's steps shrink; a coordinate that has seen small or
    rare gradients keeps a larger step than one that has seen large ones. As in PyTorch,
    the state ("step" = 0 and "sum") of every parameter is made when the optimizer is.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        _check_adagrad_options(lr, lr_decay, weight_decay, initial_accumulator_value, eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_options(self, group):
        super()._check_options(group)
        _check_adagrad_options(group["lr"], group["lr_decay"], group["weight_decay"],
                               group["initial_accumulator_value"], group["eps"])

    def _init_state(self, p, group):
        xp = p._backend.xp
        state = self.state[p] = {"step": 0}
        state["sum"] = p._like(xp.full_like(p.array, group["initial_accumulator_value"]))
        return state

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, lr_decay, weight_decay, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
            for p in self._params_with_grad(group):
                xp = p._backend.xp
                state = self.state.get(p) or self._init_state(p, group)   # a group added after construction
                g = self._decayed_gradient(p, state, weight_decay)

                lr_t = lr / (1 + (state["step"] - 1) * lr_decay)
                s = state["sum"].array
                s += g * g
                p.array -= lr_t * g / (xp.sqrt(s) + eps)
        return loss


def _check_adagrad_options(lr, lr_decay, weight_decay, initial_accumulator_value, eps):
    if not lr >= 0.0:
        raise ValueError(f"Adagrad: invalid learning rate lr={lr}; it must be >= 0")
    if not lr_decay >= 0.0:
        raise ValueError(f"Adagrad: invalid lr_decay={lr_decay}; it must be >= 0")
    if not weight_decay >= 0.0:
        raise ValueError(f"Adagrad: invalid weight_decay={weight_decay}; it must be >= 0")
    if not initial_accumulator_value >= 0.0:
        raise ValueError(f"Adagrad: invalid initial_accumulator_value={initial_accumulator_value} (the starting "
                         f"value of the sum of squared gradients); it must be >= 0")
    if not eps >= 0.0:
        raise ValueError(f"Adagrad: invalid eps={eps}; it must be >= 0")
