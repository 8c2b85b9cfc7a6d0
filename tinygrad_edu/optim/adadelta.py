"""Adadelta: steps sized by the ratio of two running root-mean-squares, of past steps and of gradients."""
from .optimizer import Optimizer


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), PyTorch's update rule exactly.

    For each parameter p with gradient g, at step t (t = 1, 2, ...), with v_0 = u_0 = 0:

        g      <- g + weight_decay * p                         (L2 penalty, if weight_decay != 0)
        v_t     = rho * v_{t-1} + (1 - rho) * g^2              (running mean of g^2: "square_avg")
        delta   = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g    (the step)
        u_t     = rho * u_{t-1} + (1 - rho) * delta^2          (running mean of delta^2: "acc_delta")
        p      <- p - lr * delta

    Here eps goes *inside* the square roots (it also starts u off: the first step is about
    sqrt(eps / v_1) * g). The RMS of past steps over the RMS of gradients gives delta the
    units of p, which is why the default lr is 1.0.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        _check_adadelta_options(lr, rho, eps, weight_decay)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _check_options(self, group):
        super()._check_options(group)
        _check_adadelta_options(group["lr"], group["rho"], group["eps"], group["weight_decay"])

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                xp = p._backend.xp
                state = self.state.setdefault(p, {})
                g = self._decayed_gradient(p, state, weight_decay)

                v = self._buffer(p, state, "square_avg").array
                u = self._buffer(p, state, "acc_delta").array
                v *= rho
                v += (1 - rho) * g * g
                delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
                u *= rho
                u += (1 - rho) * delta * delta
                p.array -= lr * delta
        return loss


def _check_adadelta_options(lr, rho, eps, weight_decay):
    if not lr >= 0.0:
        raise ValueError(f"Adadelta: invalid learning rate lr={lr}; it must be >= 0")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"Adadelta: invalid rho={rho} (the decay of the running means); it must be in [0, 1]")
    if not eps >= 0.0:
        raise ValueError(f"Adadelta: invalid eps={eps}; it must be >= 0")
    if not weight_decay >= 0.0:
        raise ValueError(f"Adadelta: invalid weight_decay={weight_decay}; it must be >= 0")
