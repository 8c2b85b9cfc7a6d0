"""L-BFGS: a quasi-Newton method whose curvature model is built from the last few steps and gradient changes.

    opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    def closure():                     # L-BFGS needs the loss several times per step
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    opt.step(closure)

A port of PyTorch's LBFGS (itself a port of minFunc), step for step, so that it takes
exactly the same iterates. All parameters are handled as one flat vector x; the arrays
below are flat arrays of the parameters' array module, and the scalars (step length,
losses, dot products) are Python floats.
"""
import math

from .optimizer import Optimizer, _copy_value, _load_value


class LBFGS(Optimizer):
    r"""L-BFGS (Nocedal, 1980; Liu & Nocedal, 1989), PyTorch's algorithm exactly.

    `step(closure)` runs up to `max_iter` iterations on the loss f(x) that `closure`
    computes (it zeroes the gradients, computes the loss, calls backward and returns the
    loss); g is the gradient at x. Each iteration:

    1. Direction d = -H g, H an approximate inverse Hessian built from the last
       `history_size` pairs s_i = x_{i+1} - x_i ("old_stps") and y_i = g_{i+1} - g_i
       ("old_dirs"), keeping a pair only if its curvature y_i.s_i > 1e-10. H g is never
       formed; the two-loop recursion computes it, with rho_i = 1 / y_i.s_i ("ro"):

           q = -g;    for i = newest ... oldest:  a_i = rho_i * s_i.q,   q <- q - a_i * y_i
           r = gamma * q,   gamma = y.s / y.y of the newest pair   ("H_diag": the first H is gamma * I)
                      for i = oldest ... newest:  b_i = rho_i * y_i.r,   r <- r + (a_i - b_i) * s_i
           d = r                                  (d = -g on the very first iteration: no history yet)

    2. Step length t = lr (t = lr * min(1, 1 / sum|g|) on the very first iteration). With
       line_search_fn="strong_wolfe", t is then searched for (bracketing, then zooming in
       with cubic interpolation) until the strong Wolfe conditions hold:

           f(x + t d) <= f(x) + c1 * t * g.d        |g(x + t d).d| <= c2 * |g.d|      (c1 = 1e-4, c2 = 0.9)

    3. x <- x + t * d.

    It stops when max|g| <= tolerance_grad, when g.d > -tolerance_change (d is no descent
    direction), when max|t * d| <= tolerance_change, when the loss changed by less than
    tolerance_change, or once `closure` was called `max_eval` times (default max_iter * 5 // 4).

    There is one parameter group only. The history is kept, as in PyTorch, in the state of
    the first parameter, so the next `step` carries on where this one stopped.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check_positive_int("max_iter", max_iter)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): it optimizes all "
                             "parameters as one vector; pass a single list of parameters")
        super().add_param_group(param_group)

    def _check_options(self, group):
        super()._check_options(group)
        for key in ("max_iter", "max_eval", "history_size"):
            _check_positive_int(key, group[key])
        for key in ("tolerance_grad", "tolerance_change"):
            if not group[key] >= 0.0:
                raise ValueError(f"LBFGS: invalid {key}={group[key]}; it must be >= 0")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe' (the only line search "
                             f"supported), got {group['line_search_fn']!r}")

    # ---- the parameters as one flat vector ---------------------------------------------------
    def _gather_flat_grad(self):
        """g: every parameter's gradient flattened and concatenated (zeros for a parameter without one)."""
        self._params_with_grad(self.param_groups[0], update=False)   # a clear error for a gradient of the wrong shape
        xp = self._params[0]._backend.xp
        return xp.concatenate([xp.zeros(p.numel(), dtype=p.array.dtype) if p.grad is None
                               else p.grad.array.reshape(-1) for p in self._params])

    def _add_grad(self, step_size, update):
        """x <- x + step_size * update, writing each parameter's slice of the flat update into it."""
        offset = 0
        for p in self._params:
            n = p.numel()
            self._changing(p)
            p.array += step_size * update[offset:offset + n].reshape(p.shape)
            offset += n

    def _clone_params(self):
        return [p.array.copy() for p in self._params]

    def _set_params(self, arrays):
        for p, array in zip(self._params, arrays):
            self._changing(p)
            p.array[...] = array

    def _directional_evaluate(self, closure, x, t, d):
        """f and g at x + t * d; the parameters are put back to x afterwards."""
        self._add_grad(t, d)
        loss = float(self._evaluate(closure))
        flat_grad = self._gather_flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # ---- the step --------------------------------------------------------------------------
    def step(self, closure=None):
        """Run up to max_iter L-BFGS iterations; returns the loss at the starting point (the first closure call)."""
        if closure is None:
            raise TypeError("LBFGS.step: a closure is required: L-BFGS evaluates the loss several times per step. "
                            "Pass a function that zeroes the gradients, computes the loss, calls loss.backward() "
                            "and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]
        xp = self._params[0]._backend.xp

        state = self.state.setdefault(self._params[0], {})
        state["func_evals"] = int(state.get("func_evals", 0))
        state["n_iter"] = int(state.get("n_iter", 0))

        orig_loss = self._evaluate(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
        if opt_cond:                                      # already at a stationary point
            return orig_loss

        d, t, old_dirs, old_stps, ro, h_diag, prev_flat_grad, prev_loss = self._history(state)
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # 1. the direction d = -H g
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:                               # keep the pair only if the curvature is positive
                    if len(old_dirs) == history_size:        # forget the oldest pair
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                if state.get("al") is None:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = float(old_stps[i] @ q) * float(ro[i])
                    q -= al[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = float(old_dirs[i] @ r) * float(ro[i])
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # 2. the step length t
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(flat_grad @ d)                        # the directional derivative g.d
            if gtd > -tolerance_change:                       # d is (numerically) no descent direction
                break

            # 3. move: x <- x + t d
            ls_func_evals = 0
            if line_search_fn == "strong_wolfe":
                x_init = self._clone_params()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                # as in PyTorch, the line search keeps its own tolerance_change (1e-9)
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:                        # the last iteration does not re-evaluate
                    loss = float(self._evaluate(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # stopping conditions
            if n_iter == max_iter or current_evals >= max_eval:
                break
            if opt_cond:                                      # the gradient is (numerically) zero
                break
            if xp.abs(d * t).max() <= tolerance_change:       # the step barely moved x
                break
            if abs(loss - prev_loss) < tolerance_change:      # the loss barely changed
                break

        like = self._params[0]._like
        state.update(d=like(d), t=t, old_dirs=[like(a) for a in old_dirs], old_stps=[like(a) for a in old_stps],
                     ro=ro, H_diag=h_diag, prev_flat_grad=like(prev_flat_grad), prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _history(state):
        """What the previous step left in the state, as arrays and Python floats (all None before the first)."""
        def array(v):
            return None if v is None else v.array

        def number(v):
            return None if v is None else float(v)

        def arrays(vs):
            return None if vs is None else [v.array for v in vs]

        ro = state.get("ro")
        if state.get("al") is not None:
            state["al"] = [number(a) for a in state["al"]]
        return (array(state.get("d")), number(state.get("t")), arrays(state.get("old_dirs")),
                arrays(state.get("old_stps")), None if ro is None else [float(r) for r in ro],
                number(state.get("H_diag")), array(state.get("prev_flat_grad")), number(state.get("prev_loss")))

    # ---- saving and restoring: the history lists need copying element by element -------------
    def state_dict(self):
        """As `Optimizer.state_dict`, with the history lists ("old_dirs", "old_stps", "ro", "al") copied too."""
        state_dict = super().state_dict()
        for values in state_dict["state"].values():
            for key, value in values.items():
                if isinstance(value, list):
                    values[key] = [_copy_value(v) for v in value]
        return state_dict

    def load_state_dict(self, state_dict):
        """As `Optimizer.load_state_dict`; the tensors in the history lists go onto the parameter's device."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            return super().load_state_dict(state_dict)            # raises its clear error
        lists, rest = {}, {}
        for idx, values in state_dict["state"].items():
            lists[idx] = {k: v for k, v in values.items() if isinstance(v, (list, tuple))}
            rest[idx] = {k: v for k, v in values.items() if not isinstance(v, (list, tuple))}
        super().load_state_dict({**state_dict, "state": rest})
        saved_indices = list(state_dict["param_groups"])[0]["params"]
        by_index = {int(idx): p for idx, p in zip(saved_indices, self._params)}
        for idx, entries in lists.items():
            p = by_index[int(idx)]
            self.state[p].update({k: [_load_value(k, v, p) for v in value] for k, value in entries.items()})


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"LBFGS: {name} must be a positive integer, got {value!r}")


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped to `bounds`
    (default: [min(x1, x2), max(x1, x2)]); the middle of the bounds if the cubic has no minimum.

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2),    d2 = sqrt(d1^2 - g1 g2)
        x  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)        (for x1 <= x2)
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length t along d satisfying the strong Wolfe conditions (minFunc's lswolfe, as PyTorch has it).

    `obj_func(x, t, d)` gives f and g at x + t d; f, g, gtd = g.d are their values at t = 0.
    Phase 1 (bracketing): try longer steps, each a cubic-interpolated guess in
    [t + 0.01 (t - t_prev), 10 t], until the conditions hold or an interval [t_lo, t_hi]
    is known to contain a point where they do. Phase 2 (zoom): shrink that interval by
    cubic interpolation, stepping 10% in from an end when progress stalls.
    Returns (f_new, g_new, t, number of obj_func calls). No array is changed in place here.
    """
    d_norm = float(abs(d).max())
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = float(g_new @ d)

    # phase 1: bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        too_long = f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev)    # not enough decrease
        if not too_long and abs(gtd_new) <= -c2 * gtd:                         # the strong Wolfe conditions hold
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if too_long or gtd_new >= 0:                       # ... or past a minimum along d: [t_prev, t] brackets one
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # still going down: extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:                                                       # out of evaluations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # phase 2: zoom in on the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:           # the bracket is too small
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])

        # If t is within 10% of the bracket's length from an end, and either the last try also
        # was or t is at (or past) an end, move t to 10% in from the nearer end.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not enough decrease, or not below the low end: t becomes the new high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True                                                     # the strong Wolfe conditions hold
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old low end becomes the high end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            # t becomes the new low end
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
