"""The CS231n-style numerical gradient tools: right answers on known gradients and on tg's own backward,
x restored exactly, float64 enforced by a warning, clear errors, and rel_error's exact formula."""
import re
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as nn

pytestmark = pytest.mark.gradcheck

TOL = 1e-8
LINE = re.compile(r"^numerical: (\S+) analytic: (\S+), relative error: (\S+)$")


def away_from_zero(rng, *shape):
    """Values in ±[0.5, 1.5], so relative errors are not inflated by near-zero gradients."""
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def cube_sum(x):
    return (x ** 3).sum()


# ---- known analytic gradients --------------------------------------------------------------
def test_scalar_function_matches_its_known_gradient():
    x = away_from_zero(np.random.default_rng(0), 3, 4)
    num = tg.eval_numerical_gradient(cube_sum, x)
    assert num.shape == x.shape and num.dtype == np.float64
    assert tg.rel_error(num, 3 * x ** 2) < TOL


def test_matrix_product_with_upstream_gradient():
    rng = np.random.default_rng(1)
    x, w, df = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    dx = tg.eval_numerical_gradient_array(lambda x: x @ w, x, df)
    dw = tg.eval_numerical_gradient_array(lambda w: x @ w, w, df)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert tg.rel_error(dx, df @ w.T) < TOL
    assert tg.rel_error(dw, x.T @ df) < TOL


def test_array_version_with_ones_upstream_equals_scalar_version_of_the_sum():
    x = away_from_zero(np.random.default_rng(2), 5)
    a = tg.eval_numerical_gradient_array(lambda x: x ** 3, x, np.ones(5))
    b = tg.eval_numerical_gradient(cube_sum, x)
    assert tg.rel_error(a, b) < 1e-9  # the same differences, summed in a different order


def test_tensor_input_agrees_with_tgs_own_backward_of_linear_tanh():
    """Tensor inputs (x and a layer's weight) against the engine's analytic backward, float64 throughout."""
    rng = np.random.default_rng(3)
    tg.manual_seed(0)
    layer = nn.Linear(4, 3).double()
    x = tg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    df = rng.standard_normal((5, 3))
    layer(x).tanh().backward(tg.tensor(df))

    dx = tg.eval_numerical_gradient_array(lambda t: layer(t).tanh(), x, df)
    dw = tg.eval_numerical_gradient_array(lambda w: layer(x).tanh(), layer.weight, tg.tensor(df))
    db = tg.eval_numerical_gradient(lambda b: (layer(x).tanh() * tg.tensor(df)).sum(), layer.bias)
    assert tg.rel_error(dx, x.grad) < TOL
    assert tg.rel_error(dw, layer.weight.grad) < TOL
    assert tg.rel_error(db, layer.bias.grad) < TOL
    errors = tg.grad_check_sparse(lambda t: (layer(t).tanh() * tg.tensor(df)).sum(), x, x.grad, num_checks=5, seed=0)
    assert len(errors) == 5 and max(errors) < TOL


def test_f_may_return_a_number_an_array_or_a_tensor():
    x = away_from_zero(np.random.default_rng(4), 3)
    for f in (lambda x: float(cube_sum(x)), lambda x: np.array(cube_sum(x)), lambda x: np.array([cube_sum(x)]),
              lambda x: tg.tensor(cube_sum(x), dtype=tg.float64)):
        assert tg.rel_error(tg.eval_numerical_gradient(f, x), 3 * x ** 2) < TOL


def test_verbose_prints_each_index_and_its_gradient(capsys):
    x = np.array([1.0, -2.0])
    tg.eval_numerical_gradient(cube_sum, x, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("(0,)") and lines[1].startswith("(1,)")
    assert abs(float(lines[1].split()[-1]) - 12.0) < 1e-6


# ---- x is perturbed in place and restored exactly --------------------------------------------
def test_x_is_perturbed_in_place_and_restored_bit_for_bit():
    x = np.random.default_rng(5).standard_normal((3, 2))
    before = x.copy()
    seen = []

    def f(arg):
        assert arg is x, "f must receive x itself (perturbed in place)"
        seen.append(arg.copy())
        return cube_sum(arg)

    tg.eval_numerical_gradient(f, x)
    assert len(seen) == 2 * x.size
    assert all(int((s != before).sum()) == 1 for s in seen), "each call perturbs exactly one element"
    assert x.tobytes() == before.tobytes()
    tg.eval_numerical_gradient_array(lambda a: a * 2.0, x, np.ones_like(x))
    tg.grad_check_sparse(cube_sum, x, 3 * x ** 2, num_checks=4, seed=0)
    assert x.tobytes() == before.tobytes()


def test_tensor_data_is_perturbed_in_place_and_restored():
    t = tg.tensor(np.random.default_rng(6).standard_normal(4), requires_grad=True)
    data, before = t.array, t.array.copy()
    outputs = []

    def f(arg):
        outputs.append((arg * arg).sum())
        return outputs[-1]

    tg.eval_numerical_gradient(f, t)
    assert t.array is data and t.array.tobytes() == before.tobytes()
    assert not any(out.requires_grad for out in outputs), "f runs under tg.no_grad(): no graph is recorded"


def test_x_is_restored_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = []

    def f(arg):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return cube_sum(arg)

    with pytest.raises(RuntimeError, match="boom"):
        tg.eval_numerical_gradient(f, x)
    assert x.tobytes() == before.tobytes()


# ---- float64 by default: a warning for anything else, an error for integers ------------------
@pytest.mark.parametrize("name", ["eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_float32_input_warns_naming_function_and_dtype(name, as_tensor):
    x32 = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    x = tg.tensor(x32) if as_tensor else x32
    call = {"eval_numerical_gradient": lambda: tg.eval_numerical_gradient(cube_sum, x),
            "eval_numerical_gradient_array": lambda: tg.eval_numerical_gradient_array(lambda a: a ** 3, x, np.ones(3)),
            "grad_check_sparse": lambda: tg.grad_check_sparse(cube_sum, x, np.ones(3), num_checks=1, seed=0)}[name]
    with pytest.warns(UserWarning) as record:
        call()
    messages = [str(w.message) for w in record]
    message = next((m for m in messages if m.startswith(name + ":")), None)
    assert message is not None, messages
    assert "float32" in message and "1e-3" in message
    assert ".astype(np.float64)" in message and ".double()" in message
    assert record[0].filename == __file__, "the warning should point at the caller's line"


def test_float64_input_does_not_warn():
    x = np.array([0.5, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.eval_numerical_gradient(cube_sum, x)
        tg.eval_numerical_gradient_array(lambda a: a ** 3, x, np.ones(2))
        tg.grad_check_sparse(cube_sum, x, 3 * x ** 2, num_checks=1, seed=0)


@pytest.mark.parametrize("x", [np.arange(3), tg.arange(3), np.array([True, False])], ids=["numpy", "tensor", "bool"])
def test_integer_input_raises_type_error_naming_the_function(x):
    with pytest.raises(TypeError, match=r"^eval_numerical_gradient: x has dtype .*float"):
        tg.eval_numerical_gradient(cube_sum, x)
    with pytest.raises(TypeError, match=r"^eval_numerical_gradient_array: x has dtype"):
        tg.eval_numerical_gradient_array(lambda a: a, x, np.ones(x.shape))
    with pytest.raises(TypeError, match=r"^grad_check_sparse: x has dtype"):
        tg.grad_check_sparse(cube_sum, x, np.ones(x.shape))


def test_x_must_be_an_array_or_tensor():
    with pytest.raises(TypeError, match=r"^eval_numerical_gradient: x must be a numpy array or a CPU Tensor.*list"):
        tg.eval_numerical_gradient(cube_sum, [1.0, 2.0])


# ---- shape errors ----------------------------------------------------------------------------
def test_df_shape_mismatch_names_function_and_both_shapes():
    x = np.ones((2, 3))
    with pytest.raises(ValueError) as info:
        tg.eval_numerical_gradient_array(lambda a: a * 2.0, x, np.ones((3, 2)))
    message = str(info.value)
    assert message.startswith("eval_numerical_gradient_array:")
    assert "df has shape (3, 2)" in message and "f(x) has shape (2, 3)" in message
    assert np.array_equal(x, np.ones((2, 3)))


def test_analytic_grad_shape_mismatch_names_function_and_both_shapes():
    x = np.ones((2, 3))
    with pytest.raises(ValueError) as info:
        tg.grad_check_sparse(cube_sum, x, np.ones(6))
    message = str(info.value)
    assert message.startswith("grad_check_sparse:")
    assert "analytic_grad has shape (6,)" in message and "x has shape (2, 3)" in message


def test_missing_analytic_grad_says_to_call_backward():
    t = tg.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match=r"^grad_check_sparse: analytic_grad is None.*backward"):
        tg.grad_check_sparse(lambda t: t.sum(), t, t.grad)


def test_non_scalar_f_points_to_the_array_version():
    with pytest.raises(ValueError, match=r"^eval_numerical_gradient: f\(x\) must return a scalar, got shape \(3,\)"
                                         r".*eval_numerical_gradient_array"):
        tg.eval_numerical_gradient(lambda a: a * 2.0, np.ones(3))


# ---- grad_check_sparse -----------------------------------------------------------------------
def test_grad_check_sparse_small_errors_for_a_correct_gradient(capsys):
    x = away_from_zero(np.random.default_rng(7), 10, 10)
    errors = tg.grad_check_sparse(cube_sum, x, 3 * x ** 2, num_checks=7, seed=1)
    assert len(errors) == 7 and all(isinstance(e, float) for e in errors)
    assert max(errors) < TOL
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    for line, error in zip(lines, errors):
        m = LINE.match(line)
        assert m, f"not in CS231n's format: {line!r}"
        assert abs(float(m[1]) - float(m[2])) < 1e-5
        assert float(m[3]) == pytest.approx(error, rel=1e-5, abs=1e-20)


def test_grad_check_sparse_large_errors_for_a_wrong_gradient():
    x = away_from_zero(np.random.default_rng(8), 10, 10)
    wrong = 2 * x ** 2  # the factor should be 3: relative error (3-2)/(3+2) = 0.2 everywhere
    errors = tg.grad_check_sparse(cube_sum, x, wrong, num_checks=5, seed=2)
    assert len(errors) == 5
    assert min(errors) == pytest.approx(0.2, rel=1e-6)


def test_grad_check_sparse_is_reproducible_with_a_seed():
    x = away_from_zero(np.random.default_rng(9), 50)
    wrong = 3 * x ** 2 * np.linspace(1.0, 2.0, 50)  # a different error at every element
    first = tg.grad_check_sparse(cube_sum, x, wrong, num_checks=6, seed=3)
    again = tg.grad_check_sparse(cube_sum, x, wrong, num_checks=6, seed=3)
    other = tg.grad_check_sparse(cube_sum, x, wrong, num_checks=6, seed=4)
    assert first == again and first != other


def test_grad_check_sparse_with_zero_gradients_uses_the_floor_instead_of_dividing_by_zero():
    errors = tg.grad_check_sparse(lambda a: 0.0 * a.sum(), np.ones(4), np.zeros(4), num_checks=3, seed=0)
    assert errors == [0.0, 0.0, 0.0]
    # numerical 1e-10 against analytic 0: 1e-10 / max(1e-8, 1e-10) = 0.01, not 1e-10 / 1e-10 = 1
    errors = tg.grad_check_sparse(lambda a: 1e-10 * a.sum(), np.ones(4), np.zeros(4), num_checks=2, seed=0)
    assert errors == pytest.approx([0.01, 0.01], rel=1e-4)


# ---- rel_error -------------------------------------------------------------------------------
def test_rel_error_formula_on_hand_computed_values():
    assert tg.rel_error(np.array([1.0, 2.0]), np.array([1.1, 2.0])) == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert tg.rel_error(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 5.0]])) == \
        pytest.approx(1 / 9, rel=1e-12)
    assert tg.rel_error(-1.0, 1.0) == 1.0
    assert tg.rel_error(tg.tensor([1.0, 3.0]), np.array([1.0, 1.0])) == pytest.approx(0.5, rel=1e-7)
    assert type(tg.rel_error(np.array([1.0]), np.array([2.0]))) is float


def test_rel_error_floor_of_1e_minus_8():
    assert tg.rel_error(0.0, 0.0) == 0.0
    # |x| + |y| = 1e-9 is below the floor: 1e-9 / 1e-8, not 1e-9 / 1e-9
    assert tg.rel_error(0.0, 1e-9) == pytest.approx(0.1, rel=1e-12)
    assert tg.rel_error(1e-9, 3e-9) == pytest.approx(0.2, rel=1e-12)
    # above the floor the floor does nothing
    assert tg.rel_error(1e-6, 3e-6) == pytest.approx(0.5, rel=1e-12)


def test_rel_error_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"^rel_error: x has shape \(3,\) but y has shape \(3, 1\)"):
        tg.rel_error(np.ones(3), np.ones((3, 1)))


# ---- size 0 ----------------------------------------------------------------------------------
def test_size_zero_input_gives_an_empty_gradient_without_calling_f():
    def f(_):
        raise AssertionError("f should not be called for an empty x")

    x = np.zeros((0, 3))
    num = tg.eval_numerical_gradient(f, x)
    assert num.shape == (0, 3)
    assert tg.eval_numerical_gradient_array(f, x, np.zeros((2,))).shape == (0, 3)
    assert tg.eval_numerical_gradient(f, tg.zeros(0, dtype=tg.float64)).shape == (0,)
    assert tg.grad_check_sparse(f, x, np.zeros((0, 3)), num_checks=5, seed=0) == []
    assert tg.rel_error(np.zeros(0), np.zeros(0)) == 0.0
    assert tg.rel_error(num, np.zeros((0, 3))) == 0.0
