"""A whole LSTM layer's time loop in one kernel launch (forward), and one more (backward).

Why not one launch per step
---------------------------
An LSTM layer over T steps computes, for t = 0, 1, ..., T-1 (gate order i, f, g, o),

    gates_t = x_proj_t + h_{t-1} W_hh^T          x_proj = x W_ih^T + b_ih + b_hh, all T steps at once
    h_t, c_t = cell(gates_t, c_{t-1})              (lstm_cell.py: four activations, c and h)

The input projection x_proj does not depend on the recurrence, so it is ONE large
matrix product for the whole sequence (cuBLAS does that well). What remains is
sequential: step t needs h_{t-1}. Written step by step, each step is a small matrix
product plus a cell kernel, and its backward a cell-backward kernel, a matrix
product and a few array operations: about fifteen launches per step, so hundreds for
a sequence of 64. Each launch costs 5-100 microseconds of Python and driver work
(see launch.py), while the arithmetic of one step of the benchmark's layer (B 32,
H 128: two million multiply-adds) takes a GPU a few microseconds at most. The step
loop, not the GPU, sets the speed.

So here the loop over time runs *inside* the kernel: one launch for the forward pass
of the whole sequence, one for the backward pass, whatever T is.

Thread mapping: one block per batch row
---------------------------------------
The recurrence couples the hidden units of one batch row (every unit of h_t reads
all of h_{t-1}), but never two batch rows. So block b runs all T steps of row b on
its own, and its threads only ever wait for each other, never for another block
(blocks of one launch cannot wait for each other: there is no barrier between
blocks). Thread `tid` of a block of `threads` owns the hidden units tid,
tid + threads, tid + 2 threads, ...; for each it computes the four gates, as
lstm_cell.py does, with the same device functions (`cell_math`):

    z_q = x_proj[t, b, qH + j] + sum_k h_{t-1}[k] * W_hh^T[k, qH + j]      q = i, f, g, o

h_{t-1} sits in *shared memory*, the block's scratchpad: every thread reads all of
it, and reading it from there is much faster than from global memory. W_hh is passed
transposed, (H, 4H), so that at a given k the threads of a warp (neighbouring j) read
neighbouring addresses: coalesced loads. After its dot products a thread writes its
units of h_t; `cuda.syncthreads()` then makes sure all of h_t is there before any
thread starts step t + 1. Two halves of the shared array hold h_{t-1} and h_t and
swap roles every step (double buffering): a thread that is already writing h_{t+1}
writes into the half that held h_{t-1}, which nobody reads any more, so one barrier
per step is enough.

The backward pass walks t = T-1, ..., 0 with the same mapping. It carries dh and dc,
the gradients flowing from step t + 1 into h_t and c_t, and per step:

    dgates_t, dc_{t-1} = cell_backward(g_h[t] + dh, g_c[t] + dc)      (g: the gradient of the outputs)
    dh = dgates_t W_hh                              dh_{t-1}[k] = sum_m dgates_t[m] * W_hh[m, k]

dgates_t (4H numbers) goes to shared memory, because every unit k of dh_{t-1} needs
all of it; reading W_hh in its own (4H, H) layout, at a given m neighbouring threads
again read neighbouring addresses. Thread tid owns the same units j in both halves
of a step, so the carries dh[b, j] and dc[b, j] are written and read by the same
thread: they live in the outputs dh0 and dc0, which after step 0 hold exactly the
gradients of h0 and c0. The weight gradients are not computed here: with dgates of
every step in hand they are single large matrix products (ops/lstm.py).

What limits it, and what a persistent kernel is
------------------------------------------------
A kernel that stays on the GPU for a whole loop, instead of being launched once per
iteration, is called *persistent*. Ours is persistent per batch row: each block keeps
its row's h in shared memory through all T steps. What limits it is that the loop is
sequential, so a step's latency, not the GPU's throughput, sets the speed: each step
every block streams all of W_hh (4H x H numbers; 256 KB in float32 for H = 128) from
the L2 cache, and only B blocks run (32 in the benchmark, on a GPU with over a hundred
multiprocessors, most of them idle). Two well-known improvements: give a block a few
batch rows, so each value of W_hh read serves several rows; and the persistent RNN
of Diamos et al. (2016), which splits the hidden units over many blocks, keeps each
block's slice of W_hh in its registers and shared memory for the whole sequence, and
synchronises all blocks once per step with a grid-wide barrier (a cooperative
launch). That removes the weight traffic, at the price of a kernel tied to the GPU's
size and a much harder one to read. Ours keeps the simplest mapping that removes the
launch overhead, and reuses the cell's arithmetic unchanged.

Shared memory is allocated when launching (`shared_bytes`, "dynamic" shared memory,
`cuda.shared.array(0, ...)`), since its size depends on H: 2H numbers forward, 8H
backward (dgates_t, double-buffered). A block may use 48 KB, so `fits` says whether
a layer is small enough (H <= 1536 in float32); the backend runs larger ones step by
step.
"""
import functools

import numpy as np
from numba import cuda

from .elementwise import float_dtype
from .launch import launch
from .lstm_cell import cell_math

DEFAULT_THREADS = 128           # threads per block (one block per batch row)
MAX_SHARED_BYTES = 48 * 1024    # dynamic shared memory a block may use without opting in to more


def fits(hidden, dtype):
    """Whether a layer of `hidden` units in `dtype` fits the kernels' shared memory (the backward's 8H numbers)."""
    return 8 * hidden * np.dtype(dtype).itemsize <= MAX_SHARED_BYTES


@functools.lru_cache(maxsize=None)
def _sequence_kernels(dtype):
    """The (forward, backward) kernels for one dtype."""
    cell_forward, cell_backward = cell_math(dtype)
    zero = np.dtype(dtype).type(0)

    @cuda.jit(cache=True)
    def forward_kernel(x_proj, h0, c0, w_hh_t, hc, acts):
        """Block b runs all T steps of batch row b; thread tid owns the hidden units tid, tid + threads, ..."""
        steps, hidden = x_proj.shape[0], h0.shape[1]
        b, tid, threads = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
        h_shared = cuda.shared.array(0, dtype=x_proj.dtype)   # 2H: h_{t-1} in one half, h_t in the other
        for j in range(tid, hidden, threads):
            h_shared[j] = h0[b, j]
        cuda.syncthreads()
        for t in range(steps):
            read = (t % 2) * hidden          # where h_{t-1} is
            write = hidden - read            # where h_t goes
            for j in range(tid, hidden, threads):
                z_i = x_proj[t, b, j]
                z_f = x_proj[t, b, hidden + j]
                z_g = x_proj[t, b, 2 * hidden + j]
                z_o = x_proj[t, b, 3 * hidden + j]
                for k in range(hidden):      # + h_{t-1} W_hh^T, for the four gates of unit j
                    h_k = h_shared[read + k]
                    z_i += h_k * w_hh_t[k, j]
                    z_f += h_k * w_hh_t[k, hidden + j]
                    z_g += h_k * w_hh_t[k, 2 * hidden + j]
                    z_o += h_k * w_hh_t[k, 3 * hidden + j]
                c_prev = c0[b, j] if t == 0 else hc[t - 1, b, hidden + j]
                input_gate, forget_gate, candidate, output_gate, c, h = cell_forward(z_i, z_f, z_g, z_o, c_prev)
                acts[t, b, j] = input_gate
                acts[t, b, hidden + j] = forget_gate
                acts[t, b, 2 * hidden + j] = candidate
                acts[t, b, 3 * hidden + j] = output_gate
                hc[t, b, j] = h
                hc[t, b, hidden + j] = c
                h_shared[write + j] = h
            cuda.syncthreads()               # all of h_t is written before step t + 1 reads it

    @cuda.jit(cache=True)
    def backward_kernel(g, hc, acts, c0, w_hh, dgates, dh, dc):
        """Block b walks batch row b from the last step to the first; dh, dc (B, H) carry the gradients into
        h_{t-1} and c_{t-1} (zeros on entry) and end as the gradients of h0 and c0."""
        steps, hidden = g.shape[0], c0.shape[1]
        b, tid, threads = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
        dgates_shared = cuda.shared.array(0, dtype=g.dtype)   # 8H: dgates_t in one half, dgates_{t-1} in the other
        for t in range(steps - 1, -1, -1):
            start = (t % 2) * 4 * hidden
            for j in range(tid, hidden, threads):
                c_prev = c0[b, j] if t == 0 else hc[t - 1, b, hidden + j]
                d_i, d_f, d_g, d_o, d_c_prev = cell_backward(
                    g[t, b, j] + dh[b, j], g[t, b, hidden + j] + dc[b, j],
                    acts[t, b, j], acts[t, b, hidden + j], acts[t, b, 2 * hidden + j], acts[t, b, 3 * hidden + j],
                    c_prev, hc[t, b, hidden + j])
                dgates[t, b, j] = dgates_shared[start + j] = d_i
                dgates[t, b, hidden + j] = dgates_shared[start + hidden + j] = d_f
                dgates[t, b, 2 * hidden + j] = dgates_shared[start + 2 * hidden + j] = d_g
                dgates[t, b, 3 * hidden + j] = dgates_shared[start + 3 * hidden + j] = d_o
                dc[b, j] = d_c_prev
            cuda.syncthreads()               # all of dgates_t is in shared memory before it is read
            for k in range(tid, hidden, threads):
                total = zero                 # dh_{t-1}[k] = dgates_t . column k of W_hh
                for m in range(4 * hidden):
                    total += dgates_shared[start + m] * w_hh[m, k]
                dh[b, k] = total

    return forward_kernel, backward_kernel


def _check_shapes(name, arrays, shapes):
    for key, array in arrays.items():
        if tuple(array.shape) != shapes[key]:
            raise ValueError(f"{name}: {key} should have shape {shapes[key]}, got {tuple(array.shape)}")


def lstm_sequence_forward(x_proj, h0, c0, w_hh, *, xp=np, threads=DEFAULT_THREADS):
    """The recurrence of one LSTM layer over all T steps, in one launch -> (hc, acts).

    x_proj (T, B, 4H): x_t W_ih^T + b_ih + b_hh for every step; h0, c0 (B, H); w_hh (4H, H).
    hc (T, B, 2H): h_t and c_t side by side on the last axis; acts (T, B, 4H): the
    activated gates i, f, g, o of every step, saved for the backward pass.
    Computed in the dtype of x_proj. xp: the array module (numpy under the simulator,
    cupy on a GPU). threads: threads per block, one block per batch row.
    """
    if x_proj.ndim != 3 or x_proj.shape[2] % 4:
        raise ValueError(f"lstm sequence: x_proj should have shape (T, B, 4H), got {tuple(x_proj.shape)}")
    dtype = float_dtype(x_proj)
    steps, batch, hidden = x_proj.shape[0], x_proj.shape[1], x_proj.shape[2] // 4
    _check_shapes("lstm sequence", {"h0": h0, "c0": c0, "w_hh": w_hh},
                  {"h0": (batch, hidden), "c0": (batch, hidden), "w_hh": (4 * hidden, hidden)})
    if not fits(hidden, dtype):
        raise ValueError(f"lstm sequence: {hidden} hidden units in {np.dtype(dtype)} need more shared memory than "
                         f"{MAX_SHARED_BYTES} bytes; run the layer step by step")
    x_proj, h0, c0 = (xp.ascontiguousarray(a, dtype=dtype) for a in (x_proj, h0, c0))
    w_hh_t = xp.ascontiguousarray(w_hh.T, dtype=dtype)         # (H, 4H): coalesced reads along the gates
    hc = xp.empty((steps, batch, 2 * hidden), dtype=dtype)
    acts = xp.empty((steps, batch, 4 * hidden), dtype=dtype)
    if steps and batch and hidden:
        forward_kernel, _ = _sequence_kernels(dtype)
        launch(forward_kernel, batch, threads, x_proj, h0, c0, w_hh_t, hc, acts,
               shared_bytes=2 * hidden * np.dtype(dtype).itemsize)
    return hc, acts


def lstm_sequence_backward(g, hc, acts, c0, w_hh, *, xp=np, threads=DEFAULT_THREADS):
    """The reverse-time loop of one LSTM layer, in one launch -> (dgates (T, B, 4H), dh0 (B, H), dc0 (B, H)).

    g (T, B, 2H): the gradient of hc; hc, acts as returned by lstm_sequence_forward;
    c0 (B, H) and w_hh (4H, H) as given to it. dgates is w.r.t. the gate
    pre-activations of every step. xp and threads as for lstm_sequence_forward.
    """
    if acts.ndim != 3 or acts.shape[2] % 4:
        raise ValueError(f"lstm sequence: acts should have shape (T, B, 4H), got {tuple(acts.shape)}")
    dtype = float_dtype(acts)
    steps, batch, hidden = acts.shape[0], acts.shape[1], acts.shape[2] // 4
    _check_shapes("lstm sequence", {"g": g, "hc": hc, "c0": c0, "w_hh": w_hh},
                  {"g": (steps, batch, 2 * hidden), "hc": (steps, batch, 2 * hidden), "c0": (batch, hidden),
                   "w_hh": (4 * hidden, hidden)})
    if not fits(hidden, dtype):
        raise ValueError(f"lstm sequence: {hidden} hidden units in {np.dtype(dtype)} need more shared memory than "
                         f"{MAX_SHARED_BYTES} bytes; run the layer step by step")
    g, hc, acts, c0, w_hh = (xp.ascontiguousarray(a, dtype=dtype) for a in (g, hc, acts, c0, w_hh))
    dgates = xp.empty((steps, batch, 4 * hidden), dtype=dtype)
    dh = xp.zeros((batch, hidden), dtype=dtype)
    dc = xp.zeros((batch, hidden), dtype=dtype)
    if steps and batch and hidden:
        _, backward_kernel = _sequence_kernels(dtype)
        launch(backward_kernel, batch, threads, g, hc, acts, c0, w_hh, dgates, dh, dc,
               shared_bytes=8 * hidden * np.dtype(dtype).itemsize)
    return dgates, dh, dc
