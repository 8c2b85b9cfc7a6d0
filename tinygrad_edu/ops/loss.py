"""Loss functions whose forward and backward are fused for speed and stability."""
from ..autograd import Function


class CrossEntropy(Function):
    """Per-row loss_n = -(1-eps) log p_{n,t_n} - (eps/C) sum_c log p_{n,c},  p = softmax(logits_n).

    The gradient is computed in the same pass as the loss (backend.cross_entropy):
        dlogits_n = dloss_n * (p_n - (1-eps) onehot(t_n) - eps/C),  and 0 for ignored rows.
    With mean=True the output is the mean over the K rows whose target is not ignored,
    loss = (1/K) sum_n loss_n, so dloss_n = dloss / K (backend.cross_entropy_mean keeps K on
    the device). `target` (int64) gets no gradient.
    """
    def forward(self, logits, target, ignore_index=-100, label_smoothing=0.0, mean=False):
        loss, dlogits = self.backend.cross_entropy(logits, target, ignore_index, label_smoothing)
        self.mean = mean
        if mean:
            loss, inverse_count = self.backend.cross_entropy_mean(loss, target, ignore_index)
            self.save_for_backward(dlogits, inverse_count)
        else:
            self.save_for_backward(dlogits)
        return loss

    def backward(self, g):
        if self.mean:
            dlogits, inverse_count = self.saved
            return self.backend.cross_entropy_mean_backward(dlogits, g, inverse_count), None
        dlogits, = self.saved
        return dlogits * g[:, None], None


class NLLLoss(Function):
    """Per-row loss_n = -logp_{n, t_n} (0 where t_n is ignore_index), or with mean=True their mean over the
    K rows that are not ignored (backend.cross_entropy_mean keeps K on the device).

    dlogp_{n, c} = -dloss_n where c = t_n (dloss_n = dloss / K for the mean), and 0 elsewhere.
    `target` (int64) gets no gradient.
    """
    def forward(self, log_probs, target, ignore_index=-100, mean=False):
        xp = self.xp
        rows = xp.arange(log_probs.shape[0])
        valid = target != ignore_index
        picked = xp.where(valid, target, 0)
        loss = -log_probs[rows, picked] * valid.astype(log_probs.dtype)
        self.shape, self.mean = log_probs.shape, mean
        self.save_for_backward(rows, picked, valid)
        if not mean:
            return loss
        mean_loss, inverse_count = self.backend.cross_entropy_mean(loss, target, ignore_index)
        self.inverse_count = inverse_count
        return mean_loss

    def backward(self, g):
        rows, picked, valid = self.saved
        per_row = g * self.inverse_count if self.mean else g
        dlog_probs = self.xp.zeros(self.shape, dtype=g.dtype)
        dlog_probs[rows, picked] = -per_row * valid.astype(g.dtype)
        return dlog_probs, None


class BCEWithLogits(Function):
    """loss = -w [pw t log s(x) + (1 - t) log(1 - s(x))], s the sigmoid, written stably as
        loss = w [(1 - t) x + (1 + (pw - 1) t) softplus(-x)],  softplus(z) = log(1 + e^z);
    dx = dloss * w [(1 - t) - (1 + (pw - 1) t) s(-x)],  dt = dloss * w [-x + (pw - 1) softplus(-x)].
    """
    def forward(self, x, t, pos_weight=None):
        xp = self.xp
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        coef = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        self.save_for_backward(x, t, softplus_neg)
        self.pos_weight = pos_weight
        return (1 - t) * x + coef * softplus_neg

    def backward(self, g):
        x, t, softplus_neg = self.saved
        xp = self.xp
        pw = self.pos_weight
        coef = 1 if pw is None else 1 + (pw - 1) * t
        e = xp.exp(-xp.abs(x))
        sig_neg = xp.where(x >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
        dx = g * ((1 - t) - coef * sig_neg)
        dt = None
        if self.needs_input_grad[1]:
            dt = g * (-x + (0 if pw is None else (pw - 1) * softplus_neg))
        return dx, dt
