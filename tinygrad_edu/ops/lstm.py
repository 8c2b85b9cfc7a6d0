"""LSTM: one fused cell, and a whole layer over a sequence as a single node.

PyTorch's gate order is i, f, g, o. With gates = x W_ih^T + b_ih + h W_hh^T + b_hh:
    i, f, o = sigmoid(...),  g = tanh(...),  c' = f c + i g,  h' = o tanh(c')
The cell arithmetic is the backend's hot op `lstm_cell_forward/backward` (a fused
kernel on the GPU); a layer's whole loop over time is the backend's op
`lstm_sequence_forward/backward` (one kernel launch on the GPU, compiled on the CPU;
backends/lstm_sequence.py). Both nodes return h and c concatenated on the last axis,
so one output carries both; the modules split it.
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

    Forward: the input's share of the gates is one matrix product for all T steps,
        x_proj = x W_ih^T + b_ih + b_hh                                  (T, B, 4H)
    and the recurrence, h_{t-1} W_hh^T and the cell for t = 0 .. T-1, is ONE backend
    op, `lstm_sequence_forward`, however long the sequence.
    Backward: `lstm_sequence_backward` walks time in reverse, carrying dh and dc,
        dgates_t, dc_{t-1} = cell_backward(g_h[t] + dh_t, g_c[t] + dc_t),   dh_{t-1} = dgates_t W_hh,
    and returns dgates for every step with dh0 = dh_{-1}, dc0 = dc_{-1}. Every other
    gradient is then a single matrix product (or sum) over all steps, since the gates
    are linear in x, W_ih, W_hh and the biases:
        dx = dgates W_ih,   dW_ih = sum_t dgates_t^T x_t,   dW_hh = sum_t dgates_t^T h_{t-1},
        db_ih = db_hh = sum over t and the batch of dgates.
    Inputs: (x, h0, c0, W_ih, W_hh) or (x, h0, c0, W_ih, W_hh, b_ih, b_hh).
    """
    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
        b = self.backend
        steps, batch, inputs = x.shape
        x_proj = b.matmul(x.reshape(steps * batch, inputs), w_ih.T).reshape(steps, batch, w_ih.shape[0])
        if b_ih is not None:
            x_proj += b_ih + b_hh
        hc, acts = b.lstm_sequence_forward(x_proj, h0, c0, w_hh)
        self.save_for_backward(x, h0, c0, w_ih, w_hh, hc, acts)
        self.has_bias = b_ih is not None
        return hc

    def backward(self, g):
        x, h0, c0, w_ih, w_hh, hc, acts = self.saved
        b = self.backend
        steps, batch, inputs = x.shape
        hidden = h0.shape[-1]
        dgates, dh0, dc0 = b.lstm_sequence_backward(g, hc, acts, c0, w_hh)
        flat = dgates.reshape(steps * batch, 4 * hidden)
        dx = b.matmul(flat, w_ih).reshape(x.shape) if self.needs_input_grad[0] else None
        dw_ih = b.matmul(flat.T, x.reshape(steps * batch, inputs))
        # dW_hh = sum_t dgates_t^T h_{t-1}: steps 1.. against h_0 .. h_{T-2} (a view of hc), plus step 0 against h0
        dw_hh = b.matmul(dgates[0].T, h0)
        if steps > 1:
            dw_hh += b.matmul(flat[batch:].T, hc[:-1, :, :hidden].reshape((steps - 1) * batch, hidden))
        grads = (dx, dh0, dc0, dw_ih, dw_hh)
        if self.has_bias:
            db = flat.sum(axis=0)
            grads += (db, db)
        return grads
