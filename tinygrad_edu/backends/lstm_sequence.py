"""A whole LSTM layer's time loop as one backend op: step by step on any backend, compiled on the CPU.

The op (the backends' `lstm_sequence_forward` and `lstm_sequence_backward`) receives
the input projection of every step, x_proj = x W_ih^T + b_ih + b_hh (T, B, 4H), which
ops/lstm.py computes with one matrix product, and runs the part that cannot be
batched over time (gate order i, f, g, o):

    forward,  t = 0 .. T-1:   gates_t = x_proj_t + h_{t-1} W_hh^T;   h_t, c_t = cell(gates_t, c_{t-1})
    backward, t = T-1 .. 0:   dgates_t, dc = cell_backward(g_h[t] + dh, g_c[t] + dc);   dh = dgates_t W_hh

where g_h, g_c are the gradients of the outputs h_t, c_t and (dh, dc) the gradients
carried from step t + 1 (zeros at the end). The forward returns hc (T, B, 2H), h_t and
c_t side by side, and the activated gates (T, B, 4H); the backward returns dgates of
every step, from which ops/lstm.py gets all the weight gradients with single matrix
products, and the (dh, dc) left after step 0, the gradients of h0 and c0.

Two implementations
-------------------
`steps_forward` / `steps_backward` are the definition: per step one matrix product and
one call of the backend's fused cell (`lstm_cell_forward` / `lstm_cell_backward`, the
lstm-cell assignment). Any backend can run them; they are the reference the tests
compare with, and what CuPy runs when our kernels are switched off.

`compiled_forward` / `compiled_backward` are the CPU's fast path. A step of the
benchmark's layer (B 32, H 128) is one small matrix product of about 50 microseconds
and some 20 000 element-wise operations; written as array calls, those are about
fifteen numpy calls per step, each a pass over a (B, 4H) or (B, H) array plus a
microsecond or two of Python, and the step-by-step loop also slices, copies and
allocates. Here each step is a fixed handful of calls on buffers allocated once:

  * the recurrent product h_{t-1} W_hh^T, one BLAS call into a reused buffer
    (`np.matmul(..., out=...)`; W_hh^T made contiguous once, which BLAS runs
    faster than a transposed view),
  * numpy's tanh for the gates (sigmoid(z) = (1 + tanh(z/2)) / 2, so one call
    activates all four gates) and for tanh(c_t), and
  * two small Numba-compiled functions (`@njit`) doing all the remaining arithmetic
    in one pass each, writing c_t and h_t straight into hc.

Why the transcendental functions stay in numpy: numpy evaluates tanh with SIMD
instructions, about 0.5 ns per float32 element here, while a compiled loop calls the
C library's scalar tanh, about 17 ns (exp about 3 ns): a cell compiled whole, tanh
included, measured 190 microseconds per step against 26 for numpy's cell. The
arithmetic between the tanh calls is what numpy does badly (a pass and a call per
operation) and a compiled loop does well (everything in one pass, in registers).

The backward needs no transcendental function inside the loop: tanh(c_t) of all the
steps is one numpy call before it, so each step is one compiled function (the whole
cell backward) and one BLAS call (dgates_t W_hh).

Why the loop over time stays in Python: Numba compiles `np.dot` only with SciPy's
BLAS bindings, not a dependency here, and a matrix product written as loops in Numba
ran the forward loop three times slower than BLAS at these sizes (29 ms against 10 ms).
The Python loop costs a few microseconds per step, small next to the matrix product.
"""
import contextlib

import numpy as np
from numba import njit

from ..blas_threads import blas_threads
from .numpy_backend import _gate_scales

_compiled = [True]   # whether NumpyBackend runs the compiled version on numpy arrays (see step_by_step)


def use_compiled():
    """Whether the CPU runs LSTM layers with the compiled loop (False inside `step_by_step()`)."""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled loop below: it computes your cell's math, so it is cut
    # BEGIN PROMPT
    # return False   # this copy runs every LSTM layer step by step, on your lstm_cell_forward/backward
    # END PROMPT
    return _compiled[-1]
    # END SOLUTION


@contextlib.contextmanager
def step_by_step():
    """Within this block the CPU runs every LSTM layer as `steps_forward` / `steps_backward`: on the backend's
    `lstm_cell_forward` / `lstm_cell_backward`, one step at a time (the lstm-cell assignment's code)."""
    _compiled.append(False)
    try:
        yield
    finally:
        _compiled.pop()


# ---- the definition: one matrix product and one fused cell per step -----------------------------
def steps_forward(backend, x_proj, h0, c0, w_hh):
    """(x_proj (T, B, 4H), h0, c0 (B, H), w_hh (4H, H)) -> (hc (T, B, 2H), acts (T, B, 4H)), step by step."""
    xp = backend.xp
    steps, batch, hidden = x_proj.shape[0], x_proj.shape[1], x_proj.shape[2] // 4
    hc = xp.empty((steps, batch, 2 * hidden), dtype=x_proj.dtype)
    acts = xp.empty_like(x_proj)
    h, c, w_hh_t = h0, c0, w_hh.T
    for t in range(steps):
        h, c, acts[t] = backend.lstm_cell_forward(x_proj[t] + backend.matmul(h, w_hh_t), c)
        hc[t, :, :hidden], hc[t, :, hidden:] = h, c
    return hc, acts


def steps_backward(backend, g, hc, acts, c0, w_hh):
    """(g, hc (T, B, 2H), acts (T, B, 4H), c0 (B, H), w_hh) -> (dgates (T, B, 4H), dh0, dc0), step by step."""
    xp = backend.xp
    steps, batch, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 4
    dgates = xp.empty_like(acts)
    dh = xp.zeros((batch, hidden), dtype=acts.dtype)
    dc = xp.zeros((batch, hidden), dtype=acts.dtype)
    for t in range(steps - 1, -1, -1):
        c_prev = hc[t - 1, :, hidden:] if t > 0 else c0
        dgates[t], dc = backend.lstm_cell_backward(dh + g[t, :, :hidden], dc + g[t, :, hidden:], acts[t], c_prev,
                                                   hc[t, :, hidden:])
        dh = backend.matmul(dgates[t], w_hh)
    return dgates, dh, dc


# ---- the CPU's fast path: BLAS, numpy's tanh and compiled arithmetic ----------------------------
# Each compiled function takes whole C-contiguous rows of its step (acts[t], hc[t], g[t]: (B, 4H) or (B, 2H))
# and finds h_t and c_t inside them by column: a column slice such as hc[t, :, hidden:] is a strided view, and
# on strided arrays Numba cannot use vector instructions (measured: 33 against 5 microseconds per call).
@njit(cache=True)
def _gates_and_cell(acts_t, c, hc_t):
    """acts_t (B, 4H) holds tanh(gates * s) (s = 1/2 on i, f, o, 1 on g): turn i, f, o into sigmoids,
    (1 + tanh(z/2)) / 2, in place, and update the carry c (B, H) from c_{t-1} to c_t = f * c_{t-1} + i * g,
    also written into hc_t[:, H:]."""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    batch, hidden = c.shape
    half = acts_t.dtype.type(0.5)            # a constant of the arrays' dtype keeps float32 math in float32
    for b in range(batch):
        for j in range(hidden):
            input_gate = half + half * acts_t[b, j]
            forget_gate = half + half * acts_t[b, hidden + j]
            acts_t[b, j] = input_gate
            acts_t[b, hidden + j] = forget_gate
            acts_t[b, 3 * hidden + j] = half + half * acts_t[b, 3 * hidden + j]
            c_t = forget_gate * c[b, j] + input_gate * acts_t[b, 2 * hidden + j]
            c[b, j] = c_t
            hc_t[b, hidden + j] = c_t
    # END SOLUTION


@njit(cache=True)
def _hidden_state(acts_t, tanh_c, hc_t, h_next):
    """h_t = o * tanh(c_t), written into hc_t[:, :H] and into h_next, the contiguous input of the next product."""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    batch, hidden = tanh_c.shape
    for b in range(batch):
        for j in range(hidden):
            h = acts_t[b, 3 * hidden + j] * tanh_c[b, j]
            hc_t[b, j] = h
            h_next[b, j] = h
    # END SOLUTION


@njit(cache=True)
def _cell_backward(g_t, dh, dc, acts_t, hc_prev, tanh_c, dgates_t):
    """Step t's cell backward: with the carries dh, dc (B, H) plus g_t (B, 2H), the gradient of [h_t, c_t]
    itself, write dgates_t (B, 4H) and overwrite dc with the carry into c_{t-1} (c_{t-1} is hc_prev[:, H:]).
    The math of lstm_cell_backward:
        dc_total = dc + dh o (1 - tanh(c)^2);   d_i = dc_total g i (1 - i);   d_f = dc_total c_prev f (1 - f)
        d_g = dc_total i (1 - g^2);   d_o = dh tanh(c) o (1 - o);   dc_prev = dc_total f"""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    batch, hidden = dh.shape
    one = dh.dtype.type(1)
    for b in range(batch):
        for j in range(hidden):
            input_gate, forget_gate = acts_t[b, j], acts_t[b, hidden + j]
            candidate, output_gate = acts_t[b, 2 * hidden + j], acts_t[b, 3 * hidden + j]
            dh_total = g_t[b, j] + dh[b, j]
            dc_total = g_t[b, hidden + j] + dc[b, j] + dh_total * output_gate * (one - tanh_c[b, j] * tanh_c[b, j])
            dgates_t[b, j] = dc_total * candidate * input_gate * (one - input_gate)
            dgates_t[b, hidden + j] = dc_total * hc_prev[b, hidden + j] * forget_gate * (one - forget_gate)
            dgates_t[b, 2 * hidden + j] = dc_total * input_gate * (one - candidate * candidate)
            dgates_t[b, 3 * hidden + j] = dh_total * tanh_c[b, j] * output_gate * (one - output_gate)
            dc[b, j] = dc_total * forget_gate
    # END SOLUTION


def compiled_forward(x_proj, h0, c0, w_hh):
    """`steps_forward` for numpy arrays: per step one BLAS call, two numpy tanh and two compiled passes."""
    steps, batch, hidden = x_proj.shape[0], x_proj.shape[1], x_proj.shape[2] // 4
    dtype = x_proj.dtype
    hc = np.empty((steps, batch, 2 * hidden), dtype=dtype)
    acts = np.empty((steps, batch, 4 * hidden), dtype=dtype)
    w_hh_t = np.ascontiguousarray(w_hh.T, dtype=dtype)
    scale, _ = _gate_scales(np, hidden, dtype)                # 1/2 on i, f, o and 1 on g: tanh(z * scale)
    z = np.empty((batch, 4 * hidden), dtype=dtype)          # the gates of one step
    tanh_c = np.empty((batch, hidden), dtype=dtype)
    h = np.array(h0, dtype=dtype, order="C")                 # the carries h_{t-1}, c_{t-1}, contiguous
    c = np.array(c0, dtype=dtype, order="C")
    blas_threads().for_product(h.shape, w_hh_t.shape)      # small products: one thread (blas_threads.py)
    for t in range(steps):
        np.matmul(h, w_hh_t, out=z)
        z += x_proj[t]
        z *= scale
        np.tanh(z, out=acts[t])
        _gates_and_cell(acts[t], c, hc[t])
        np.tanh(c, out=tanh_c)
        _hidden_state(acts[t], tanh_c, hc[t], h)
    return hc, acts


def compiled_backward(g, hc, acts, c0, w_hh):
    """`steps_backward` for numpy arrays: per step one compiled cell backward and one BLAS call."""
    steps, batch, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 4
    dtype = acts.dtype
    g = np.ascontiguousarray(g, dtype=dtype)
    w_hh = np.ascontiguousarray(w_hh, dtype=dtype)
    tanh_c = np.tanh(hc[:, :, hidden:])                      # tanh(c_t) of every step, in one call
    dgates = np.empty_like(acts)
    dh = np.zeros((batch, hidden), dtype=dtype)              # the carries: gradients into h_{t-1} and c_{t-1}
    dc = np.zeros((batch, hidden), dtype=dtype)
    hc_before = np.zeros((batch, 2 * hidden), dtype=dtype)   # [h, c] before step 0: only its c0 half is read
    hc_before[:, hidden:] = c0
    blas_threads().for_product(dgates.shape[1:], w_hh.shape)
    for t in range(steps - 1, -1, -1):
        _cell_backward(g[t], dh, dc, acts[t], hc[t - 1] if t > 0 else hc_before, tanh_c[t], dgates[t])
        np.matmul(dgates[t], w_hh, out=dh)
    return dgates, dh, dc
