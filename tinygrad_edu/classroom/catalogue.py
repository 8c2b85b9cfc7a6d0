"""The assignments: what a course hands out, cut from the library's own source.

Each assignment names the solution regions it removes (see regions.py) and the
graded tests in tests/assignments/ (one file per assignment; the points of each test
are declared on it with `@pytest.mark.points(n)` and add up to the assignment's).

A region is named either by its file, meaning every region in that file whose marker
carries this assignment's id (`# BEGIN SOLUTION conv2d`), or by `file::function` for
markers without an id (nbgrader's and CS231n's).
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    points: int
    regions: tuple      # file paths (regions marked with this id) or "file::function" (unnamed markers)
    tests: tuple        # graded test files, relative to the repository root
    minutes: int        # what it takes a student, estimated: reading, writing, debugging
    statement: str

    @property
    def test_file(self):
        return self.tests[0]


def _tests(assignment_id):
    return (f"tests/assignments/test_{assignment_id.replace('-', '_')}.py",)


_LESSON1 = "lessons/01_scalar_autograd.py"
_NUMPY = "tinygrad_edu/backends/numpy_backend.py"

ASSIGNMENTS = (
    Assignment(
        "scalar-autograd", "Scalar autograd: the backward of each Value operation", 10,
        tuple(f"{_LESSON1}::Value.{name}" for name in
              ("__mul__._backward", "__pow__._backward", "tanh._backward", "exp._backward", "log._backward",
               "backward")),
        _tests("scalar-autograd"), 90,
        "Lesson 1 builds a micrograd-style engine over single numbers. `Value.__add__` is written out as the "
        "worked example; write the `_backward` closure of `*`, `**k`, `tanh`, `exp` and `log` (each adds its "
        "share of `out.grad` into its inputs' `.grad` by the chain rule), and `Value.backward`, which orders "
        "the graph topologically and calls every node's `_backward` once, outputs first. The tests compare "
        "your gradients with exact derivatives on expressions that reuse a node, so `=` instead of `+=` fails."),
    Assignment(
        "topo-sort", "The backward pass: topological order and gradient accumulation", 10,
        ("tinygrad_edu/autograd.py",), _tests("topo-sort"), 120,
        "`Tensor.backward` visits the graph's `Function` nodes so that every node runs after all the nodes "
        "that consume its output. Write `_toposort` iteratively (a graph 10,000 ops deep must not hit "
        "Python's recursion limit), the step of `run_backward` that sends each input gradient either to a "
        "leaf or to the node that produced that input (adding when a node feeds several consumers), and "
        "`_accumulate_leaf`, which makes the first gradient the leaf's own `.grad` and adds later ones."),
    Assignment(
        "unbroadcast", "Broadcasting backward: unbroadcast", 10,
        ("tinygrad_edu/broadcast.py",), _tests("unbroadcast"), 45,
        "When an op broadcasts an input up to a larger shape, the input was copied along the new or size-1 "
        "axes, so its gradient is the output gradient summed over exactly those axes. Write `unbroadcast("
        "grad, shape)`, used by every binary op's backward. Shapes with leading dims added, size-1 dims "
        "stretched, both at once, and nothing to do at all are tested through add, mul and matmul."),
    Assignment(
        "matmul-backward", "Matrix product backward", 10,
        ("tinygrad_edu/ops/matmul.py",), _tests("matmul-backward"), 60,
        "Write `MatMul.backward` for C = A @ B with numpy's matmul semantics: dA = dC B^T and dB = A^T dC, "
        "with batch dimensions broadcast in the forward summed back (use your `unbroadcast`), and 1-D "
        "operands (a vector on the left or right) handled as numpy does. Checked against float64 central "
        "differences along random directions, for 2-D, batched, broadcast and 1-D cases."),
    Assignment(
        "softmax-cross-entropy", "Softmax and cross-entropy, forward and backward", 10,
        (_NUMPY,), _tests("softmax-cross-entropy"), 90,
        "Write the CPU backend's softmax, log-softmax and their vector-Jacobian products, and the fused "
        "`cross_entropy` that returns each row's loss and dloss/dlogits in one pass (with `ignore_index` and "
        "`label_smoothing`, as PyTorch defines them). Logits of 1000 must not overflow: shift by the row "
        "maximum. Tested against the definitions, PyTorch's conventions and finite differences."),
    Assignment(
        "mlp-digits", "Linear layer, and an MLP that reads handwritten digits", 10,
        ("tinygrad_edu/ops/linear.py",), _tests("mlp-digits"), 75,
        "Write the forward (y = x W^T + b, W shaped (out, in) as in PyTorch) and the backward of the fused "
        "`Linear` op that `nn.Linear` uses. Then the test trains a two-layer MLP on the 8x8 digits with your "
        "layer and plain SGD: it must reach at least 95% test accuracy."),
    Assignment(
        "conv2d", "Convolution: im2col forward, col2im backward", 15,
        ("tinygrad_edu/ops/conv.py", _NUMPY), _tests("conv2d"), 180,
        "A convolution is one matrix product once every receptive field is copied into a column (im2col). "
        "Write the CPU backend's `im2col` (with stride, padding and dilation), its adjoint `col2im` (which "
        "adds each column entry back into the pixel it came from), and `Conv2d.backward`: dx through col2im, "
        "dW summed over the batch, db. Lesson 4 trains its CNN with your code once this passes."),
    Assignment(
        "max-pool-backward", "Max-pooling backward", 10,
        (_NUMPY,), _tests("max-pool-backward"), 60,
        "Write the CPU backend's `max_pool2d_backward`: each window's gradient goes to the element that was "
        "its maximum (the first one, on ties, as in PyTorch), and where windows overlap the contributions "
        "add up. No Python loop over positions: loop over the kh*kw window offsets only."),
    Assignment(
        "batchnorm-backward", "Batch normalisation backward", 10,
        ("tinygrad_edu/ops/normalization.py",), _tests("batchnorm-backward"), 90,
        "Derive and write the backward of normalisation: dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * "
        "xhat)) / std over the normalised axes, shared by LayerNorm and BatchNorm, and `BatchNormTrain."
        "backward` with the gradients of weight and bias. Checked in float64 with finite differences for 2-D "
        "and 4-D inputs, with and without an affine transform."),
    Assignment(
        "lstm-cell", "LSTM cell, forward and backward", 15,
        (_NUMPY, "tinygrad_edu/backends/lstm_sequence.py"), _tests("lstm-cell"), 150,
        "Write the CPU backend's `lstm_cell_forward` (gate pre-activations in PyTorch's order i, f, g, o; "
        "c = f c_prev + i g; h = o tanh(c)) and `lstm_cell_backward`, which returns the gradient with respect "
        "to the four gates' pre-activations and to c_prev. `nn.LSTM` runs its time loop on these; the tests "
        "compare a whole sequence against finite differences and against the definition."),
    Assignment(
        "attention-backward", "Scaled dot-product attention backward", 15,
        (_NUMPY,), _tests("attention-backward"), 150,
        "Write the CPU backend's `attention_backward`: recompute the attention probabilities P from the "
        "saved logsumexp instead of storing them, then dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * "
        "O)), dQ = scale dS K and dK = scale dS^T Q. Tested with and without a causal mask and an additive "
        "mask, in float64 against finite differences."),
    Assignment(
        "adam", "The Adam step", 10,
        ("tinygrad_edu/optim/adam.py::Adam.step",), _tests("adam"), 60,
        "Write the update of `Adam.step` exactly as PyTorch does it: first and second moments, bias "
        "correction, eps added after the square root, and the `amsgrad` variant. (Weight decay is done for "
        "you above the region.) Several steps are compared with the formula written out in the test, and "
        "AdamW, which shares your code, with its own rule."),
    Assignment(
        "gpu-reduce", "GPU kernel: a shared-memory tree reduction", 15,
        ("kernels/reduce.py",), _tests("gpu-reduce"), 150,
        "Write the two phases of `kernels/reduce.py` in Numba CUDA: each thread folds a strided slice of its "
        "block's piece of a row into a private partial, then the block combines the partials in a tree in "
        "shared memory, with a barrier between levels. Graded under Numba's CUDA simulator (no GPU needed) "
        "for sum, max and min over rows of many lengths, including lengths that are not powers of two."),
    Assignment(
        "gpu-matmul", "GPU kernel: a tiled shared-memory matrix product", 15,
        ("kernels/matmul.py",), _tests("gpu-matmul"), 180,
        "Write the loop over K tiles of `kernels/matmul.py`: the block's threads load one tile of A and one "
        "of B into shared memory (zeros where a tile sticks out of the matrix), synchronise, and each thread "
        "accumulates its per_thread x per_thread outputs from the tiles. Graded under Numba's CUDA simulator "
        "for shapes that are not multiples of the tile, and for batched operands."),
)

BY_ID = {a.id: a for a in ASSIGNMENTS}


def get(assignment_id):
    """The assignment with this id, or a KeyError listing the ids there are."""
    try:
        return BY_ID[assignment_id]
    except KeyError:
        raise KeyError(f"no assignment {assignment_id!r}; the catalogue has: {', '.join(BY_ID)}") from None


def assignment_of(region):
    """The id of the assignment that cuts `region`, or None. A marker's own id wins; an unnamed marker is
    looked up by `file::function` in the catalogue."""
    if region.marker_id is not None:
        return region.marker_id
    for assignment in ASSIGNMENTS:
        if region.key in assignment.regions:
            return assignment.id
    return None


def regions_of(assignment, regions):
    """The regions (from `regions`, every region of the source) that `assignment` cuts."""
    return [r for r in regions if assignment_of(r) == assignment.id]
