"""`Optimizer`: the base class that holds parameter groups and per-parameter state.

An optimizer is given the parameters to train, either as an iterable of tensors

    opt = SGD(model.parameters(), lr=0.1)

or as an iterable of dicts ("parameter groups"), each with its own options that
override the optimizer's defaults:

    opt = SGD([{"params": body.parameters()},
               {"params": head.parameters(), "lr": 1e-2}], lr=1e-3, momentum=0.9)

`opt.param_groups` is then a list of dicts, each holding "params" (a list of
tensors) and every option; `opt.state` maps a parameter to a dict of its
buffers (momentum, running averages, step count).

Subclasses write only `step()`. Updates are plain array arithmetic on `p.array`
and `p.grad.array` with the parameter's array module `xp` (numpy on "cpu", CuPy
on "cuda"), so no autograd graph is built and the optimizer never imports numpy.
Two rules keep that safe:
  * `p.array` is updated in place, so a parameter keeps its identity (and any
    view of it taken by a module stays valid);
  * `p.grad.array` is never written to: gradients of different parameters may be
    the very same array (autograd hands the same array to both inputs of an add).

Updating every parameter at once: flat buffers (multi-tensor apply)
-------------------------------------------------------------------
Written per parameter, an Adam step is about 14 array operations for *each*
parameter tensor: on a GPU 14 kernel launches each, on the CPU 14 numpy calls each,
however small the tensor. SGD, Adam and AdamW can instead update all of a group's
parameters together, as PyTorch's `foreach=True` / `fused=True` do:

  * when it is made, the optimizer moves the parameters of each group that share a
    device and dtype into one flat array (a `_Bucket`), and rebinds each parameter's
    `.array` to a view of its stretch (the values do not change; from then on the
    parameter keeps that array, updated in place). It moves a parameter only when
    nothing else refers to its memory (no graph has saved it, nobody holds
    `p.numpy()` or a view of it, no other tensor shares it; counted by references),
    so the move changes nothing anyone could see; the others are tried again at
    each step, and are updated one at a time until then;
  * it registers for each parameter a slot in a flat gradient array
    (autograd.GRAD_SLOTS): backward copies the first gradient into the slot instead
    of a fresh array (the copy it always made) and adds later ones there, in place;
  * its state (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer) lives in flat
    arrays of the same layout; `opt.state[p]` holds views of them, so state_dict()
    and load_state_dict() see per-parameter tensors exactly as before;
  * then every run of neighbouring parameters whose `.grad` *is* its slot (checked by
    identity on the host: no device work, no waiting) and whose step counts agree is
    updated as one flat tensor: the same code as for one parameter, run once over
    the flat arrays (a few whole-buffer numpy calls on the CPU), or on "cuda" one
    launch of kernels/optimizer.py for all of them.

Everything else falls back to the per-parameter update, which stays the definition:
a parameter without a gradient is skipped (and splits the run), a gradient the user
assigned or replaced, clipped gradients (clip_grad_norm_ replaces the arrays), a
parameter given a new array (model.to(...), p.data = ...: it leaves its flat buffer
and is moved into a new one when it can be), or managed by another live optimizer.
A gradient handed out before and still held (`old = p.grad`, `p.grad.numpy()`) is
never overwritten: a slot is reused only when nothing else refers to its memory (as
PyTorch's AccumulateGrad decides, by references). One consequence to know: all of a
bucket's parameters share one memory, so an in-place write to one counts, for the
"modified by an inplace operation" check, as a write to that memory (conservative:
it can refuse, never give a wrong gradient). `foreach=False` keeps the
per-parameter path and the parameters' own arrays.
"""
import sys
import weakref

from ..autograd import GRAD_SLOTS, enable_grad, memory_id
from ..tensor import Tensor


class Optimizer:
    """Base class: parameter groups, `zero_grad`, `state_dict` / `load_state_dict`.

    `defaults` is the dict of options (lr, momentum, ...) that each parameter
    group gets unless the group sets its own.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}          # parameter -> dict of its buffers (Tensors) and counters (numbers)
        self.param_groups = []
        self._flat_mode = None   # None: per parameter; "foreach" / "fused" / "auto": flat buffers (_set_fusion)
        self._flat = {}          # id(group) -> _GroupFlat: the group's flat buffers
        self._places = {}        # id(parameter) -> (its _Bucket, its index there)
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or of dicts, but got "
                            f"a single Tensor of shape {params.shape}; wrap it in a list: [tensor]")
        if isinstance(params, dict):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or of dicts; for a "
                            f"single parameter group pass a list holding the dict: [{{'params': ...}}]")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; did model.parameters() find "
                             f"no parameters, or was the generator already used up?")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- parameter groups ------------------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a dict {"params": tensors, option: value, ...}; missing options take the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' key, got "
                            f"{type(param_group).__name__} (mixing tensors and dicts in one list is not allowed)")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' key, got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be given in a fixed order (a list), not as a set")
        else:
            params = list(params)
        if not params:
            raise ValueError(f"{name}: a parameter group has an empty 'params' list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} of the group is a "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (parameter {i}, shape {p.shape}, made "
                                 f"by {p.grad_fn!r}); optimize the leaf it was computed from, or .detach() it and "
                                 f"set requires_grad=True")
            if not p.requires_grad:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) does not require grad, so it would "
                                 f"never be updated; set requires_grad=True or leave it out, e.g. "
                                 f"[p for p in model.parameters() if p.requires_grad]")
            if p.array.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only floating-point tensors can be "
                                f"optimized")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group lists the same parameter more than once")
        group["params"] = params
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check_options(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)
        if self._flat_mode is not None:
            self._flat_group(group)

    def _check_options(self, group):
        """Raise a clear error for an invalid option value; subclasses check their own options."""
        lr = group.get("lr")
        if lr is not None and not lr >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate lr={lr}; it must be >= 0")
        wd = group.get("weight_decay")
        if wd is not None and not wd >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay={wd}; it must be >= 0")

    def _set_fusion(self, foreach, fused):
        """PyTorch's `foreach` / `fused` options: how step() updates the parameters (see the module docstring).

        foreach=False: one parameter at a time (the definition). fused=True: flat buffers, one kernel launch
        where the device has the kernel ("cuda"). foreach=True: flat buffers updated by whole-buffer array
        operations. Both None (the default): fused where the device has the kernel, else foreach. On the
        CPU fused and foreach are the same whole-buffer numpy operations."""
        name = type(self).__name__
        if fused and foreach:
            raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")
        self.foreach, self.fused = foreach, fused
        if fused:
            self._flat_mode = "fused"
        elif foreach:
            self._flat_mode = "foreach"
        elif foreach is False:
            self._flat_mode = None
        else:
            self._flat_mode = "foreach" if fused is False else "auto"
        if self._flat_mode is not None:
            for group in self.param_groups:
                self._flat_group(group)

    def _updates(self, group, stateful=True):
        """What step() updates, as pairs (p, state): p a parameter with a gradient and state its dict in
        self.state (None when not `stateful`), or p a run of neighbouring parameters of one flat buffer,
        as one flat Tensor (its .grad the run's stretch of the flat gradients) and state a _RunState.

        Every parameter yielded, alone or in a run, is about to change in place: its version moves on."""
        if self._flat_mode is None:
            for p in self._params_with_grad(group):
                yield p, (self.state.setdefault(p, {}) if stateful else None)
            return
        flat = self._flat_group(group)
        for p in flat.waiting:
            if p.grad is not None:
                self._check_grad(p)
                self._changing(p)
                yield p, (self.state.setdefault(p, {}) if stateful else None)
        for bucket in flat.buckets:
            params = bucket.params
            i, n = 0, len(params)
            while i < n:
                p = params[i]
                if p is None or p.grad is None:    # no longer in this buffer, or no gradient
                    i += 1
                    continue
                key = self._run_key(bucket, i)
                if key is None:                    # this one goes alone, by the per-parameter path
                    self._check_grad(p)
                    self._changing(p)
                    yield p, (self._adopted_state(bucket, i) if stateful else None)
                    i += 1
                    continue
                j = i + 1
                while (j < n and params[j] is not None and params[j].grad is not None
                       and self._run_key(bucket, j) == key):
                    j += 1
                for k in range(i, j):
                    self._changing(params[k])
                yield bucket.run(self, i, j, key)
                i = j

    def _run_key(self, bucket, i):
        """None unless parameter i's .grad is its slot of the flat gradients; else what a run must share: its
        state's numbers (the step count) and the names of its buffers (moved into the flat buffers here)."""
        p = bucket.params[i]
        if p.grad.array is not bucket.grads.slots[i].array:
            return None
        state = self.state.get(p)
        if not state:
            return ((), ())
        numbers, names = [], []
        for name, value in state.items():
            if isinstance(value, Tensor):
                if value is not bucket.state_view(name, i) and not bucket.adopt(state, name, i):
                    return None
                names.append(name)
            else:
                numbers.append((name, value))
        return tuple(sorted(numbers)), tuple(sorted(names))

    def _adopted_state(self, bucket, i):
        """Parameter i's state dict, its buffers moved into the flat buffers where they fit (views of them)."""
        state = self.state.setdefault(bucket.params[i], {})
        for name, value in list(state.items()):
            if isinstance(value, Tensor) and value is not bucket.state_view(name, i):
                bucket.adopt(state, name, i)
        return state

    def _use_kernel(self, state, name):
        """The backend whose fused update `name` runs a run in one pass (a kernel of kernels/optimizer.py on "cuda",
        a compiled loop of backends/cpu_optimizer.py on the CPU); else None."""
        if type(state) is not _RunState or self._flat_mode == "foreach":
            return None
        backend = state.bucket.backend
        return backend if hasattr(backend, name) else None

    def _flat_group(self, group):
        """The group's flat buffers, kept up to date. Parameters go into one when nothing else refers to their
        memory (no graph has saved it, nobody holds p.numpy() or a view), so that moving them changes nothing
        anyone can see; the others wait in `waiting` (updated one at a time) and are tried again each step.
        A parameter given another array since (model.to(...), p.data = ...) leaves its buffer and waits."""
        flat = self._flat.get(id(group))
        if flat is None or flat.group is not group:
            flat = self._flat[id(group)] = _GroupFlat(group)
        params = group["params"]
        if len(flat.params) != len(params) or any(a is not b for a, b in zip(flat.params, params)):
            inside = {id(p) for p in params}
            for bucket in flat.buckets:
                bucket.evict(self, lambda p: id(p) not in inside)
            placed = {id(p) for b in flat.buckets for p in b.params if p is not None}
            flat.waiting = [p for p in params if id(p) not in placed]
            flat.params = list(params)
        for bucket in flat.buckets:
            if not bucket.intact():
                flat.waiting.extend(bucket.evict(self, lambda p, b=bucket: p.array is not b.views[b.index[id(p)]]))
        if flat.waiting:
            flat.buckets = [b for b in flat.buckets if any(p is not None for p in b.params)]
            self._move_in(flat)
        return flat

    def _move_in(self, flat):
        """Move the waiting parameters that nothing else refers to into new flat buffers (one per device and dtype)."""
        by_kind, still = {}, []
        for p in flat.waiting:
            slot = GRAD_SLOTS.get(id(p))
            owner = slot.owner() if isinstance(slot, _GradSlot) else None
            if (owner is not None and owner is not self) or not _only_owner(p):
                still.append(p)
            else:
                by_kind.setdefault((id(p._backend), p.array.dtype), []).append(p)
        for params in by_kind.values():
            bucket = _Bucket(params, self)
            flat.buckets.append(bucket)
            for i, p in enumerate(params):
                self._places[id(p)] = (bucket, i)
        flat.waiting = still

    def _check_grad(self, p):
        if p.grad.shape != p.shape or p.grad.device != p.device:
            raise RuntimeError(f"{type(self).__name__}.step: a parameter of shape {p.shape} on {p.device} has "
                               f"a gradient of shape {p.grad.shape} on {p.grad.device}; they must match")

    def _params_with_grad(self, group, update=True):
        """The parameters of a group that have a gradient (the others are skipped, as in PyTorch).

        With `update`, the step is about to change each of them in place, so each one's version
        moves on (as PyTorch's in-place updates do): a graph built before the step then refuses
        to backward through the old values instead of silently using the new ones."""
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            self._check_grad(p)
            if update:
                self._changing(p)
            out.append(p)
        return out

    def _changing(self, p):
        """Record that this step changes p's memory in place (its version counter moves on)."""
        p._counter.bump(f"{type(self).__name__}.step", memory_id(p.array))

    @staticmethod
    def _decayed_gradient(p, state, weight_decay):
        """p's gradient plus weight_decay * p (L2 added to the gradient, as PyTorch's RMSprop, Adagrad and
        Adadelta do), with this update counted in state["step"]. The gradient array itself is never written
        to: it may be shared."""
        state["step"] = state.get("step", 0) + 1
        g = p.grad.array
        return g + weight_decay * p.array if weight_decay != 0 else g

    def _buffer(self, p, state, key):
        """A state buffer `state[key]` of zeros shaped like p, created on p's device on first use
        (in the flat buffer of that name when p lives in a flat parameter buffer, or is a run of them)."""
        if state.get(key) is None:
            if type(state) is _RunState:
                return state.create(key)
            place = self._places.get(id(p))
            if place is not None and p.array is place[0].views[place[1]]:
                view = place[0].state_view(key, place[1])
                view.array.fill(0)
                state[key] = view
            else:
                state[key] = p._like(p._backend.xp.zeros_like(p.array))
        return state[key]

    # ---- the training-loop API -------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set `.grad` to None (the default), or to zeros with set_to_none=False.

        With set_to_none=False the `.grad` Tensor stays the same object and holds zeros. A
        gradient in its slot of the optimizer's flat gradients is zeroed in place there (one
        call for a whole flat buffer), as PyTorch zeroes in place; any other gradient array
        gets a fresh array of zeros instead of being zeroed, because it may be shared with
        another parameter's gradient or with the user.
        """
        for group in self.param_groups:
            if set_to_none:
                for p in group["params"]:
                    p.grad = None
                continue
            done = set()
            flat = self._flat.get(id(group))
            for bucket in flat.buckets if flat is not None and flat.group is group else ():
                if all(p is not None and p.grad is not None and p.grad.array is s.array
                       for p, s in zip(bucket.params, bucket.grads.slots)):
                    bucket.grads.flat.fill(0)
                    done.update(id(p) for p in bucket.params)
            for p in group["params"]:
                if p.grad is None or id(p) in done:
                    continue
                slot = GRAD_SLOTS.get(id(p))
                if (isinstance(slot, _GradSlot) and slot.owner() is self and p.array is slot.param
                        and (p.grad.array is slot.array or slot.free())):
                    slot.array.fill(0)
                    p.grad.array = slot.array
                else:
                    p.grad.array = p._backend.xp.zeros_like(p.grad.array)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns the loss from `closure` (if given)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    @staticmethod
    def _evaluate(closure):
        """Call `closure` (which re-computes the loss and its gradients) with autograd on; None if none given."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- saving and restoring --------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state in PyTorch's layout:

            {"state": {index: {name: Tensor or number}},
             "param_groups": [{option: value, ..., "params": [index, ...]}]}

        Parameters are numbered 0, 1, ... across the groups in order. The tensors are
        copies, so the dict is a snapshot that later steps do not change.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _copy_value(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and buffers from `state_dict()` of an optimizer over parameters of the same shapes.

        Buffers are copied onto each parameter's device (floating buffers also take its
        dtype), so the loaded optimizer continues exactly where the saved one stopped.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(g['params'])} parameters "
                                 f"here but {len(s['params'])} in the state dict")
        by_index = {}
        for g, s in zip(self.param_groups, saved_groups):
            for p, idx in zip(g["params"], s["params"]):
                by_index[_as_key(idx)] = p
        new_state = {}
        for idx, values in state_dict["state"].items():
            p = by_index.get(_as_key(idx))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {idx!r}, which no parameter "
                                 f"group lists")
            new_state[p] = {k: _load_value(k, v, p) for k, v in values.items()}
        for g, s in zip(self.param_groups, saved_groups):
            g.update({k: v for k, v in s.items() if k != "params"})
        self.state = new_state

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_value(v):
    if isinstance(v, Tensor):
        return v._like(v.array.copy())
    return v


def _as_key(idx):
    """Parameter indices may come back from a file as strings or numpy integers."""
    return int(idx)


def _load_value(key, value, p):
    """A saved state entry as a Tensor on p's device (copied), or a Python number."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Tensor):
        value = value.array
    if getattr(value, "ndim", None) == 0 and key == "step":  # a step counter saved as a 0-d array
        return int(value.item()) if float(value.item()).is_integer() else float(value.item())
    if not hasattr(value, "shape"):
        raise TypeError(f"load_state_dict: state entry {key!r} is a {type(value).__name__}; expected a Tensor, "
                        f"an array or a number")
    array = p._backend.asarray(value)
    return p._like(array.astype(p.array.dtype if array.dtype.kind == "f" else array.dtype))  # astype copies


# ---- flat buffers: the parameters of one group, device and dtype, updated together ------------------------
class _GroupFlat:
    """A parameter group's flat buffers (`buckets`) and its parameters that are in none (`waiting`)."""

    def __init__(self, group):
        self.group, self.params, self.buckets, self.waiting = group, [], [], []


def _only_owner(p):
    """Whether nothing but p refers to p's array, or to the memory it is a view of: no graph saved it, nobody
    holds p.numpy() or a view of it, no other tensor shares it. Counted by references (sys.getrefcount counts
    its own argument, and `base` below)."""
    if sys.getrefcount(p.array) > 2:
        return False
    base = getattr(p.array, "base", None)
    while base is not None:                   # p.array is a view: of memory nobody else may hold either
        if sys.getrefcount(base) > 3:
            return False
        base = getattr(base, "base", None)
    return True


class _Bucket:
    """Parameters of one group with one device and dtype, moved into one flat array `flat`: each parameter's
    `.array` becomes `views[i]`, its stretch bounds[i] of `flat`. Their gradients go to the flat `grads`
    (a _GradBuffer) and their state buffers to flat arrays of the same layout (`state_view`)."""

    def __init__(self, params, optimizer):
        backend = self.backend = params[0]._backend
        xp, dtype = backend.xp, params[0].array.dtype
        self.params, self.bounds, n = params, [], 0
        for p in params:
            self.bounds.append((n, n + p.array.size))
            n += p.array.size
        self.flat = xp.empty(n, dtype=dtype)
        self.views = []
        for p, (lo, hi) in zip(params, self.bounds):
            view = self.flat[lo:hi].reshape(p.array.shape)
            view[...] = p.array
            p.array = view                           # the same values, now in the flat array
            self.views.append(view)
        self.grads = _GradBuffer(xp, n, dtype, self.bounds, self.views, optimizer)
        for p, slot in zip(params, self.grads.slots):
            if id(p) not in GRAD_SLOTS:              # forget the slot when the parameter goes
                weakref.finalize(p, GRAD_SLOTS.pop, id(p), None)
            GRAD_SLOTS[id(p)] = slot
        self.state = {}                              # name -> flat state array
        self.state_views = {}                        # name -> [Tensor viewing parameter i's stretch]
        self.index = {id(p): i for i, p in enumerate(params)}

    def intact(self):
        """Whether every parameter still has its view as its array (model.to(...) or p.data = ... replace it)."""
        return all(p is None or p.array is v for p, v in zip(self.params, self.views))

    def evict(self, optimizer, leaves):
        """Take the parameters for which leaves(p) is true out of this buffer (their place stays empty and breaks
        runs; their state keeps its views). Returns them."""
        gone = []
        for i, p in enumerate(self.params):
            if p is not None and leaves(p):
                self.params[i] = None
                optimizer._places.pop(id(p), None)
                if GRAD_SLOTS.get(id(p)) is self.grads.slots[i]:
                    del GRAD_SLOTS[id(p)]
                gone.append(p)
        return gone

    def state_view(self, name, i):
        """The Tensor viewing parameter i's stretch of the flat state buffer `name` (zeros when first made)."""
        views = self.state_views.get(name)
        if views is None:
            flat = self.state[name] = self.backend.xp.zeros(self.flat.shape[0], dtype=self.flat.dtype)
            views = self.state_views[name] = [Tensor._wrap(flat[lo:hi].reshape(v.shape), self.backend, False, None)
                                              for (lo, hi), v in zip(self.bounds, self.views)]
        return views[i]

    def adopt(self, state, name, i):
        """Move the buffer state[name] of parameter i into the flat buffer (a loaded state dict, or a buffer made
        before the flat one): copy it into its view and put the view in its place. False if it does not fit."""
        value, view = state[name], self.state_view(name, i)
        if value.shape != view.shape or value._backend is not self.backend:
            return False
        view.array[...] = value.array
        state[name] = view
        return True

    def run(self, optimizer, first, stop, key):
        """(run, state) for parameters first..stop-1: their stretch of the flat arrays as one Tensor, with its
        .grad, and a _RunState holding the numbers in `key` and the flat stretches of the named buffers."""
        lo, hi = self.bounds[first][0], self.bounds[stop - 1][1]
        run = Tensor._wrap(self.flat[lo:hi], self.backend, False, None)
        run.grad = Tensor._wrap(self.grads.flat[lo:hi], self.backend, False, None)
        state = _RunState(optimizer, self, first, stop)
        numbers, names = key
        for name, value in numbers:
            dict.__setitem__(state, name, value)
        for name in names:
            dict.__setitem__(state, name, Tensor._wrap(self.state[name][lo:hi], self.backend, False, None))
        return run, state


class _RunState(dict):
    """The state of a run of parameters updated as one flat tensor. Its buffers are stretches of the flat state
    buffers; a number stored in it (the step count) is stored in every parameter's own state too."""

    def __init__(self, optimizer, bucket, first, stop):
        super().__init__()
        self.optimizer, self.bucket, self.first, self.stop = optimizer, bucket, first, stop

    def __setitem__(self, name, value):
        super().__setitem__(name, value)
        if not isinstance(value, Tensor):
            for p in self.bucket.params[self.first:self.stop]:
                self.optimizer.state.setdefault(p, {})[name] = value

    def create(self, name):
        """A new buffer of zeros for the whole run; each parameter's state gets its view of it."""
        bucket, state = self.bucket, self.optimizer.state
        for i in range(self.first, self.stop):
            state.setdefault(bucket.params[i], {})[name] = bucket.state_view(name, i)
        lo, hi = bucket.bounds[self.first][0], bucket.bounds[self.stop - 1][1]
        stretch = bucket.state[name][lo:hi]
        stretch.fill(0)
        tensor = Tensor._wrap(stretch, bucket.backend, False, None)
        super().__setitem__(name, tensor)
        return tensor


class _GradBuffer:
    """A flat gradient array and each parameter's slot in it (a view). `baseline` is how many references its
    memory has when nobody else holds a view of it (see _GradSlot.free)."""

    def __init__(self, xp, n, dtype, bounds, views, optimizer):
        self.flat = xp.zeros(n, dtype=dtype)
        self.root = _memory_owner(self.flat)
        owner = weakref.ref(optimizer)
        self.slots = [_GradSlot(self.flat[lo:hi].reshape(v.shape), v, self, owner)
                      for (lo, hi), v in zip(bounds, views)]
        self.baseline = sys.getrefcount(self.root)


def _memory_owner(array):
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


class _GradSlot:
    """A parameter's slot in a flat gradient array: autograd calls it (autograd.GRAD_SLOTS) with each gradient.

    The first gradient is copied into the slot, which becomes the parameter's .grad; later gradients are
    added to it in place (as PyTorch accumulates). It holds no reference to the parameter itself (it would
    keep it alive through autograd.GRAD_SLOTS), only to its array `param`: a parameter given another array
    since (model.to(...), p.data = ...) is no longer in the flat buffer, and its gradients go elsewhere."""
    __slots__ = ("array", "param", "buffer", "owner")

    def __init__(self, array, param, buffer, owner):
        self.array, self.param, self.buffer, self.owner = array, param, buffer, owner

    def free(self):
        """Nobody else holds the slot's memory: no gradient it gave out before (p.grad kept by the user, or
        p.grad.numpy()), and no view of the flat gradients. Counted by references, as PyTorch's AccumulateGrad
        checks whether it may reuse a gradient."""
        return (sys.getrefcount(self.array) <= 2
                and sys.getrefcount(self.buffer.root) <= self.buffer.baseline)

    def __call__(self, t, g):
        if t.array is not self.param:
            return False
        grad = t.grad
        if grad is None:
            if g.shape != self.array.shape or not self.free():
                return False                        # a fresh array, as without the optimizer's buffers
            self.array[...] = g
            t.grad = Tensor._wrap(self.array, t._backend, False, None)
            return True
        if grad.array is self.array and g.shape == self.array.shape:
            self.array += g
            return True
        return False
