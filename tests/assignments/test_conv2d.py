"""Graded: conv2d (15 points). im2col, col2im (its adjoint), conv2d values and gradients: stride, padding, groups."""
import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu.backends import get_backend
from grading import assert_close, check_gradients

pytestmark = pytest.mark.assignment("conv2d")

# (input shape, kernel size, stride, padding, dilation): each has some overlap, gap, padding or dilation
GEOMETRIES = [
    ((2, 3, 5, 6), (3, 2), (1, 1), (0, 0), (1, 1)),
    ((1, 2, 7, 6), (3, 3), (2, 1), (1, 2), (1, 2)),
    ((2, 1, 6, 7), (2, 3), (2, 3), (2, 1), (2, 1)),
]


def _normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def _output_hw(in_hw, kernel, stride, padding, dilation):
    """How many window positions fit along each axis: the last window must end inside the padded input."""
    span = [dilation[a] * (kernel[a] - 1) + 1 for a in (0, 1)]
    return tuple(len(range(0, in_hw[a] + 2 * padding[a] - span[a] + 1, stride[a])) for a in (0, 1))


def _source_pixel(geometry_args, out_pos, offset):
    """The (row, col) of the unpadded input read by kernel offset `offset` at output position `out_pos`."""
    stride, padding, dilation = geometry_args
    return tuple(out_pos[a] * stride[a] + offset[a] * dilation[a] - padding[a] for a in (0, 1))


def _im2col_by_definition(x, kernel, stride, padding, dilation):
    """Element by element: row (c, i, j), column (y, x) of item n is the input pixel that offset (i, j) of the
    window at (y, x) sees, or 0 when that pixel lies in the padding."""
    n, c, h, w = x.shape
    oh, ow = _output_hw((h, w), kernel, stride, padding, dilation)
    result = np.zeros((n, c * kernel[0] * kernel[1], oh * ow))
    for ch, i, j, y, xx in np.ndindex(c, kernel[0], kernel[1], oh, ow):
        r, s = _source_pixel((stride, padding, dilation), (y, xx), (i, j))
        if 0 <= r < h and 0 <= s < w:
            result[:, (ch * kernel[0] + i) * kernel[1] + j, y * ow + xx] = x[:, ch, r, s]
    return result


def _col2im_by_definition(cols, x_shape, kernel, stride, padding, dilation):
    """Every column entry that was read from an in-bounds pixel is added back into that pixel."""
    n, c, h, w = x_shape
    oh, ow = _output_hw((h, w), kernel, stride, padding, dilation)
    image = np.zeros(x_shape)
    for ch, i, j, y, xx in np.ndindex(c, kernel[0], kernel[1], oh, ow):
        r, s = _source_pixel((stride, padding, dilation), (y, xx), (i, j))
        if 0 <= r < h and 0 <= s < w:
            image[:, ch, r, s] = image[:, ch, r, s] + cols[:, (ch * kernel[0] + i) * kernel[1] + j, y * ow + xx]
    return image


def _conv_by_definition(x, weight, bias, stride, padding, dilation, groups):
    """A direct convolution: for each output channel and position, the dot product of the weight with the
    (dilated) receptive field of that channel's group."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    oh, ow = _output_hw((h, w), (kh, kw), stride, padding, dilation)
    big = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]))
    big[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w] = x
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc, y, xx in np.ndindex(o, oh, ow):
        first_channel = (oc // per_group) * cg
        r0, s0 = y * stride[0], xx * stride[1]
        field = big[:, first_channel:first_channel + cg,
                    r0:r0 + dilation[0] * (kh - 1) + 1:dilation[0], s0:s0 + dilation[1] * (kw - 1) + 1:dilation[1]]
        out[:, oc, y, xx] = np.einsum("ncij,cij->n", field, weight[oc]) + (0.0 if bias is None else bias[oc])
    return out


@pytest.mark.points(3)
def test_im2col_matches_the_definition():
    cpu = get_backend("cpu")
    for number, (shape, kernel, stride, padding, dilation) in enumerate(GEOMETRIES):
        (x,) = _normal(10 + number, shape)
        cols = cpu.im2col(x, kernel, stride, padding, dilation)
        expected = _im2col_by_definition(x, kernel, stride, padding, dilation)
        assert_close(cols, expected, f"im2col, geometry {number} (kernel {kernel}, stride {stride}, "
                                     f"padding {padding}, dilation {dilation})")


@pytest.mark.points(2)
def test_col2im_adds_every_entry_back_into_its_pixel():
    cpu = get_backend("cpu")
    for number, (shape, kernel, stride, padding, dilation) in enumerate(GEOMETRIES):
        oh, ow = _output_hw(shape[2:], kernel, stride, padding, dilation)
        (cols,) = _normal(20 + number, (shape[0], shape[1] * kernel[0] * kernel[1], oh * ow))
        image = cpu.col2im(cols.copy(), shape, kernel, stride, padding, dilation)
        expected = _col2im_by_definition(cols, shape, kernel, stride, padding, dilation)
        assert_close(image, expected, f"col2im, geometry {number} (kernel {kernel}, stride {stride}, "
                                      f"padding {padding}, dilation {dilation})")
    # all-ones columns: each pixel receives the number of windows that read it
    shape, kernel, stride, padding, dilation = (1, 1, 4, 4), (3, 3), (1, 1), (1, 1), (1, 1)
    counts = cpu.col2im(np.ones((1, 9, 16)), shape, kernel, stride, padding, dilation)
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], dtype=float).reshape(shape)
    assert_close(counts, expected, "col2im of ones counts the windows reading each pixel")


@pytest.mark.points(2)
def test_col2im_is_the_adjoint_of_im2col():
    cpu = get_backend("cpu")
    for number, (shape, kernel, stride, padding, dilation) in enumerate(GEOMETRIES):
        oh, ow = _output_hw(shape[2:], kernel, stride, padding, dilation)
        x, y = _normal(30 + number, shape, (shape[0], shape[1] * kernel[0] * kernel[1], oh * ow))
        left = float(np.sum(np.asarray(cpu.im2col(x.copy(), kernel, stride, padding, dilation)) * y))
        right = float(np.sum(x * np.asarray(cpu.col2im(y.copy(), shape, kernel, stride, padding, dilation))))
        assert_close(left, right, f"<im2col(x), Y> == <x, col2im(Y)>, geometry {number}", rtol=1e-10)


@pytest.mark.points(3)
def test_conv2d_forward_matches_a_direct_convolution():
    cases = [  # (x shape, weight shape, bias?, stride, padding, dilation, groups)
        ((2, 3, 6, 5), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
        ((1, 2, 7, 8), (3, 2, 3, 2), False, (2, 3), (1, 2), (2, 1), 1),
        ((2, 4, 5, 5), (6, 2, 2, 3), True, (1, 2), (1, 1), (1, 2), 2),
    ]
    for number, (x_shape, w_shape, has_bias, stride, padding, dilation, groups) in enumerate(cases):
        x, w, b = _normal(40 + number, x_shape, w_shape, (w_shape[0],))
        b = b if has_bias else None
        out = F.conv2d(tg.tensor(x), tg.tensor(w), None if b is None else tg.tensor(b), stride=stride,
                       padding=padding, dilation=dilation, groups=groups)
        expected = _conv_by_definition(x, w, b, stride, padding, dilation, groups)
        assert_close(out, expected, f"conv2d case {number} (stride {stride}, padding {padding}, "
                                    f"dilation {dilation}, groups {groups})")


@pytest.mark.points(2)
def test_conv2d_gradients_with_stride_padding_and_dilation():
    x, w, b = _normal(50, (2, 2, 5, 4), (3, 2, 2, 2), (3,))
    check_gradients("conv2d, stride 1, no padding", lambda x, w, b: F.conv2d(x, w, b), x, w, b)
    x, w, b = _normal(51, (1, 2, 6, 5), (2, 2, 3, 2), (2,))
    check_gradients("conv2d, stride (2, 1), padding (1, 2), dilation (1, 2)",
                    lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2)), x, w, b)


@pytest.mark.points(2)
def test_conv2d_gradients_with_groups_and_no_bias():
    x, w = _normal(60, (2, 4, 4, 4), (4, 2, 2, 2))
    check_gradients("conv2d, groups 2, stride 2, padding 1, no bias",
                    lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), x, w)



@pytest.mark.points(1)
def test_weight_and_bias_gradients_sum_over_the_batch():
    x, w, b, g = _normal(70, (3, 2, 4, 6), (2, 2, 2, 3), (2,), (3, 2, 2, 2))
    tx, tw, tb = tg.tensor(x), tg.tensor(w, requires_grad=True), tg.tensor(b, requires_grad=True)
    F.conv2d(tx, tw, tb, stride=(2, 1), dilation=(1, 2)).backward(tg.tensor(g))
    fields = _im2col_by_definition(x, (2, 3), (2, 1), (0, 0), (1, 2))        # (N, C*kh*kw, OH*OW)
    expected_dw = np.einsum("nol,nkl->ok", g.reshape(3, 2, -1), fields).reshape(w.shape)
    assert tx.grad is None
    assert_close(tw.grad, expected_dw, "dW = sum over n of dy_n cols_n^T")
    assert_close(tb.grad, g.sum(axis=(0, 2, 3)), "db = dy summed over batch and space")
