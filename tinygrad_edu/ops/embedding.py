"""Embedding lookup: rows of a weight matrix picked by integer indices."""
from ..autograd import Function


class Embedding(Function):
    """y = weight[idx];  dweight = zeros with dy added at each looked-up row (repeated rows accumulate).
    `idx` (int64) gets no gradient. Arguments are (weight, idx) so weight is input 0."""
    def forward(self, weight, idx):
        self.save_for_backward(idx)
        self.weight_shape = weight.shape
        return weight[idx]

    def backward(self, g):
        idx, = self.saved
        dweight = self.xp.zeros(self.weight_shape, dtype=g.dtype)
        self.backend.index_add(dweight, idx.reshape(-1), g.reshape(-1, self.weight_shape[1]))
        return dweight, None
