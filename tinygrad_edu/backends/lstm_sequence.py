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
benchmark's layer (B 32, H 128) is one small matrix product, (32, 128) @ (128, 512), and
some 20 000 element-wise operations. OpenBLAS runs that product at about 90% of one
core's peak, but cannot split it over two cores with any gain (the threads would have to
meet 64 times per sequence, and each meeting costs as much as the product). Step by step
in Python, with numpy doing the element-wise work, the loop uses one core of two.

The way out is in the math: rows of the batch never meet. Row b's h_t and c_t depend only
on row b's h_{t-1}, c_{t-1} and x_proj_t; the same holds for the gradients going back. So
the batch is cut into parts of whole rows, and each part runs the WHOLE sequence on its
own thread: threads meet once per sequence, not once per step. For that the loop over
time must run without Python's global interpreter lock, so each part's loop is one
compiled function (`@njit(nogil=True)`):

  * the recurrent product adds h_{t-1} W_hh^T into the step's rows of acts, which hold
    x_proj_t on entry: one call of BLAS's gemm (compiled_blas.py: numpy's own BLAS,
    called from compiled code, with row strides so that no row is copied), and
  * one pass over the step's rows does the whole cell: the four activations, c_t, h_t,
    written into acts and hc.

The backward is the same: per step one pass for the cell's backward and one gemm,
dh_{t-1} = dgates_t W_hh, for the part's rows.

tanh without numpy: in a compiled loop, `math.tanh` calls the C library once per element
(about 17 ns; numpy's vectorised tanh takes 0.4 ns per float32). `tanh_by_arithmetic`
computes tanh from additions, multiplications and one division, which the compiler turns
into vector instructions: to double precision at 1.7 ns per element, and in float32
(`tanh_float32_by_arithmetic`, within 6 units in the last place) at 0.6 ns; the cell uses
the one of its arrays' precision. numpy's own tanh is still used wherever it can be (tanh(c_t)
of all steps, before the backward loop). The float32 tanh took the benchmark's forward loop
from 3.7 to 2.8 ms, and lesson 5's (H = 256, one part) from 14.6 to 11.2 ms.

How many parts, and on which threads: one per core that other programs leave free
(blas_threads.FreeCores), with at least `ROWS_PER_PART` rows each, run on OpenBLAS's own
worker threads (`blas_threads().run_parts`), the ones that run numpy's large products. Not
on threads of our own: after a large product OpenBLAS's threads keep spinning for a while,
waiting for the next one, and a thread of ours would share its core with a spinning one
(measured: the benchmark's forward loop in two parts took 3.4 ms alone, 6.1 ms right after
a two-thread product, and 5.5 ms in one part). On the 2-core machine: two parts of 16 rows;
in the benchmark's training step the forward loop went from 5.3 to 3.4 ms and the backward
loop from 5.1 to 2.7 ms (the old loop: one BLAS call and four numpy calls per step, in Python).

"""
import contextlib
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..blas_threads import blas_threads, shares
from . import compiled_blas

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


# ---- the CPU's fast path: each part of the batch through the whole sequence, compiled, on its own thread --
ROWS_PER_PART = 8      # a part smaller than this would make BLAS's products too thin to pay for a thread
# Each part's product packs ALL of W_hh for its few rows, every step. That pays while W_hh stays in a core's
# cache: measured on the 2-core machine (1 MB of L2 per core), H = 128 (W_hh 256 KB): the forward loop 5.3 ms
# in one part, 3.4 ms in two. At H = 256 (1 MB) two parts took 14.9 ms, and one part whose products BLAS
# splits over both cores (by columns: each thread packs half of W_hh) 13.0 ms.
ROW_PARTS_MAX_WEIGHT_BYTES = 512 * 1024

_ROW_MAJOR, _NO_TRANS = compiled_blas.ROW_MAJOR, compiled_blas.NO_TRANS


@njit(error_model="numpy")
def tanh_by_arithmetic(x):
    """tanh(x) in double precision from + - * / only, so that a compiled loop around it is vectorised.

        tanh(a) = (1 - e^(-2a)) / (1 + e^(-2a)) = -m / (m + 2),   m = expm1(-2a) = e^(-2a) - 1,   for a = |x|
    m comes from a small argument: z = -2a / 128 lies in [-0.3125, 0] (a is clamped at 20, where tanh is 1
    in double precision), where expm1's Taylor series to z^13 is exact to 1e-18, and then seven doublings,
        expm1(2z) = e^(2z) - 1 = (e^z - 1)(e^z + 1) = expm1(z) (expm1(z) + 2),
    take it from z to 128 z = -2a. Working with expm1 rather than exp keeps small results accurate: 1 - e^(-2a)
    would lose all its digits for small a. Measured: within 1e-15 of numpy's tanh (relative), at about 1.7 ns
    per element (half as many float64 numbers fit in a vector instruction as float32). NaN stays NaN, -0.0
    stays -0.0."""
    a = abs(float(x))
    if a > 20.0:                           # written as a comparison, not min(), so that NaN passes through
        a = 20.0
    z = a * (-2.0 / 128)
    m = z * (1.0 + z * (1 / 2 + z * (1 / 6 + z * (1 / 24 + z * (1 / 120 + z * (1 / 720 + z * (1 / 5040 + z * (
        1 / 40320 + z * (1 / 362880 + z * (1 / 3628800 + z * (1 / 39916800 + z * (1 / 479001600 + z * (
            1 / 6227020800)))))))))))))
    for _ in range(7):
        m = m * (m + 2.0)
    t = -m / (m + 2.0)
    if a < 1e-10:                          # tanh(a) = a - a^3/3 + ...: a itself, also where z would underflow
        t = a
    return math.copysign(t, x)


@njit(error_model="numpy")
def tanh_float32_by_arithmetic(x):
    """The same recipe in float32 arithmetic, for float32 numbers: a clamped at 9 (tanh is 1 in float32 from
    about 8.7), z = -2a / 8 in [-2.25, 0], expm1's Taylor series to z^10, three doublings. Each float32 operation
    rounds, and the doublings and the final division carry those errors along: measured within 6 units in the
    last place of the exact value (5.0 at most, 1.1 on average, over 3.3 million numbers; numpy's own float32
    tanh is within 1.4), at about 0.6 ns per element."""
    f = np.float32
    a = abs(x)
    if a > f(9.0):
        a = f(9.0)
    z = a * f(-0.25)
    p = f(1 / 3628800)                     # expm1(z) / z = 1 + z/2! + z^2/3! + ... + z^9/10!, Horner from the top
    p = f(1 / 362880) + z * p
    p = f(1 / 40320) + z * p
    p = f(1 / 5040) + z * p
    p = f(1 / 720) + z * p
    p = f(1 / 120) + z * p
    p = f(1 / 24) + z * p
    p = f(1 / 6) + z * p
    p = f(1 / 2) + z * p
    p = f(1) + z * p
    m = z * p
    for _ in range(3):
        m = m * (m + f(2))
    t = -m / (m + f(2))
    if a < f(1e-6):                        # a itself (tanh(a) = a to float32 precision), also for subnormals
        t = a
    return f(math.copysign(t, x))


def tanh_in_its_precision(x):
    """tanh(x), for compiled code: `tanh_float32_by_arithmetic` for a float32 x, `tanh_by_arithmetic` for
    anything else. Which one is chosen when the calling loop is compiled for its arrays' dtype (Numba's
    `overload`, below), so a float32 LSTM is computed in float32 and a float64 one (gradcheck) in float64."""
    return math.tanh(x)


@overload(tanh_in_its_precision)
def _tanh_for_the_type(x):
    if x == types.float32:
        return lambda x: tanh_float32_by_arithmetic(x)
    return lambda x: tanh_by_arithmetic(x)


@njit(error_model="numpy")
def _sigmoid(z):
    """sigmoid(z) = (1 + tanh(z/2)) / 2, in z's precision (a float32 1/2 keeps float32 in float32)."""
    half = np.float32(0.5)
    return half + half * tanh_in_its_precision(half * z)


@njit(error_model="numpy")
def _cell_forward(gates, before, now, hidden):
    """One row of one step: gates (4H,) holds the pre-activations [i, f, g, o] and receives the activations;
    before (2H,) is [h_{t-1}, c_{t-1}]; now (2H,) receives [h_t, c_t] = [o tanh(c_t), f c_{t-1} + i g].

    One loop per kind of element, each starting at 0: a loop that writes two places of one row (say
    gates[2H + j] and gates[3H + j]) or starts elsewhere is not turned into vector instructions by the
    compiler (measured: 108 against 17 microseconds for the benchmark's step)."""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    for j in range(2 * hidden):                                   # i and f
        gates[j] = _sigmoid(gates[j])
    for j in range(hidden):
        gates[2 * hidden + j] = tanh_in_its_precision(gates[2 * hidden + j])
    for j in range(hidden):
        gates[3 * hidden + j] = _sigmoid(gates[3 * hidden + j])
    rounded = now.dtype.type                                      # c_t as stored, so that h_t uses the same c_t
    for j in range(hidden):
        c = rounded(gates[hidden + j] * before[hidden + j] + gates[j] * gates[2 * hidden + j])
        now[hidden + j] = c
        now[j] = gates[3 * hidden + j] * tanh_in_its_precision(c)
    # END SOLUTION


@njit(nogil=True, cache=True, error_model="numpy")
def _forward_rows(gemm, acts, hc_before, w_hh_t, hc, lo, hi):
    """Rows lo:hi of the batch through every step. acts (T, B, 4H) holds x_proj on entry and the activated
    gates on return; hc (T, B, 2H) receives [h_t, c_t]; hc_before (B, 2H) is [h0, c0]."""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    steps, hidden = acts.shape[0], hc.shape[2] // 2
    one = acts.dtype.type(1)
    for t in range(steps):
        before = hc_before if t == 0 else hc[t - 1]           # [h_{t-1}, c_{t-1}] (B, 2H)
        # acts[t] += h_{t-1} W_hh^T for the part's rows: h_{t-1} is the first H columns of rows 2H long
        gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, hi - lo, 4 * hidden, hidden, one, before[lo:].ctypes.data,
             2 * hidden, w_hh_t.ctypes.data, 4 * hidden, one, acts[t, lo:].ctypes.data, 4 * hidden)
        for b in range(lo, hi):
            _cell_forward(acts[t, b], before[b], hc[t, b], hidden)
    # END SOLUTION


@njit(nogil=True, cache=True, error_model="numpy")
def _backward_rows(gemm, g, hc, hc_before, acts, tanh_c, w_hh, dgates, dh, dc, lo, hi):
    """Rows lo:hi of the batch back through every step, t = T-1 .. 0: dgates (T, B, 4H) of every step; dh, dc
    (B, H) hold the carries (zeros on entry) and leave with the gradients of h0, c0. The cell's backward:
        dh_total = g_h + dh;   dc_total = g_c + dc + dh_total o (1 - tanh(c)^2);   d_i = dc_total g i (1 - i)
        d_f = dc_total c_prev f (1 - f);   d_g = dc_total i (1 - g^2);   d_o = dh_total tanh(c) o (1 - o)
        dc <- dc_total f;   dh <- dgates_t W_hh"""
    # BEGIN SOLUTION lstm-cell  (optional) the compiled form of the cell's arithmetic
    steps, hidden = acts.shape[0], dh.shape[1]
    one, zero = dh.dtype.type(1), dh.dtype.type(0)
    for t in range(steps - 1, -1, -1):
        before = hc_before if t == 0 else hc[t - 1]
        gates, grads, grad_t, tanh_c_t = acts[t], dgates[t], g[t], tanh_c[t]
        for b in range(lo, hi):
            for j in range(hidden):
                input_gate, forget_gate = gates[b, j], gates[b, hidden + j]
                candidate, output_gate = gates[b, 2 * hidden + j], gates[b, 3 * hidden + j]
                dh_total = grad_t[b, j] + dh[b, j]
                dc_total = grad_t[b, hidden + j] + dc[b, j] + dh_total * output_gate * (
                    one - tanh_c_t[b, j] * tanh_c_t[b, j])
                grads[b, j] = dc_total * candidate * input_gate * (one - input_gate)
                grads[b, hidden + j] = dc_total * before[b, hidden + j] * forget_gate * (one - forget_gate)
                grads[b, 2 * hidden + j] = dc_total * input_gate * (one - candidate * candidate)
                grads[b, 3 * hidden + j] = dh_total * tanh_c_t[b, j] * output_gate * (one - output_gate)
                dc[b, j] = dc_total * forget_gate
        # dh = dgates_t W_hh for the part's rows
        gemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, hi - lo, hidden, 4 * hidden, one, grads[lo:].ctypes.data,
             4 * hidden, w_hh.ctypes.data, hidden, zero, dh[lo:].ctypes.data, hidden)
    # END SOLUTION


def _run_parts(function, arguments, steps, batch, hidden, itemsize):
    """function(*arguments, lo, hi) for the batch's parts: one per free core, ROWS_PER_PART rows at least, run
    at the same time on OpenBLAS's threads (blas_threads.py). One part (the whole batch, with BLAS's threads
    inside each step's product) where the T products (B, H) @ (H, 4H) are small together, or where W_hh is
    too large for the parts to share (ROW_PARTS_MAX_WEIGHT_BYTES)."""
    threads = blas_threads()
    parts = 1
    if 4 * hidden * hidden * itemsize <= ROW_PARTS_MAX_WEIGHT_BYTES:
        parts = threads.parts_for(2 * steps * batch * hidden * 4 * hidden, batch // ROWS_PER_PART)
    if parts == 1:
        threads.for_product((batch, hidden), (hidden, 4 * hidden))     # each step's product on BLAS's threads
    threads.run_parts(function, [arguments + (lo, hi) for lo, hi in shares(batch, parts)])


def compiled_forward(x_proj, h0, c0, w_hh):
    """`steps_forward` for numpy arrays: the batch's parts through the whole sequence, each one compiled call.
    x_proj's memory is reused for the activated gates when it is a float array of the right layout."""
    gemm = compiled_blas.gemm_for(x_proj.dtype)
    if gemm is None or 0 in x_proj.shape:        # no BLAS to call from compiled code, or nothing to loop over
        from . import get_backend
        return steps_forward(get_backend("cpu"), x_proj, h0, c0, w_hh)
    steps, batch, hidden = x_proj.shape[0], x_proj.shape[1], x_proj.shape[2] // 4
    dtype = x_proj.dtype
    acts = x_proj if x_proj.flags.c_contiguous and x_proj.flags.writeable else np.array(x_proj, order="C")
    hc = np.empty((steps, batch, 2 * hidden), dtype=dtype)
    hc_before = np.concatenate([h0, c0], axis=1).astype(dtype, copy=False)
    w_hh_t = np.ascontiguousarray(w_hh.T, dtype=dtype)
    _run_parts(_forward_rows, (gemm, acts, hc_before, w_hh_t, hc), steps, batch, hidden, dtype.itemsize)
    return hc, acts


def compiled_backward(g, hc, acts, c0, w_hh):
    """`steps_backward` for numpy arrays: the batch's parts back through the whole sequence, compiled."""
    gemm = compiled_blas.gemm_for(acts.dtype)
    if gemm is None or 0 in acts.shape:
        from . import get_backend
        return steps_backward(get_backend("cpu"), g, hc, acts, c0, w_hh)
    steps, batch, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 4
    dtype = acts.dtype
    g, hc, acts = (np.ascontiguousarray(a, dtype=dtype) for a in (g, hc, acts))
    w_hh = np.ascontiguousarray(w_hh, dtype=dtype)
    tanh_c = np.tanh(hc[:, :, hidden:])                      # tanh(c_t) of every step, in one numpy call
    hc_before = np.zeros((batch, 2 * hidden), dtype=dtype)   # [h, c] before step 0: only its c0 half is read
    hc_before[:, hidden:] = c0
    dgates = np.empty_like(acts)
    dh = np.zeros((batch, hidden), dtype=dtype)              # the carries: gradients into h_{t-1} and c_{t-1}
    dc = np.zeros((batch, hidden), dtype=dtype)
    _run_parts(_backward_rows, (gemm, g, hc, hc_before, acts, tanh_c, w_hh, dgates, dh, dc), steps, batch,
               hidden, dtype.itemsize)
    return dgates, dh, dc
