"""A GPU that keeps score: the "cuda" device simulated on numpy arrays that count what a GPU would do.

Two costs decide how fast a training step runs on a GPU, and neither shows up on
the CPU:

* **Launches.** Every CuPy operation (`a + b`, `a.sum()`, `xp.where`, ...) and every
  one of our Numba kernels is one *kernel launch*: 5-100 microseconds of Python and
  driver work before the GPU starts. Hundreds of launches per step make a step slow
  however fast each kernel is.
* **Host synchronisations.** The GPU runs behind Python, in order, from a queue. The
  moment Python needs a value from the GPU (`float(loss)`, `bool(mask.any())`,
  `int(count)`, `array.get()`) it must wait until the queue has drained, and the GPU
  then idles until Python queues more work. One of those inside a training step
  costs the whole pipeline.

This module makes both visible without a GPU. `SimulatedDeviceArray` is a numpy array
that stands for GPU memory: every operation that would launch a kernel on CuPy adds
one to `COUNTERS.launches` (our own Numba kernels are counted by kernels/launch.py),
every conversion to a Python value or a host array adds one to `COUNTERS.to_host`, and
every copy of host data onto the device adds one to `COUNTERS.to_device`. `xp` is the
array module of this device: numpy's functions, returning device arrays.

    backend = CudaBackend(xp=simulated_device.xp)   # the "cuda" device, counted

The counts follow CuPy's rules closely, not exactly (CuPy fuses a few operations,
and some of its routines launch more than one kernel); they are for comparing
versions of our code, and for tests that say "no host synchronisation in a step".
"""
import numpy as np


class DeviceCounters:
    """What the simulated device did: kernel launches of array operations, device->host and host->device copies."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.launches = 0      # array operations that launch a kernel (CuPy's share of the work)
        self.to_host = 0       # device -> host: each one is a synchronisation on a real GPU
        self.to_device = 0     # host -> device copies

    def snapshot(self):
        return {"launches": self.launches, "to_host": self.to_host, "to_device": self.to_device}


COUNTERS = DeviceCounters()

# numpy functions that only look at shapes or make views: no kernel runs on a GPU.
_NO_LAUNCH = {np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.expand_dims, np.squeeze, np.broadcast_to,
              np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory, np.atleast_1d,
              np.atleast_2d, np.atleast_3d, np.broadcast_arrays, np.iscomplexobj, np.isrealobj, np.can_cast,
              np.empty_like, np.real, np.imag}


def _plain(value):
    """A device array as a plain numpy array (a view); lists and tuples of them likewise; anything else as is."""
    if isinstance(value, SimulatedDeviceArray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _on_device(value):
    """Results of device work are device arrays (CuPy returns 0-d arrays where numpy returns scalars)."""
    if isinstance(value, np.ndarray):
        return value if isinstance(value, SimulatedDeviceArray) else value.view(SimulatedDeviceArray)
    if isinstance(value, np.generic):
        return np.asarray(value).view(SimulatedDeviceArray)
    if isinstance(value, tuple):
        return tuple(_on_device(v) for v in value)
    if isinstance(value, list):
        return [_on_device(v) for v in value]
    return value


def _is_advanced_index(key):
    """True when indexing with `key` gathers (integer/boolean arrays or lists): a kernel on a GPU; slices are views."""
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (np.ndarray, list)) for k in keys)


class SimulatedDeviceArray(np.ndarray):
    """A numpy array standing for GPU memory (see the module docstring for what it counts)."""

    # ---- work on the device: one launch per operation ----------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        COUNTERS.launches += 1
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _on_device(result)

    def __array_function__(self, func, types, args, kwargs):
        if func not in _NO_LAUNCH:
            COUNTERS.launches += 1
        return _on_device(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))

    def __getitem__(self, key):
        if _is_advanced_index(key):
            COUNTERS.launches += 1
            key = _plain(key)
            if isinstance(key, np.ndarray) and key.dtype.kind in "iu" and self.shape[0]:
                key = key % self.shape[0]     # CuPy wraps indices that are out of range instead of raising
        return _on_device(np.ndarray.__getitem__(self.view(np.ndarray), key))

    def __setitem__(self, key, value):
        COUNTERS.launches += 1
        np.ndarray.__setitem__(self.view(np.ndarray), _plain(key), _plain(value))

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if copy or np.dtype(dtype) != self.dtype:
            COUNTERS.launches += 1
        return _on_device(self.view(np.ndarray).astype(dtype, order=order, casting=casting, copy=copy))

    def copy(self, order="C"):
        COUNTERS.launches += 1
        return _on_device(self.view(np.ndarray).copy(order=order))

    def fill(self, value):
        COUNTERS.launches += 1
        self.view(np.ndarray).fill(value)

    # ---- device -> host: each one waits for the GPU ----------------------------------------
    def _to_host(self):
        COUNTERS.to_host += 1
        return self.view(np.ndarray)

    def __bool__(self):
        return bool(self._to_host())

    def __int__(self):
        return int(self._to_host())

    def __float__(self):
        return float(self._to_host())

    def __index__(self):
        return self._to_host().__index__()

    def __complex__(self):
        return complex(self._to_host())

    def item(self, *args):
        return self._to_host().item(*args)

    def tolist(self):
        return self._to_host().tolist()

    def get(self):
        """CuPy's name for copying an array to the host."""
        return self._to_host().copy()


def _counted_method(name):
    method = getattr(np.ndarray, name)

    def counted(self, *args, **kwargs):
        COUNTERS.launches += 1
        return _on_device(method(self.view(np.ndarray), *_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))
    counted.__name__ = name
    counted.__doc__ = f"ndarray.{name}, counted as one kernel launch"
    return counted


# ndarray methods that compute without going through numpy's ufunc/function protocols.
for _name in ("argmax", "argmin", "argsort", "sort", "cumsum", "cumprod", "clip", "round", "dot", "nonzero",
              "repeat", "take", "put", "searchsorted", "trace", "diagonal", "flatten", "all", "any", "mean", "var",
              "std", "prod", "sum", "max", "min"):
    setattr(SimulatedDeviceArray, _name, _counted_method(_name))


class SimulatedArrayModule:
    """The simulated device's `xp`: numpy's functions, with results on the device and copies counted.

    Creating an array from host data (`xp.asarray(list_or_numpy_array)`) is a host->device
    copy; `xp.empty` only allocates; `xp.zeros`, `xp.ones`, `xp.full`, `xp.arange`, ... run a
    fill kernel. Ufuncs (`xp.exp`, `xp.add.at`, ...) are numpy's own: called on device arrays,
    they are counted by `SimulatedDeviceArray.__array_ufunc__`.
    """

    __name__ = "tinygrad_edu.simulated_device"
    ndarray = SimulatedDeviceArray
    _ALLOCATE = {"empty", "empty_like"}
    _FROM_HOST = {"asarray", "array", "ascontiguousarray", "asanyarray"}

    def __init__(self, module=np):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, (type, np.ufunc)) or not callable(value):
            if type(value).__name__ == "module":
                return SimulatedArrayModule(value)       # xp.random, xp.linalg
            return value                                  # dtypes, constants, ufuncs
        return self._wrap(name, value)

    def _wrap(self, name, function):
        def on_device(*args, **kwargs):
            if name in self._FROM_HOST:
                data = args[0] if args else kwargs.get("a", kwargs.get("object"))
                if not isinstance(data, SimulatedDeviceArray):
                    COUNTERS.to_device += 1
                    return _on_device(np.array(function(*args, **kwargs)))   # a copy: device memory is separate
                result = function(*_plain(args), **kwargs)
                if not np.shares_memory(result, data):
                    COUNTERS.launches += 1    # a copy or a cast on the device
                return _on_device(result)
            if name not in self._ALLOCATE and not any(isinstance(a, SimulatedDeviceArray) for a in args):
                COUNTERS.launches += 1        # zeros, ones, full, arange, eye, random draws: one fill kernel
            # (functions called on device arrays are counted by __array_function__ / __array_ufunc__)
            return _on_device(function(*args, **kwargs))
        on_device.__name__ = name
        return on_device


xp = SimulatedArrayModule()
