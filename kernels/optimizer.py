"""Optimizer steps as multi-tensor kernels: every parameter updated by one launch.

Why launches matter
-------------------
Adam written with array operations, as `Adam.step` in tinygrad_edu/optim/adam.py
defines it, is about fourteen operations per parameter:

    m += (1 - beta1) * (g - m)                       # 3 operations
    v *= beta2;  v += (1 - beta2) * g * g           # 4
    p -= step_size * (m / (sqrt(v) / c2 + eps))     # 6 or 7

On a GPU each operation is one kernel launch, and each launch costs 5-100
microseconds of Python and driver work before the GPU does anything (see
launch.py). A GPT with 30 parameter tensors then spends about 420 launches on
its optimizer step, although the arithmetic is tiny: a few flops per number,
and every one of those operations reads and writes the whole of its arrays.

Multi-tensor apply
------------------
PyTorch's answer (`foreach=True` and `fused=True` in torch.optim) is to treat all
the parameters as one long vector. Our optimizers do it this way (optim/optimizer.py):

* the parameters of a group that share a device and dtype live in one flat array,
  and each parameter's `.array` is a view of its stretch of it;
* every gradient is written by autograd straight into a flat gradient array (each
  parameter's `.grad` is a view of its own stretch), and the optimizer's state
  (exp_avg, exp_avg_sq, momentum buffers) is flat in the same layout;
* so the update of *every* parameter is one pass over a few flat arrays, and one
  thread per element does the whole update of that element: it reads p, g, m and
  v once, and writes them once. One launch instead of hundreds, and no
  temporaries.

Everything that is the same for all elements (the bias corrections 1 - beta^t, the
step size) is computed once on the host, as Python floats, and passed to the kernel
as arguments: nothing is copied to or from the device and Python never waits for it.

Element-wise work has no neighbours and no reductions, so each thread's
arithmetic is exactly the per-parameter formula; the kernels below compute in the
arrays' dtype (the host converts the scalars first, as numpy would treat them), in
the same order of operations as optim/, so float64 results agree with the
per-parameter path to the last bits and float32 ones to rounding.

The arrays are 1-D and contiguous (stretches of the flat buffers); the grid is a
grid-stride loop (elementwise.py), so any number of elements fits any grid. The
arrays must be distinct: an unused argument gets `grad`, which is only ever read
(the CUDA simulator copies each argument to its device and back, so two
arguments naming one array would overwrite each other's results there).
"""
import math

import numpy as np
from numba import cuda

from .elementwise import grid_size
from .launch import launch


@cuda.jit(cache=True)
def _sgd_kernel(param, grad, momentum_buffer, lr, weight_decay, momentum, one_minus_dampening, nesterov, first):
    """One thread per element: SGD's update of param[i] (optim/sgd.py), momentum_buffer unused when momentum == 0."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.shape[0], stride):
        d = grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            if first:                                # the first step: the buffer starts as the gradient itself
                buf = d
            else:
                buf = momentum_buffer[i] * momentum + one_minus_dampening * d
            momentum_buffer[i] = buf
            if nesterov:
                d = d + momentum * buf
            else:
                d = buf
        param[i] = param[i] - lr * d


@cuda.jit(cache=True)
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, weight_decay, decay, amsgrad,
                 one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps):
    """One thread per element: Adam's (or AdamW's) update of param[i] and its moments (optim/adam.py)."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.shape[0], stride):
        p = param[i]
        g = grad[i]
        if decay != 1:                               # AdamW: the parameter itself shrinks
            p = p * decay
        if weight_decay != 0:                        # Adam: an L2 penalty added to the gradient
            g = g + weight_decay * p
        # BEGIN SOLUTION adam  (optional: the fused CUDA Adam) element i: the two moments, amsgrad's running maximum of v, then the step of p
        m = exp_avg[i]
        m = m + one_minus_beta1 * (g - m)
        v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            v = max(max_exp_avg_sq[i], v)
            max_exp_avg_sq[i] = v
        p = p - step_size * (m / (math.sqrt(v) / bias_correction2_sqrt + eps))
        # END SOLUTION
        param[i] = p


def _check(name, *arrays):
    n = arrays[0].shape
    for array in arrays:
        if array.ndim != 1 or array.shape != n or array.dtype != arrays[0].dtype:
            raise ValueError(f"{name}: every array must be 1-D, of the same length and dtype; got "
                             f"{[(tuple(a.shape), str(a.dtype)) for a in arrays]}")


def sgd_step(param, grad, momentum_buffer, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
             first=False, xp=np, threads=256, max_blocks=4096):
    """One SGD step over flat arrays, in place: param (and momentum_buffer, unless momentum is 0).

    `first`: the momentum buffer has no history yet and starts as the gradient (PyTorch's rule).
    `momentum_buffer` may be None when momentum is 0. One launch, whatever the number of parameters
    the flat arrays hold. xp: the arrays' module (unused: every array is given).
    """
    buffer = grad if momentum_buffer is None else momentum_buffer     # (grad: a stand-in, never written)
    _check("sgd_step", param, grad, buffer)
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_step: momentum != 0 needs a momentum_buffer")
    if param.shape[0] == 0:
        return
    kind = param.dtype.type                          # scalars in the arrays' dtype, as numpy treats Python floats
    launch(_sgd_kernel, grid_size(param.shape[0], threads, max_blocks), threads, param, grad, buffer, kind(lr),
           kind(weight_decay), kind(momentum), kind(1 - dampening), bool(nesterov), bool(first))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step,
              decoupled=False, amsgrad=False, xp=np, threads=256, max_blocks=4096):
    """One Adam (AdamW with `decoupled`) step over flat arrays, in place: param, exp_avg, exp_avg_sq
    (and max_exp_avg_sq with amsgrad; it may be None otherwise). `step` is t, the number of this step
    (1, 2, ...), the same for every element. One launch, whatever the number of parameters.
    """
    maximum = grad if max_exp_avg_sq is None else max_exp_avg_sq    # (only read with amsgrad; never written)
    _check("adam_step", param, grad, exp_avg, exp_avg_sq, maximum)
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError("adam_step: amsgrad needs max_exp_avg_sq")
    if param.shape[0] == 0:
        return
    kind = param.dtype.type
    decay = 1 - lr * weight_decay if decoupled and weight_decay != 0 else 1
    l2 = 0 if decoupled else weight_decay
    # BEGIN SOLUTION adam  (optional: the fused CUDA Adam) on the host, as Python floats: the step size and sqrt(1 - beta2^t); then launch _adam_kernel once over all elements
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    launch(_adam_kernel, grid_size(param.shape[0], threads, max_blocks), threads, param, grad, exp_avg, exp_avg_sq,
           maximum, kind(l2), kind(decay), bool(amsgrad), kind(1 - beta1), kind(beta2), kind(1 - beta2),
           kind(step_size), kind(bias_correction2_sqrt), kind(eps))
    # END SOLUTION
