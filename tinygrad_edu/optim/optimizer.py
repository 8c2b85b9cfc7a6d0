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
"""
from ..autograd import enable_grad, memory_id
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

    def _check_options(self, group):
        """Raise a clear error for an invalid option value; subclasses check their own options."""
        lr = group.get("lr")
        if lr is not None and not lr >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate lr={lr}; it must be >= 0")
        wd = group.get("weight_decay")
        if wd is not None and not wd >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay={wd}; it must be >= 0")

    def _params_with_grad(self, group, update=True):
        """The parameters of a group that have a gradient (the others are skipped, as in PyTorch).

        With `update`, the step is about to change each of them in place, so each one's version
        moves on (as PyTorch's in-place updates do): a graph built before the step then refuses
        to backward through the old values instead of silently using the new ones."""
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.shape != p.shape or p.grad.device != p.device:
                raise RuntimeError(f"{type(self).__name__}.step: a parameter of shape {p.shape} on {p.device} has "
                                   f"a gradient of shape {p.grad.shape} on {p.grad.device}; they must match")
            if update:
                self._changing(p)
            out.append(p)
        return out

    def _changing(self, p):
        """Record that this step changes p's memory in place (its version counter moves on)."""
        p._counter.bump(f"{type(self).__name__}.step", memory_id(p.array))

    def _buffer(self, p, state, key):
        """A state buffer `state[key]` of zeros shaped like p, created on p's device on first use."""
        if state.get(key) is None:
            state[key] = p._like(p._backend.xp.zeros_like(p.array))
        return state[key]

    # ---- the training-loop API -------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set `.grad` to None (the default), or to zeros with set_to_none=False.

        With set_to_none=False the `.grad` Tensor stays the same object but gets a fresh
        array of zeros: the old array is not zeroed in place, because it may be shared
        with another parameter's gradient or with the user.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
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
