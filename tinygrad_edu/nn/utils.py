"""Utilities that act on the gradients of a model's parameters."""
from ..tensor import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Scale the gradients of `parameters` so that their joint norm is at most `max_norm`.

    The joint norm is the norm of all gradients taken together as one long vector:

        total = (sum over grads g, over elements i, of |g_i|^norm_type) ^ (1 / norm_type)
        total = max over grads g, over elements i, of |g_i|          (norm_type = inf)

    Every gradient is then multiplied by  min(1, max_norm / (total + 1e-6)),  so nothing
    changes when the norm is already below max_norm (x * 1.0 is exactly x). It is multiplied
    even then, as PyTorch does: asking "is the norm above max_norm?" would read a value from
    the device, and on a GPU that makes Python wait for every queued kernel in every step.
    Parameters without a gradient are skipped. Returns the total norm (of the gradients
    *before* clipping) as a 0-d Tensor on the device of the first gradient.

    Each gradient is scaled in place (as PyTorch's `mul_`), so `.grad` keeps its array (an
    optimizer may hold it, see optim/optimizer.py). When two gradients may share memory
    (one a view of another's), in-place scaling could scale an element twice, so then every
    gradient is replaced by a scaled copy instead.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    if not grads:
        return Tensor(0.0)
    home = grads[0]._backend           # the total norm lives on the first gradient's device
    xp = home.xp

    # the norm of each gradient on its own device, then the norm of those norms
    norms = [home.asarray(g._backend.to_numpy(_norm(g._backend.xp, g.array, norm_type)))
             if g._backend is not home else _norm(xp, g.array, norm_type) for g in grads]
    total = xp.asarray(_norm(xp, xp.stack(norms), norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped; pass error_if_nonfinite=False to "
                           f"skip this check")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    unique = list({id(g): g for g in grads}.values())        # the same grad Tensor given twice is scaled once
    in_place = not any(a._backend is b._backend and a._backend.xp.may_share_memory(a.array, b.array)
                       for i, a in enumerate(unique) for b in unique[i + 1:])
    for g in unique:
        c = coef if g._backend is home else g._backend.asarray(home.to_numpy(coef))
        if in_place:
            g._backend.xp.multiply(g.array, c.astype(g.array.dtype), out=g.array)
        else:
            g.array = g._backend.xp.asarray(g.array * c.astype(g.array.dtype))
    return Tensor._wrap(total, home, False, None)


def _norm(xp, a, p):
    """The p-norm of all elements of `a` (max |a_i| for p = inf), as a 0-d array."""
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    if p == float("inf"):
        return xp.max(xp.abs(a))
    if p == 2.0:
        return xp.sqrt(xp.sum(a * a))
    if p == 1.0:
        return xp.sum(xp.abs(a))
    return xp.sum(xp.abs(a) ** p) ** (1.0 / p)
