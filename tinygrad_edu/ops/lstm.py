"""LSTM: one fused cell, and a whole layer over a sequence as a single node.

PyTorch's gate order is i, f, g, o. With gates = x W_ih^T + b_ih + h W_hh^T + b_hh:
    i, f, o = sigmoid(...),  g = tanh(...),  c' = f c + i g,  h' = o tanh(c')
The cell arithmetic is the backend's hot op `lstm_cell_forward/backward` (a fused
kernel on the GPU). Both nodes return h and c concatenated on the last axis, so one
output carries both; the modules split it.
"""
from ..autograd import Function


class LSTMCell(Function):
    """(gates (B, 4H), c (B, H)) -> [h', c'] (B, 2H);  backward: backend.lstm_cell_backward."""
    def forward(self, gates, c_prev):
        h, c, acts = self.backend.lstm_cell_forward(gates, c_prev)
        self.save_for_backward(acts, c_prev, c)
        return self.xp.concatenate([h, c], axis=-1)

    def backward(self, g):
        acts, c_prev, c = self.saved
        hidden = c.shape[-1]
        dgates, dc_prev = self.backend.lstm_cell_backward(g[:, :hidden], g[:, hidden:], acts, c_prev, c)
        return dgates, dc_prev


class LSTMLayer(Function):
    """One LSTM layer over a whole sequence, x (T, B, I) -> [h_t, c_t] for every t, shape (T, B, 2H).

    Forward: the input projection of all T steps is one matmul; then one matmul and
    one fused cell per step. Backward walks time in reverse, carrying dh and dc:
        dgates_t, dc_{t-1} = cell_backward(dh_t, dc_t),   dh_{t-1} += dgates_t W_hh
    and the weight gradients are single matmuls over all steps at the end:
        dW_ih = dgates^T x,   dW_hh = dgates^T h_{t-1},   db = sum of dgates,   dx = dgates W_ih.
    Inputs: (x, h0, c0, W_ih, W_hh) or (x, h0, c0, W_ih, W_hh, b_ih, b_hh).
    """
    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
        b, xp = self.backend, self.xp
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        x_gates = b.matmul(x.reshape(steps * batch, x.shape[-1]), w_ih.T).reshape(steps, batch, 4 * hidden)
        if b_ih is not None:
            x_gates += b_ih + b_hh
        w_hh_t = w_hh.T
        hc = xp.empty((steps, batch, 2 * hidden), dtype=x.dtype)
        acts = xp.empty((steps, batch, 4 * hidden), dtype=x.dtype)
        h, c = h0, c0
        for t in range(steps):
            h, c, acts[t] = b.lstm_cell_forward(x_gates[t] + b.matmul(h, w_hh_t), c)
            hc[t, :, :hidden], hc[t, :, hidden:] = h, c
        self.save_for_backward(x, h0, c0, w_ih, w_hh, hc, acts)
        self.has_bias = b_ih is not None
        return hc

    def backward(self, g):
        x, h0, c0, w_ih, w_hh, hc, acts = self.saved
        b, xp = self.backend, self.xp
        steps, batch, _ = x.shape
        hidden = h0.shape[-1]
        dgates = xp.empty_like(acts)
        dh = xp.zeros_like(h0)
        dc = xp.zeros_like(c0)
        for t in range(steps - 1, -1, -1):
            c_prev = hc[t - 1, :, hidden:] if t > 0 else c0
            dgates[t], dc = b.lstm_cell_backward(dh + g[t, :, :hidden], dc + g[t, :, hidden:], acts[t], c_prev,
                                                 hc[t, :, hidden:])
            dh = b.matmul(dgates[t], w_hh)
        h_prev = xp.concatenate([h0[None], hc[:-1, :, :hidden]], axis=0).reshape(steps * batch, hidden)
        flat = dgates.reshape(steps * batch, 4 * hidden)
        dx = b.matmul(flat, w_ih).reshape(x.shape)
        dw_ih = b.matmul(flat.T, x.reshape(steps * batch, x.shape[-1]))
        dw_hh = b.matmul(flat.T, h_prev)
        grads = (dx, dh, dc, dw_ih, dw_hh)
        if self.has_bias:
            db = flat.sum(axis=0)
            grads += (db, db)
        return grads
