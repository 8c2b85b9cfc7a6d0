"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
import math

from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), PyTorch's update rule exactly.

    For each parameter p with gradient g, at step t (t = 1, 2, ...), with m_0 = v_0 = 0:

        g     <- g + weight_decay * p                      (L2 penalty, if weight_decay != 0)
        m_t    = beta1 * m_{t-1} + (1 - beta1) * g         (first moment)
        v_t    = beta2 * v_{t-1} + (1 - beta2) * g^2       (second moment)
        vmax_t = max(vmax_{t-1}, v_t)                      (amsgrad only; then used in place of v_t)
        p     <- p - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    Note where eps goes: it is added *after* the square root of the bias-corrected v.

    `foreach` / `fused` (PyTorch's options): by default the parameters are updated together
    from flat buffers (optim/optimizer.py), on "cuda" by one kernel launch for all of them
    (kernels/optimizer.py), on the CPU by one compiled pass over them (backends/cpu_optimizer.py,
    or this same code run once over the flat buffers where that does not apply);
    `foreach=False` updates them one at a time with this code.
    """

    decoupled_weight_decay = False   # AdamW sets this: weight decay shrinks p instead of adding to g

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, fused=None):
        _check_adam_options(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))
        self._set_fusion(foreach, fused)

    def _check_options(self, group):
        super()._check_options(group)
        _check_adam_options(type(self).__name__, group["lr"], group["betas"], group["eps"], group["weight_decay"])

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
            # p: one parameter, or a run of them as one flat tensor (optimizer.py); the update is the same
            for p, state in self._updates(group):
                xp = p._backend.xp
                g = p.grad.array                     # never written to: it may be shared
                state["step"] = t = state.get("step", 0) + 1
                m = self._buffer(p, state, "exp_avg").array
                v = self._buffer(p, state, "exp_avg_sq").array

                backend = self._use_kernel(state, "adam_step")
                if backend is not None:             # a run: the whole update in one pass (CUDA launch or compiled loop)
                    maxima = self._buffer(p, state, "max_exp_avg_sq").array if amsgrad else None
                    if backend.adam_step(p.array, g, m, v, maxima, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                         weight_decay=weight_decay, step=t, decoupled=self.decoupled_weight_decay,
                                         amsgrad=amsgrad):
                        continue

                if weight_decay != 0:
                    if self.decoupled_weight_decay:
                        p.array *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.array

                # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
                m += (1 - beta1) * (g - m)          # = beta1 * m + (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g             # ((1 - beta2) g) g, as PyTorch: g * g overflows float32 past 1.8e19
                if amsgrad:
                    v_max = self._buffer(p, state, "max_exp_avg_sq").array
                    xp.maximum(v_max, v, out=v_max)
                    v = v_max

                step_size = lr / (1 - beta1 ** t)
                denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
                p.array -= step_size * (m / denom)
                # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's update rule exactly.

    As Adam, except that weight decay does not touch the gradient; before the Adam
    step the parameter itself shrinks:

        p <- p * (1 - lr * weight_decay)
        (then m, v and the update as in Adam, computed from the raw gradient g)
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 foreach=None, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, fused=fused)


def _check_adam_options(name, lr, betas, eps, weight_decay):
    if not lr >= 0.0:
        raise ValueError(f"{name}: invalid learning rate lr={lr}; it must be >= 0")
    if not eps >= 0.0:
        raise ValueError(f"{name}: invalid eps={eps}; it must be >= 0")
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}") from None
    for i, beta in enumerate((beta1, beta2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"{name}: invalid beta{i + 1}={beta} (betas={tuple(betas)!r}); each beta must be in "
                             f"[0, 1)")
    if not weight_decay >= 0.0:
        raise ValueError(f"{name}: invalid weight_decay={weight_decay}; it must be >= 0")
