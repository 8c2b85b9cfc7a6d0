"""The "cuda" backend: CuPy arrays, with the hot ops running our own kernels from kernels/.

It implements exactly the table of `NumpyBackend` (same methods, same arguments,
same results). Each hot op launches one of the Numba CUDA kernels in kernels/, or,
where CuPy's own implementation is the better choice, calls CuPy; `choose(op,
"ours" | "cupy")` switches one op. The defaults are ours everywhere except matmul,
where cuBLAS (through CuPy) stays the default and our tiled kernel is selectable.

The same class also runs with numpy arrays under Numba's CUDA simulator
(`CudaBackend(xp=numpy)`): that is how the tests run every kernel, and every layer
on the "cuda" device, on a machine without a GPU.
"""
import numpy as np

from .numpy_backend import NumpyBackend

CHOOSABLE = ("elementwise", "reduce", "matmul", "softmax", "cross_entropy", "im2col", "pool", "layer_norm",
             "lstm_cell", "attention")

# Block sizes for running under the CUDA simulator, which runs every thread as a Python
# thread: tiny blocks keep it fast, and still cross block boundaries on tiny shapes.
SIMULATOR_LAUNCH = {
    "elementwise": dict(threads=8), "reduce": dict(threads=8), "softmax": dict(threads=8),
    "cross_entropy": dict(threads=8), "matmul": dict(threads=2), "im2col": dict(threads_per_block=8),
    "pool": dict(threads=8), "layer_norm": dict(threads=8),
    "lstm_cell": dict(threads_per_block=(4, 2)), "lstm_sequence": dict(threads=4),
    "attention": dict(block_q=4, block_k=4),
}


# A program that never reads from the device still has its data checks run this often (check_later).
MAX_PENDING_CHECKS = 100


class CudaBackend(NumpyBackend):
    name = "cuda"

    def __init__(self, xp=None, use_cupy_for=("matmul",), launch=None):
        if xp is None:
            import cupy as xp
        from tinygrad_edu.kernels import (attention, cross_entropy, elementwise, im2col, layer_norm, lstm_cell, matmul,
                                          pool, reduce, softmax)
        self.xp = xp
        self.array_type = xp.ndarray
        self.on_gpu = getattr(xp, "__name__", "") == "cupy"   # else simulated: numpy, or simulated_device.xp
        self.k = dict(attention=attention, cross_entropy=cross_entropy, elementwise=elementwise, im2col=im2col,
                      layer_norm=layer_norm, lstm_cell=lstm_cell, matmul=matmul, pool=pool, reduce=reduce,
                      softmax=softmax)
        self.launch = {name: {} for name in CHOOSABLE}
        self.launch.update(launch or {})
        self.use_cupy = set()
        self.pending_checks = []          # see check_later
        for op in use_cupy_for:
            self.choose(op, "cupy")

    def choose(self, op, implementation):
        """Run hot op `op` with "ours" (our kernel) or "cupy" (CuPy's implementation)."""
        if op not in CHOOSABLE or implementation not in ("ours", "cupy"):
            raise ValueError(f"choose: op must be one of {CHOOSABLE} and implementation 'ours' or 'cupy', "
                             f"got {op!r}, {implementation!r}")
        (self.use_cupy.add if implementation == "cupy" else self.use_cupy.discard)(op)

    def _ours(self, op, *arrays):
        """True when op should run our kernel: chosen, and every array is floating point."""
        return op not in self.use_cupy and all(a.dtype.kind == "f" for a in arrays)

    # ---- moving data -----------------------------------------------------------------------
    def asarray(self, data, dtype=None):
        if self.on_gpu:
            return self.xp.asarray(data, dtype=dtype)
        if isinstance(data, self.array_type) and self.array_type is not np.ndarray:
            return self.xp.asarray(data, dtype=dtype)      # already on the (counted, simulated) device
        # simulated: a host-to-device copy never shares memory with its source
        return self.xp.asarray(NumpyBackend.asarray(self, data, dtype).copy())

    # ---- checks of the data, without waiting for the device ----------------------------------
    def check_later(self, check):
        """Run `check()` (it reads device data and raises on bad data) the next time Python waits for the device.

        Reading device data from Python is a synchronisation: the GPU's queue drains and the GPU
        idles until Python sends more work. A check of the targets in every training step would
        cost one such wait per step. So the check waits in `pending_checks` until the program
        reads something from the device anyway (`loss.item()`, printing, `.numpy()`,
        `tg.cuda.synchronize()`), and runs there; its error names the op that queued it. A
        program that never reads anything still gets its checks run every MAX_PENDING_CHECKS.
        """
        self.pending_checks.append(check)
        if len(self.pending_checks) >= MAX_PENDING_CHECKS:
            self.run_pending_checks()

    def run_pending_checks(self):
        """Run (and forget) every check queued by check_later, oldest first."""
        while self.pending_checks:
            checks, self.pending_checks = self.pending_checks, []
            for check in checks:
                check()

    def to_numpy(self, array):
        if self.pending_checks:
            self.run_pending_checks()
        if self.on_gpu:
            return self.xp.asnumpy(array)
        if hasattr(array, "get"):                          # the counted simulated device (simulated_device.py)
            return array.get()
        return array.copy()  # device-to-host: a copy, as on a GPU

    def index_add(self, target, index, values):
        if not self.on_gpu:   # simulated: one scatter-add, like cupyx.scatter_add on a GPU
            self.xp.add.at(target, index, values)
            return
        import cupyx
        cupyx.scatter_add(target, index, values)

    def erf(self, x):
        if not self.on_gpu:
            return NumpyBackend.erf(self, x)
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(x)

    # ---- elementwise maps: kernels/elementwise.py --------------------------------------------
    def _unary(self, name, fallback, x):
        if self._ours("elementwise", x):
            return self.k["elementwise"].unary(name, x, xp=self.xp, **self.launch["elementwise"])
        return fallback(x)

    def _binary(self, name, fallback, a, b):
        a, b = self.xp.asarray(a), self.xp.asarray(b)
        if self._ours("elementwise", a, b) and a.dtype == b.dtype:
            return self.k["elementwise"].binary(name, a, b, xp=self.xp, **self.launch["elementwise"])
        return fallback(a, b)

    def neg(self, x):
        return self._unary("neg", self.xp.negative, x)

    def exp(self, x):
        return self._unary("exp", self.xp.exp, x)

    def log(self, x):
        return self._unary("log", self.xp.log, x)

    def sqrt(self, x):
        return self._unary("sqrt", self.xp.sqrt, x)

    def tanh(self, x):
        return self._unary("tanh", self.xp.tanh, x)

    def abs(self, x):
        return self._unary("abs", self.xp.abs, x)

    def relu(self, x):
        return self._unary("relu", lambda v: self.xp.maximum(v, 0), x)

    def sigmoid(self, x):
        return self._unary("sigmoid", lambda v: NumpyBackend.sigmoid(self, v), x)

    def relu_backward(self, y, g):
        return self._binary("relu_backward", lambda a, b: NumpyBackend.relu_backward(self, a, b), y, g)

    def gelu_tanh(self, x):
        """(y, None): our kernel recomputes tanh in the backward instead of storing it."""
        if self._ours("elementwise", x):
            return self._unary("gelu_tanh", None, x), None
        return NumpyBackend.gelu_tanh(self, x)

    def gelu_tanh_backward(self, x, t, g):
        if self._ours("elementwise", x, g) and x.dtype == g.dtype:
            return self.k["elementwise"].binary("gelu_tanh_backward", x, g, xp=self.xp, **self.launch["elementwise"])
        if t is None:                       # the forward ran our kernel, which does not keep tanh(u)
            t = NumpyBackend.gelu_tanh(self, x)[1]
        return NumpyBackend.gelu_tanh_backward(self, x, t, g)

    def add(self, a, b):
        return self._binary("add", self.xp.add, a, b)

    def sub(self, a, b):
        return self._binary("sub", self.xp.subtract, a, b)

    def mul(self, a, b):
        return self._binary("mul", self.xp.multiply, a, b)

    def div(self, a, b):
        return self._binary("div", self.xp.true_divide, a, b)

    def pow(self, a, b):
        return self._binary("pow", self.xp.power, a, b)

    def maximum(self, a, b):
        return self._binary("maximum", self.xp.maximum, a, b)

    def minimum(self, a, b):
        return self._binary("minimum", self.xp.minimum, a, b)

    # ---- reductions: kernels/reduce.py -------------------------------------------------------
    def _reduce(self, op, x, axis, keepdims):
        if self._ours("reduce", x) and x.size:
            return self.k["reduce"].reduce(x, axis, op, keepdims, xp=self.xp, **self.launch["reduce"])
        return getattr(x, op)(axis=axis, keepdims=keepdims)

    def sum(self, x, axis=None, keepdims=False):
        return self._reduce("sum", x, axis, keepdims)

    def max(self, x, axis=None, keepdims=False):
        return self._reduce("max", x, axis, keepdims)

    def min(self, x, axis=None, keepdims=False):
        return self._reduce("min", x, axis, keepdims)

    # ---- matmul: kernels/matmul.py (cuBLAS through CuPy by default) --------------------------
    def matmul(self, a, b):
        if self._ours("matmul", a, b) and a.dtype == b.dtype:
            return self.k["matmul"].matmul(a, b, xp=self.xp, **self.launch["matmul"])
        return self.xp.matmul(a, b)

    # ---- softmax family and cross-entropy: kernels/softmax.py, kernels/cross_entropy.py ------
    def softmax(self, x):
        if self._ours("softmax", x):
            return self.k["softmax"].softmax(x, xp=self.xp, **self.launch["softmax"])
        return NumpyBackend.softmax(self, x)

    def log_softmax(self, x):
        if self._ours("softmax", x):
            return self.k["softmax"].log_softmax(x, xp=self.xp, **self.launch["softmax"])
        return NumpyBackend.log_softmax(self, x)

    def softmax_backward(self, y, g):
        if self._ours("softmax", y, g):
            return self.k["softmax"].softmax_backward(y, g, xp=self.xp, **self.launch["softmax"])
        return NumpyBackend.softmax_backward(self, y, g)

    def log_softmax_backward(self, y, g):
        if self._ours("softmax", y, g):
            return self.k["softmax"].log_softmax_backward(y, g, xp=self.xp, **self.launch["softmax"])
        return NumpyBackend.log_softmax_backward(self, y, g)

    def cross_entropy(self, logits, target, ignore_index=-100, label_smoothing=0.0):
        if self._ours("cross_entropy", logits):
            return self.k["cross_entropy"].cross_entropy(logits, target, ignore_index, label_smoothing, xp=self.xp, **self.launch["cross_entropy"])
        return NumpyBackend.cross_entropy(self, logits, target, ignore_index, label_smoothing)

    def cross_entropy_mean(self, loss, target, ignore_index=-100):
        if self._ours("cross_entropy", loss):
            return self.k["cross_entropy"].cross_entropy_mean(loss, target, ignore_index, xp=self.xp,
                                                               **self.launch["cross_entropy"])
        return NumpyBackend.cross_entropy_mean(self, loss, target, ignore_index)

    def cross_entropy_mean_backward(self, dlogits, g, inverse_count):
        if self._ours("cross_entropy", dlogits):
            return self.k["cross_entropy"].cross_entropy_mean_backward(dlogits, g, inverse_count, xp=self.xp,
                                                                        **self.launch["cross_entropy"])
        return NumpyBackend.cross_entropy_mean_backward(self, dlogits, g, inverse_count)

    # ---- convolution: kernels/im2col.py ------------------------------------------------------
    def im2col(self, x, kernel_size, stride, padding, dilation):
        if self._ours("im2col", x):
            return self.k["im2col"].im2col(x, kernel_size, stride, padding, dilation, xp=self.xp, **self.launch["im2col"])
        return NumpyBackend.im2col(self, x, kernel_size, stride, padding, dilation)

    def col2im(self, cols, x_shape, kernel_size, stride, padding, dilation):
        if self._ours("im2col", cols):
            return self.k["im2col"].col2im(cols, x_shape, kernel_size, stride, padding, dilation, xp=self.xp, **self.launch["im2col"])
        return NumpyBackend.col2im(self, cols, x_shape, kernel_size, stride, padding, dilation)

    # ---- layer normalisation: kernels/layer_norm.py ------------------------------------------
    def layer_norm(self, x, weight, bias, eps):
        if self._ours("layer_norm", x):
            y, xhat, rstd = self.k["layer_norm"].layer_norm(x, weight, bias, eps, xp=self.xp,
                                                            **self.launch["layer_norm"])
            return y, xhat, rstd
        return NumpyBackend.layer_norm(self, x, weight, bias, eps)

    def layer_norm_backward(self, g, xhat, rstd, weight):
        if self._ours("layer_norm", g, xhat):
            return self.k["layer_norm"].layer_norm_backward(g, xhat, rstd, weight, xp=self.xp,
                                                            **self.launch["layer_norm"])
        return NumpyBackend.layer_norm_backward(self, g, xhat, rstd, weight)

    # ---- pooling: kernels/pool.py ------------------------------------------------------------
    def max_pool2d(self, padded, kernel_size, stride, out_hw):
        if self._ours("pool", padded):
            return self.k["pool"].max_pool2d(padded, kernel_size, stride, out_hw, xp=self.xp, **self.launch["pool"])
        return NumpyBackend.max_pool2d(self, padded, kernel_size, stride, out_hw)

    def max_pool2d_backward(self, g, padded, y, kernel_size, stride):
        if self._ours("pool", padded, g):
            return self.k["pool"].max_pool2d_backward(g, padded, y, kernel_size, stride, xp=self.xp,
                                                      **self.launch["pool"])
        return NumpyBackend.max_pool2d_backward(self, g, padded, y, kernel_size, stride)

    # ---- recurrent cell: kernels/lstm_cell.py ------------------------------------------------
    def lstm_cell_forward(self, gates, c_prev):
        if self._ours("lstm_cell", gates):
            return self.k["lstm_cell"].lstm_cell_forward(gates, c_prev, xp=self.xp, **self.launch["lstm_cell"])
        return NumpyBackend.lstm_cell_forward(self, gates, c_prev)

    def lstm_cell_backward(self, dh, dc, acts, c_prev, c):
        if self._ours("lstm_cell", acts):
            return self.k["lstm_cell"].lstm_cell_backward(dh, dc, acts, c_prev, c, xp=self.xp, **self.launch["lstm_cell"])
        return NumpyBackend.lstm_cell_backward(self, dh, dc, acts, c_prev, c)

    # ---- a whole LSTM layer's loop over time: kernels/lstm_sequence.py (on or off with "lstm_cell") -----
    def _sequence_kernels(self, arrays, hidden):
        """kernels/lstm_sequence.py when our LSTM kernels are chosen and the layer fits their shared memory."""
        from tinygrad_edu.kernels import lstm_sequence
        if self._ours("lstm_cell", *arrays) and lstm_sequence.fits(hidden, arrays[0].dtype):
            return lstm_sequence
        return None

    def lstm_sequence_forward(self, x_proj, h0, c0, w_hh):
        kernels = self._sequence_kernels((x_proj, h0, c0, w_hh), x_proj.shape[-1] // 4)
        if kernels is not None:
            return kernels.lstm_sequence_forward(x_proj, h0, c0, w_hh, xp=self.xp,
                                                 **self.launch.get("lstm_sequence", {}))
        return NumpyBackend.lstm_sequence_forward(self, x_proj, h0, c0, w_hh)

    def lstm_sequence_backward(self, g, hc, acts, c0, w_hh):
        kernels = self._sequence_kernels((acts, g, hc, c0, w_hh), acts.shape[-1] // 4)
        if kernels is not None:
            return kernels.lstm_sequence_backward(g, hc, acts, c0, w_hh, xp=self.xp,
                                                  **self.launch.get("lstm_sequence", {}))
        return NumpyBackend.lstm_sequence_backward(self, g, hc, acts, c0, w_hh)

    # ---- attention: kernels/attention.py -----------------------------------------------------
    def attention_forward(self, q, k, v, scale, causal=False, mask=None):
        if self._ours("attention", q):
            return self.k["attention"].attention_forward(q, k, v, scale, causal, mask, xp=self.xp, **self.launch["attention"])
        return NumpyBackend.attention_forward(self, q, k, v, scale, causal, mask)

    def attention_backward(self, q, k, v, out, lse, dout, scale, causal=False, mask=None):
        if self._ours("attention", q):
            return self.k["attention"].attention_backward(q, k, v, out, lse, dout, scale, causal, mask, xp=self.xp, **self.launch["attention"])
        return NumpyBackend.attention_backward(self, q, k, v, out, lse, dout, scale, causal, mask)

    # ---- optimizer steps: kernels/optimizer.py (one launch for all the parameters of a flat buffer) ----
    # Only this backend has them: optim/ looks for them with hasattr and otherwise runs whole-buffer array ops.
    def sgd_step(self, param, grad, momentum_buffer, **options):
        """SGD's update of flat 1-D arrays, in place, in one launch (options: kernels/optimizer.py sgd_step)."""
        from tinygrad_edu.kernels import optimizer
        optimizer.sgd_step(param, grad, momentum_buffer, xp=self.xp, **self.launch["elementwise"], **options)
        return True

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, **options):
        """Adam's/AdamW's update of flat 1-D arrays, in place, in one launch (kernels/optimizer.py adam_step)."""
        from tinygrad_edu.kernels import optimizer
        optimizer.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, xp=self.xp,
                            **self.launch["elementwise"], **options)
        return True
