"""Learning-rate schedulers: set each parameter group's "lr" as a function of the epoch.

    opt = SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(opt)
        sched.step()                   # after the optimizer's steps, as in PyTorch

Creating a scheduler records each group's starting lr as group["initial_lr"] and
sets the lr for epoch 0. Each `step()` moves to the next epoch and writes the
closed-form lr of that epoch into every group.

Two schedulers step differently: ReduceLROnPlateau is given a metric, `sched.step(val_loss)`,
and lowers the lr when the metric stops improving; OneCycleLR is stepped after every
batch (not every epoch) and also cycles the optimizer's momentum.
"""
import math
import types

from .optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses give `_lr_at(base_lr, epoch)`, the lr of one group at an epoch."""

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming an optimizer (last_epoch={last_epoch})")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def get_lr(self):
        """The lr of every group at the current epoch (`last_epoch`)."""
        return [self._lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    def step(self):
        """Advance one epoch and set every group's lr to that epoch's value."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self):
        """The lrs set by the last `step()` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer (save that with its own `state_dict()`)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in state_dict.items()})


class StepLR(LRScheduler):
    r"""Multiply the lr by gamma every `step_size` epochs:

        lr_epoch = base_lr * gamma ^ floor(epoch / step_size)
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        if not gamma >= 0:
            raise ValueError(f"StepLR: gamma must be >= 0, got {gamma}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the lr from base_lr down to eta_min along half a cosine over T_max epochs:

        lr_epoch = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    (past T_max the cosine carries on, rising again, as PyTorch's does).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):  # noqa: N803  (PyTorch's name)
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class ExponentialLR(LRScheduler):
    r"""Multiply the lr by gamma every epoch:

        lr_epoch = base_lr * gamma ^ epoch
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        if not gamma >= 0:
            raise ValueError(f"ExponentialLR: gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class LambdaLR(LRScheduler):
    r"""Scale each group's starting lr by a factor that a function of the epoch gives:

        lr_epoch = base_lr * lr_lambda(epoch)

    `lr_lambda` is one function for every group, or a list of functions, one per group
    (e.g. a linear warm-up: `lambda epoch: min(1.0, (epoch + 1) / 10)`).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        _check_optimizer("LambdaLR", optimizer)
        n_groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n_groups:
                raise ValueError(f"LambdaLR: expected {n_groups} lr_lambdas (one per parameter group), but got "
                                 f"{len(lr_lambda)}")
            lr_lambdas = list(lr_lambda)
        else:
            lr_lambdas = [lr_lambda] * n_groups
        for fn in lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch (or a list of them, one per "
                                f"parameter group), got a {type(fn).__name__}")
        self.lr_lambdas = lr_lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        """As for every scheduler, except that functions and lambdas are not saved (None in their place);
        a callable object is saved as a copy of its `__dict__`."""
        state_dict = super().state_dict()
        state_dict["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) or not hasattr(fn, "__dict__")
                                    else dict(fn.__dict__) for fn in self.lr_lambdas]
        return state_dict

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved_lambdas = state_dict.pop("lr_lambdas", [])
        super().load_state_dict(state_dict)
        for fn, saved in zip(self.lr_lambdas, saved_lambdas):
            if saved is not None:
                fn.__dict__.update(saved)


class ReduceLROnPlateau(LRScheduler):
    r"""Multiply the lr by `factor` once a metric has stopped improving for more than `patience` epochs.

    The lr is not a function of the epoch here but of the history of a metric (say the
    validation loss): call `sched.step(metric)` once per epoch. A metric is an improvement
    on the best one so far when

        mode="min":  metric < best * (1 - threshold)   (threshold_mode="rel")   metric < best - threshold   ("abs")
        mode="max":  metric > best * (1 + threshold)   (threshold_mode="rel")   metric > best + threshold   ("abs")

    Epochs without an improvement are counted; when the count exceeds `patience`, every group's

        lr <- max(lr * factor, min_lr)        (left alone if that would change it by eps or less)

    and the count restarts, ignoring the next `cooldown` epochs.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer("ReduceLROnPlateau", optimizer)
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0 (and >= 0): it multiplies the lr, got "
                             f"{factor}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ReduceLROnPlateau: {name} must be an integer >= 0 (a number of epochs), got "
                                 f"{value!r}")
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"ReduceLROnPlateau: expected {n_groups} min_lrs (one per parameter group), got "
                                 f"{len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown; expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is unknown; expected 'rel' or "
                             f"'abs'")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._reset()

    def _reset(self):
        """Forget the best metric and the counters."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, metric, best):
        if self.mode == "min":
            return metric < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return metric > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics):
        """Record one epoch's metric (a number or a one-element tensor); lower the lrs after a plateau."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0                  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups but "
                                   f"min_lrs has {len(self.min_lrs)} values (was a group added after the scheduler "
                                   f"was made?); set sched.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2017): warm the lr up to max_lr, then anneal it far below its start.

    Step it after every batch, `total_steps` times in all (or epochs * steps_per_epoch).
    Each group's lr goes through the points

        initial_lr = max_lr / div_factor,   max_lr,   min_lr = initial_lr / final_div_factor

    in two phases: initial_lr -> max_lr over the first pct_start * total_steps steps, then
    max_lr -> min_lr for the rest. With three_phase=True: initial_lr -> max_lr -> initial_lr
    (two phases of pct_start * total_steps steps each), then initial_lr -> min_lr. Within a
    phase from `start` to `end`, a fraction pct in [0, 1] of the way through,

        cos:     lr = end + (start - end) * (1 + cos(pi * pct)) / 2
        linear:  lr = start + (end - start) * pct

    With cycle_momentum=True the momentum (SGD's, RMSprop's "momentum"; Adam's beta1) moves
    the opposite way, between max_momentum and base_momentum: high while the lr is low.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: expected a positive integer total_steps, but got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"OneCycleLR: expected a positive integer {name}, but got {value!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: you must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"OneCycleLR: expected a float between 0 and 1 for pct_start, but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy!r}")
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if not value > 0:
                raise ValueError(f"OneCycleLR: {name} must be > 0 (the lr is divided by it), got {value}")
        self.anneal_strategy = anneal_strategy
        warm_up_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                dict(end_step=warm_up_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * self.total_steps) - 2, start_lr="max_lr", end_lr="initial_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self._schedule_phases = [
                dict(end_step=warm_up_end, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]

        groups = optimizer.param_groups
        max_lrs = _per_group("OneCycleLR", "max_lr", max_lr, len(groups))
        if last_epoch == -1:
            for group, group_max_lr in zip(groups, max_lrs):
                group["initial_lr"] = group_max_lr / div_factor
                group["max_lr"] = group_max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` "
                                 f"option enabled; {type(optimizer).__name__} has neither 'momentum' nor 'betas' "
                                 f"(pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momentums = _per_group("OneCycleLR", "max_momentum", max_momentum, len(groups))
            base_momentums = _per_group("OneCycleLR", "base_momentum", base_momentum, len(groups))
            if last_epoch == -1:
                for group, group_max, group_base in zip(groups, max_momentums, base_momentums):
                    self._set_momentum(group, group_max)
                    group["max_momentum"] = group_max
                    group["base_momentum"] = group_base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, momentum):
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        """The lr of every group at step `last_epoch`; with cycle_momentum, also sets each group's momentum."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times, but the specified number of total steps is "
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(self._schedule_phases) - 1:
                    if end_step == start_step:
                        raise ValueError(f"OneCycleLR: phase {i + 1} of the schedule has no length (it ends at step "
                                         f"{end_step}, where it starts); with total_steps={self.total_steps}, choose "
                                         f"a pct_start that gives each phase at least one step")
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[phase["start_momentum"]],
                                                               group[phase["end_momentum"]], pct))
                    break
                start_step = phase["end_step"]
        return lrs


def _check_optimizer(name, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def _per_group(name, option, value, n_groups):
    """One value of an option for each parameter group: a list of them, or one value for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(f"{name}: {option} must have the same length as optimizer.param_groups; {option} has "
                             f"{len(value)} values, param_groups has {n_groups}")
        return list(value)
    return [value] * n_groups
