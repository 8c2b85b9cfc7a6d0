"""Graded: lstm-cell (15 points). The LSTM cell forward and backward, alone and through LSTMCell and LSTM."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.backends import get_backend
from tinygrad_edu.ops.lstm import LSTMLayer
from grading import assert_close, check_gradients, numerical_gradient

pytestmark = pytest.mark.assignment("lstm-cell")

BATCH, HIDDEN, INPUT = 3, 4, 2


def _normal(seed, *shapes, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(shape) for shape in shapes]


def _logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def _cell_by_definition(z, cell):
    """PyTorch's LSTM cell from its gate pre-activations z = [z_i | z_f | z_g | z_o] -> (h, c, activations)."""
    blocks = [z[:, k * HIDDEN:(k + 1) * HIDDEN] for k in range(4)]
    in_gate, forget_gate, out_gate = _logistic(blocks[0]), _logistic(blocks[1]), _logistic(blocks[3])
    candidate = np.tanh(blocks[2])
    new_cell = forget_gate * cell + in_gate * candidate
    new_hidden = out_gate * np.tanh(new_cell)
    return new_hidden, new_cell, np.hstack([in_gate, forget_gate, candidate, out_gate])


def _sequence_by_definition(xs, h, c, w_ih, w_hh, b_ih, b_hh):
    """h_t, c_t for every step t of xs (T, B, I), with the gates x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh."""
    hs, cs = [], []
    for x in xs:
        h, c, _ = _cell_by_definition(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs), np.stack(cs)


@pytest.mark.points(3)
def test_cell_forward_matches_the_definition():
    z, c = _normal(1, (BATCH, 4 * HIDDEN), (BATCH, HIDDEN), scale=1.5)
    h_out, c_out, acts = get_backend("cpu").lstm_cell_forward(z.copy(), c.copy())
    h_ref, c_ref, acts_ref = _cell_by_definition(z, c)
    assert_close(acts, acts_ref, "activated gates, in the order i, f, g, o")
    assert_close(c_out, c_ref, "c = f * c_prev + i * g")
    assert_close(h_out, h_ref, "h = o * tanh(c)")


@pytest.mark.points(3)
def test_cell_backward_matches_the_definition():
    z, c, dh, dc = _normal(2, (BATCH, 4 * HIDDEN), (BATCH, HIDDEN), (BATCH, HIDDEN), (BATCH, HIDDEN))
    cpu = get_backend("cpu")
    _, c_out, acts = cpu.lstm_cell_forward(z.copy(), c.copy())
    dz, dc_prev = cpu.lstm_cell_backward(dh.copy(), dc.copy(), acts, c.copy(), c_out)
    # the same vector-Jacobian product by the chain rule on the pre-activations:
    # logistic'(z) = 1 / (4 cosh^2(z/2)),  tanh'(z) = 1 / cosh^2(z)
    zi, zf, zg, zo = (z[:, k * HIDDEN:(k + 1) * HIDDEN] for k in range(4))
    new_cell = _logistic(zf) * c + _logistic(zi) * np.tanh(zg)
    carried = dc + dh * _logistic(zo) / np.cosh(new_cell) ** 2          # dL/dc through both paths
    expected = np.hstack([carried * np.tanh(zg) / (4 * np.cosh(zi / 2) ** 2),
                          carried * c / (4 * np.cosh(zf / 2) ** 2),
                          carried * _logistic(zi) / np.cosh(zg) ** 2,
                          dh * np.tanh(new_cell) / (4 * np.cosh(zo / 2) ** 2)])
    assert_close(dz, expected, "d loss / d gate pre-activations (i, f, g, o)", rtol=1e-9, atol=1e-12)
    assert_close(dc_prev, carried * _logistic(zf), "d loss / d c_prev", rtol=1e-9, atol=1e-12)


@pytest.mark.points(2)
def test_lstm_cell_gradients_of_every_input():
    x, h, c, w_ih, w_hh, b_ih, b_hh = _normal(3, (BATCH, INPUT), (BATCH, HIDDEN), (BATCH, HIDDEN),
                                              (4 * HIDDEN, INPUT), (4 * HIDDEN, HIDDEN), (4 * HIDDEN,),
                                              (4 * HIDDEN,), scale=0.8)

    def both(*tensors):
        h_new, c_new = F.lstm_cell(*tensors)
        return tg.cat([h_new, c_new], dim=1)
    check_gradients("F.lstm_cell -> [h', c']", both, x, h, c, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.points(2)
def test_lstm_cell_module_over_a_sequence():
    tg.manual_seed(4)
    cell = nn.LSTMCell(INPUT, HIDDEN).double()
    xs, g = _normal(5, (3, BATCH, INPUT), (BATCH, HIDDEN))
    params = {name: p for name, p in cell.named_parameters()}

    def run():
        state = None
        for x in xs:
            state = cell(tg.tensor(x), state)
        return state[0]
    run().backward(tg.tensor(g))
    h_ref, _ = _sequence_by_definition(xs, np.zeros((BATCH, HIDDEN)), np.zeros((BATCH, HIDDEN)),
                                       *(params[n].array for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
    with tg.no_grad():
        assert_close(run(), h_ref[-1], "h after 3 steps of nn.LSTMCell")
    for name in ("weight_ih", "weight_hh", "bias_ih"):
        def forward():
            with tg.no_grad():
                return run().array
        expected = numerical_gradient(forward, params[name].array, g)
        assert_close(params[name].grad, expected, f"d h_3 / d {name} over 3 steps", rtol=1e-5, atol=1e-7)


@pytest.mark.points(3)
def test_lstm_layer_gradients_over_a_sequence():
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _normal(6, (4, 2, INPUT), (2, HIDDEN), (2, HIDDEN), (4 * HIDDEN, INPUT),
                                                (4 * HIDDEN, HIDDEN), (4 * HIDDEN,), (4 * HIDDEN,), scale=0.7)
    check_gradients("LSTM layer, 4 steps, every h_t and c_t", lambda *t: LSTMLayer.apply(*t),
                    x, h0, c0, w_ih, w_hh, b_ih, b_hh)


@pytest.mark.points(2)
def test_lstm_module_output_and_input_gradient():
    tg.manual_seed(7)
    lstm = nn.LSTM(INPUT, HIDDEN).double()
    (xs,) = _normal(8, (5, 2, INPUT))
    out, (h_n, c_n) = lstm(tg.tensor(xs))
    weights = [getattr(lstm, n).array for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    hs, cs = _sequence_by_definition(xs, np.zeros((2, HIDDEN)), np.zeros((2, HIDDEN)), *weights)
    assert_close(out, hs, "nn.LSTM output: h_t for every step")
    assert_close(c_n, cs[-1:], "nn.LSTM c_n")
    check_gradients("nn.LSTM output w.r.t. its input sequence", lambda x: lstm(x)[0], xs)
