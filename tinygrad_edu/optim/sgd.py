"""Stochastic gradient descent, with momentum, dampening, weight decay and Nesterov momentum."""
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent, PyTorch's update rule exactly.

    For each parameter p with gradient g, at step t (t = 1, 2, ...):

        g   <- g + weight_decay * p                        (L2 penalty, if weight_decay != 0)
        b_1  = g                                           (momentum buffer: the first step copies g,
        b_t  = momentum * b_{t-1} + (1 - dampening) * g     no dampening applied to it)
        d    = g + momentum * b_t    if nesterov
               b_t                   otherwise              (just g when momentum == 0)
        p   <- p - lr * d

    Nesterov momentum needs momentum > 0 and dampening == 0.

    `foreach` / `fused` (PyTorch's options): by default the parameters are updated together
    from flat buffers, on "cuda" by one kernel launch (kernels/optimizer.py), on the CPU by a
    few whole-buffer numpy operations; `foreach=False` updates them one at a time. The
    update is the same (optim/optimizer.py explains how).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 foreach=None, fused=None):
        if not lr >= 0.0:
            raise ValueError(f"SGD: invalid learning rate lr={lr}; it must be >= 0")
        if not momentum >= 0.0:
            raise ValueError(f"SGD: invalid momentum={momentum}; it must be >= 0")
        if not weight_decay >= 0.0:
            raise ValueError(f"SGD: invalid weight_decay={weight_decay}; it must be >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                             f"momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))
        self._set_fusion(foreach, fused)

    def _check_options(self, group):
        super()._check_options(group)
        if not group["momentum"] >= 0.0:
            raise ValueError(f"SGD: invalid momentum={group['momentum']} in a parameter group; it must be >= 0")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                             "(in a parameter group)")

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            # p: one parameter, or a run of them as one flat tensor (optimizer.py); the update is the same
            for p, state in self._updates(group, stateful=momentum != 0):
                first = momentum != 0 and state.get("momentum_buffer") is None   # the buffer starts as d
                backend = self._use_kernel(state, "sgd_step")
                if backend is not None:             # a run: the whole update in one pass (a CUDA launch, or compiled)
                    buf = self._buffer(p, state, "momentum_buffer").array if momentum != 0 else None
                    if backend.sgd_step(p.array, p.grad.array, buf, lr=lr, momentum=momentum, dampening=dampening,
                                        weight_decay=weight_decay, nesterov=nesterov, first=first):
                        continue
                d = p.grad.array                     # never written to: it may be shared
                if weight_decay != 0:
                    d = d + weight_decay * p.array
                if momentum != 0:
                    buf = self._buffer(p, state, "momentum_buffer")
                    if first:                       # first step: the buffer starts as the gradient itself
                        buf.array[...] = d
                    else:
                        buf.array *= momentum
                        buf.array += (1 - dampening) * d
                    d = d + momentum * buf.array if nesterov else buf.array
                p.array -= lr * d
        return loss
