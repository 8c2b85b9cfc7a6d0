"""RMSprop: divide each gradient by a running root-mean-square of its recent values."""
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012; the centered form: Graves, 2013), PyTorch's update rule exactly.

    For each parameter p with gradient g, at step t (t = 1, 2, ...), with v_0 = gbar_0 = b_0 = 0:

        g      <- g + weight_decay * p                     (L2 penalty, if weight_decay != 0)
        v_t     = alpha * v_{t-1} + (1 - alpha) * g^2      (running mean of g^2: "square_avg")
        gbar_t  = alpha * gbar_{t-1} + (1 - alpha) * g     (centered only: running mean of g, "grad_avg")
        denom   = sqrt(v_t - gbar_t^2) + eps   if centered (then an estimate of g's standard deviation)
                  sqrt(v_t) + eps              otherwise   (g's root mean square)
        b_t     = momentum * b_{t-1} + g / denom           (momentum > 0 only: "momentum_buffer")
        p      <- p - lr * b_t                 if momentum > 0
                  p - lr * g / denom           otherwise

    As in Adam, eps is added *after* the square root. Unlike Adam there is no bias
    correction: v starts at 0, so the first steps are long (the very first one moves each
    coordinate by about lr / sqrt(1 - alpha), 10 * lr for the default alpha=0.99).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        _check_rmsprop_options(lr, alpha, eps, weight_decay, momentum)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_options(self, group):
        super()._check_options(group)
        _check_rmsprop_options(group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"])

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            weight_decay, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
            for p in self._params_with_grad(group):
                xp = p._backend.xp
                state = self.state.setdefault(p, {})
                g = self._decayed_gradient(p, state, weight_decay)

                v = self._buffer(p, state, "square_avg").array
                v *= alpha
                v += (1 - alpha) * g * g
                if centered:
                    g_avg = self._buffer(p, state, "grad_avg").array
                    g_avg += (1 - alpha) * (g - g_avg)       # = alpha * g_avg + (1 - alpha) * g
                    denom = xp.sqrt(v - g_avg * g_avg)
                else:
                    denom = xp.sqrt(v)
                denom += eps

                if momentum > 0:
                    buf = self._buffer(p, state, "momentum_buffer").array
                    buf *= momentum
                    buf += g / denom
                    p.array -= lr * buf
                else:
                    p.array -= lr * g / denom
        return loss


def _check_rmsprop_options(lr, alpha, eps, weight_decay, momentum):
    if not lr >= 0.0:
        raise ValueError(f"RMSprop: invalid learning rate lr={lr}; it must be >= 0")
    if not alpha >= 0.0:
        raise ValueError(f"RMSprop: invalid alpha={alpha} (the smoothing constant of the running mean of g^2); "
                         f"it must be >= 0")
    if not eps >= 0.0:
        raise ValueError(f"RMSprop: invalid eps={eps}; it must be >= 0")
    if not weight_decay >= 0.0:
        raise ValueError(f"RMSprop: invalid weight_decay={weight_decay}; it must be >= 0")
    if not momentum >= 0.0:
        raise ValueError(f"RMSprop: invalid momentum={momentum}; it must be >= 0")
