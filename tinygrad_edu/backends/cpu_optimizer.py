"""Adam's and SGD's updates on the CPU as one compiled pass over the optimizer's flat buffers.

optim/adam.py writes the update as whole-array numpy operations: about a dozen passes over
the parameters, m and v (and temporaries as large), each a trip through memory. The
optimizer keeps all of a group's parameters, gradients and moments in flat buffers
(optim/optimizer.py), so the same update can be one loop over their elements that reads
p, g, m, v once and writes p, m, v once, everything in between staying in registers: the
CPU twin of the CUDA kernel in kernels/optimizer.py, which does the same per thread.

    p <- p * (1 - lr * weight_decay)               (AdamW; Adam adds weight_decay * p to g instead)
    m <- m + (1 - beta1) (g - m)
    v <- beta2 v + (1 - beta2) g^2                 (amsgrad: v_max <- max(v_max, v), used for v below)
    p <- p - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),   step_size = lr / (1 - beta1^t)

The scalars arrive in the arrays' dtype (float32 math stays float32, as in numpy and PyTorch),
and sqrt and the division are vector instructions, so the loop is vectorised. One detail
decides that: by default Numba follows Python's rules, where x / 0 raises ZeroDivisionError,
so every division is checked first, one element at a time; `error_model="numpy"` gives
numpy's rule (inf or nan, no check), and the compiler is free to do 16 elements at once.
Measured on the benchmark gpt's AdamW (0.42 million float32 parameters) on one core:
1.44 -> 0.17 ms per step.

SGD (with momentum, dampening, Nesterov and L2 weight decay, optim/sgd.py's rule) gets the same
treatment in `sgd_step`: its plain update is two to six passes, the loop is one (benchmark mlp,
0.2 million parameters, plain SGD: 36 -> 22 microseconds per step).

In a student copy the Adam loop is part of the adam assignment: `adam_step` returns False there,
and optim/adam.py runs the student's update instead.
"""
import math

import numpy as np
from numba import njit

from . import fast_path_switch


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step,
              decoupled=False, amsgrad=False):
    """One Adam (AdamW with `decoupled`) step over flat 1-D numpy arrays, in place; True when done, False where
    this path does not apply, or inside `fast_path_switch.plain()` (then optim/adam.py does the update with
    whole-array operations)."""
    if not _takes((param, grad, exp_avg, exp_avg_sq) + ((max_exp_avg_sq,) if amsgrad else ())):
        return False
    # BEGIN SOLUTION adam  (optional: the compiled CPU Adam) return False, and optim/adam.py runs your update
    # BEGIN PROMPT
    # return False   # not part of this copy: Adam.step runs your update
    # END PROMPT
    number = param.dtype.type
    decay = 1 - lr * weight_decay if decoupled and weight_decay != 0 else 1
    l2 = 0 if decoupled else weight_decay
    _adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq, bool(amsgrad),
               number(decay), number(l2), number(1 - beta1), number(beta2), number(1 - beta2),
               number(lr / (1 - beta1 ** step)), number(math.sqrt(1 - beta2 ** step)), number(eps))
    return True
    # END SOLUTION


def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
             first=False):
    """One SGD step over flat 1-D numpy arrays, in place (param, and momentum_buffer unless momentum is 0; `first`:
    the buffer starts as the gradient); True when done, False where this path does not apply."""
    if not _takes((param, grad) + ((momentum_buffer,) if momentum != 0 else ())):
        return False
    number = param.dtype.type
    _sgd_loop(param, grad, grad if momentum == 0 else momentum_buffer, number(lr), number(momentum),
              number(1 - dampening), number(weight_decay), bool(nesterov), bool(first))
    return True


def _takes(arrays):
    """Whether the loops take these arrays: fast paths on, numpy float32/float64 1-D C-contiguous arrays of one
    dtype and length."""
    first = arrays[0]
    return fast_path_switch.active() and first.dtype in (np.float32, np.float64) and all(
        type(a) is np.ndarray and a.dtype == first.dtype and a.ndim == 1 and a.shape == first.shape
        and a.flags.c_contiguous for a in arrays)


@njit(cache=True)
def _sgd_loop(param, grad, buffer, lr, momentum, one_minus_dampening, weight_decay, nesterov, first):
    for i in range(param.size):
        d = grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            b = d if first else buffer[i] * momentum + one_minus_dampening * d
            buffer[i] = b
            d = d + momentum * b if nesterov else b
        param[i] = param[i] - lr * d


@njit(cache=True, error_model="numpy")      # numpy's rules for x / 0 (inf, nan): no check, so it vectorises
def _adam_loop(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad, decay, l2, one_minus_beta1, beta2,
               one_minus_beta2, step_size, bias_correction2_sqrt, eps):
    # BEGIN SOLUTION adam
    # BEGIN PROMPT
    # return   # not part of this copy (adam_step returns False before calling it)
    # END PROMPT
    for i in range(param.size):
        p = param[i] * decay
        g = grad[i] + l2 * p
        m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
        v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        param[i] = p - step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))
    # END SOLUTION
