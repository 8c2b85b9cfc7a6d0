"""A fused LSTM cell: all the element-wise work of one time step in one kernel.

The idea
--------
One LSTM step first computes the gate pre-activations with two matrix products,

    gates = x @ W_ih^T + h_prev @ W_hh^T + b_ih + b_hh        # (B, 4H)

(PyTorch's gate order along the last axis: i, f, g, o, each H wide), and then a
handful of element-wise operations:

    i = sigmoid(gates[:, 0:H])      input gate
    f = sigmoid(gates[:, H:2H])     forget gate
    g = tanh(gates[:, 2H:3H])       candidate cell value
    o = sigmoid(gates[:, 3H:4H])    output gate
    c = f * c_prev + i * g
    h = o * tanh(c)

Done with separate array operations that is about ten kernel launches, each
reading its inputs from global memory and writing a temporary back. The
element-wise part is limited by memory traffic, not arithmetic, so *fusing* it
into one kernel, which reads gates and c_prev once and writes h, c and the
activated gates once, makes it several times faster.

Thread mapping
--------------
One thread per (b, j) element of the (B, H) state, on a 2-D grid: the x
dimension runs over the hidden units j, the y dimension over the batch rows b.
Each thread handles all four gates of its unit: it reads gates[b, j],
gates[b, H + j], gates[b, 2H + j] and gates[b, 3H + j]. Neighbouring threads of a
warp have neighbouring j, so each of those four reads (and every write) touches
consecutive addresses: the accesses are coalesced.

The backward kernel uses the same mapping. With dh, dc the gradients flowing
into h and c, and the activated gates saved by the forward pass:

    dc_total = dc + dh * o * (1 - tanh(c)^2)        # c reaches the loss directly and through h
    d_i = dc_total * g * i * (1 - i)                 # sigmoid'(x) = s (1 - s)
    d_f = dc_total * c_prev * f * (1 - f)
    d_g = dc_total * i * (1 - g^2)                    # tanh'(x) = 1 - tanh(x)^2
    d_o = dh * tanh(c) * o * (1 - o)
    dc_prev = dc_total * f

Numerical stability
-------------------
sigmoid(x) = 1 / (1 + exp(-x)) overflows exp for large negative x (float32
exp(89) is already inf), and the other textbook form exp(x) / (1 + exp(x))
gives inf / inf = NaN for large positive x. The stable version picks the form
whose exp has a non-positive argument, so exp never exceeds 1:

    x >= 0:  1 / (1 + exp(-x))
    x <  0:  e / (1 + e)  with e = exp(x)

Precision note: in Numba a literal like 1.0 is a float64, and `1.0 - s` with a
float32 s is computed in float64 (much slower on most GPUs). The kernels come
from a factory cached per dtype that bakes in `one` and `zero` of the right
dtype, so float32 inputs are computed in float32 throughout.

The arithmetic of one unit lives in two device functions, `cell_math(dtype)`:
the kernels here call them once per (b, j), and the whole-sequence kernels of
lstm_sequence.py call the very same functions inside their loop over time.
"""
import functools
import math

import numpy as np
from numba import cuda

from .elementwise import float_dtype
from .launch import launch

DEFAULT_THREADS_PER_BLOCK = (32, 8)  # (threads along the hidden units, threads along the batch)


@functools.lru_cache(maxsize=None)
def cell_math(dtype):
    """Device functions (cell_forward, cell_backward): one unit's arithmetic, for one dtype.

    The kernels below call them once per (b, j) element; the sequence kernels of
    lstm_sequence.py call the very same functions inside their loop over time.
    """
    zero = np.dtype(dtype).type(0)
    one = np.dtype(dtype).type(1)

    @cuda.jit(device=True)
    def sigmoid(x):
        """Numerically stable logistic function: exp is only ever called on a non-positive number."""
        if x >= zero:
            return one / (one + math.exp(-x))
        e = math.exp(x)
        return e / (one + e)

    @cuda.jit(device=True)
    def cell_forward(z_i, z_f, z_g, z_o, c_prev):
        """One unit's four gate pre-activations and c_prev -> (i, f, g, o, c, h)."""
        input_gate = sigmoid(z_i)
        forget_gate = sigmoid(z_f)
        candidate = math.tanh(z_g)
        output_gate = sigmoid(z_o)
        cell = forget_gate * c_prev + input_gate * candidate
        return input_gate, forget_gate, candidate, output_gate, cell, output_gate * math.tanh(cell)

    @cuda.jit(device=True)
    def cell_backward(dh, dc, input_gate, forget_gate, candidate, output_gate, c_prev, c):
        """One unit's dh, dc and saved values -> (d_i, d_f, d_g, d_o, dc_prev), d_* w.r.t. the pre-activations."""
        tanh_c = math.tanh(c)
        dc_total = dc + dh * output_gate * (one - tanh_c * tanh_c)
        return (dc_total * candidate * input_gate * (one - input_gate),
                dc_total * c_prev * forget_gate * (one - forget_gate),
                dc_total * input_gate * (one - candidate * candidate),
                dh * tanh_c * output_gate * (one - output_gate),
                dc_total * forget_gate)

    return cell_forward, cell_backward


@functools.lru_cache(maxsize=None)
def _lstm_kernels(dtype):
    """The (forward, backward) kernels for one dtype."""
    cell_forward, cell_backward = cell_math(dtype)

    @cuda.jit(cache=True)
    def forward_kernel(gates, c_prev, h_out, c_out, acts):
        """One thread per (b, j): activate the four gates of unit j, update its cell and hidden state."""
        j, b = cuda.grid(2)
        batch, hidden = c_prev.shape
        if b >= batch or j >= hidden:
            return
        input_gate, forget_gate, candidate, output_gate, cell, h = cell_forward(
            gates[b, j], gates[b, hidden + j], gates[b, 2 * hidden + j], gates[b, 3 * hidden + j], c_prev[b, j])
        c_out[b, j] = cell
        h_out[b, j] = h
        acts[b, j] = input_gate
        acts[b, hidden + j] = forget_gate
        acts[b, 2 * hidden + j] = candidate
        acts[b, 3 * hidden + j] = output_gate

    @cuda.jit(cache=True)
    def backward_kernel(dh, dc, acts, c_prev, c, dgates, dc_prev):
        """One thread per (b, j): gradients of the four gate pre-activations of unit j and of c_prev."""
        j, b = cuda.grid(2)
        batch, hidden = c.shape
        if b >= batch or j >= hidden:
            return
        d_i, d_f, d_g, d_o, d_c_prev = cell_backward(
            dh[b, j], dc[b, j], acts[b, j], acts[b, hidden + j], acts[b, 2 * hidden + j], acts[b, 3 * hidden + j],
            c_prev[b, j], c[b, j])
        dgates[b, j] = d_i
        dgates[b, hidden + j] = d_f
        dgates[b, 2 * hidden + j] = d_g
        dgates[b, 3 * hidden + j] = d_o
        dc_prev[b, j] = d_c_prev

    return forward_kernel, backward_kernel


def _launch_config(batch, hidden, threads_per_block):
    threads_h, threads_b = threads_per_block
    blocks = ((hidden + threads_h - 1) // threads_h, (batch + threads_b - 1) // threads_b)
    return blocks, (threads_h, threads_b)


def _prepare(arrays, shapes, dtype, xp):
    """Check shapes, cast to `dtype` and make every array contiguous."""
    prepared = []
    for name, array in arrays.items():
        if tuple(array.shape) != shapes[name]:
            raise ValueError(f"lstm cell: {name} should have shape {shapes[name]}, got {tuple(array.shape)}")
        prepared.append(xp.ascontiguousarray(array, dtype=dtype))
    return prepared


def lstm_cell_forward(gates, c_prev, *, xp=np, threads_per_block=DEFAULT_THREADS_PER_BLOCK):
    """gates (B, 4H) pre-activations (order i, f, g, o), c_prev (B, H) -> (h, c, acts).

    h, c: (B, H) the new hidden and cell state; acts: (B, 4H) the activated gates
    [i, f, g, o], saved for the backward pass. Computed in the dtype of `gates`.
    xp: the array module of the inputs (numpy under the simulator, cupy on a GPU).
    threads_per_block: (threads along H, threads along B).
    """
    if gates.ndim != 2 or gates.shape[1] % 4:
        raise ValueError(f"lstm cell: gates should have shape (B, 4H), got {tuple(gates.shape)}")
    dtype = float_dtype(gates)
    batch, hidden = gates.shape[0], gates.shape[1] // 4
    gates, c_prev = _prepare({"gates": gates, "c_prev": c_prev},
                             {"gates": (batch, 4 * hidden), "c_prev": (batch, hidden)}, dtype, xp)
    h = xp.empty((batch, hidden), dtype=dtype)
    c = xp.empty((batch, hidden), dtype=dtype)
    acts = xp.empty((batch, 4 * hidden), dtype=dtype)
    if batch and hidden:
        forward_kernel, _ = _lstm_kernels(dtype)
        blocks, threads = _launch_config(batch, hidden, threads_per_block)
        launch(forward_kernel, blocks, threads, gates, c_prev, h, c, acts)
    return h, c, acts


def lstm_cell_backward(dh, dc, acts, c_prev, c, *, xp=np, threads_per_block=DEFAULT_THREADS_PER_BLOCK):
    """Gradients of one LSTM step -> (dgates (B, 4H), dc_prev (B, H)).

    dh, dc: (B, H) gradients flowing into h and c; acts (B, 4H), c_prev (B, H) and
    c (B, H) as saved by lstm_cell_forward. dgates is w.r.t. the gate pre-activations.
    xp and threads_per_block as for lstm_cell_forward.
    """
    if acts.ndim != 2 or acts.shape[1] % 4:
        raise ValueError(f"lstm cell: acts should have shape (B, 4H), got {tuple(acts.shape)}")
    dtype = float_dtype(acts)
    batch, hidden = acts.shape[0], acts.shape[1] // 4
    state = (batch, hidden)
    dh, dc, acts, c_prev, c = _prepare(
        {"dh": dh, "dc": dc, "acts": acts, "c_prev": c_prev, "c": c},
        {"dh": state, "dc": state, "acts": (batch, 4 * hidden), "c_prev": state, "c": state}, dtype, xp)
    dgates = xp.empty((batch, 4 * hidden), dtype=dtype)
    dc_prev = xp.empty(state, dtype=dtype)
    if batch and hidden:
        _, backward_kernel = _lstm_kernels(dtype)
        blocks, threads = _launch_config(batch, hidden, threads_per_block)
        launch(backward_kernel, blocks, threads, dh, dc, acts, c_prev, c, dgates, dc_prev)
    return dgates, dc_prev
