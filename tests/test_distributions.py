"""tinygrad_edu.distributions against torch.distributions: log_prob, entropy, moments and their gradients on the same
float64 parameters (plus a float64 gradcheck), rsample's gradient, sampling statistics, kl_divergence, shapes and
errors."""
import math
import re

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions
pytestmark = pytest.mark.nn

TIGHT = dict(rtol=1e-12, atol=1e-12)


def rng(seed=0):
    return np.random.default_rng(seed)


def both(array, requires_grad=True):
    """The same float64 data as a tinygrad_edu tensor and a torch tensor."""
    return (tg.tensor(array, dtype=tg.float64, requires_grad=requires_grad),
            torch.tensor(array, dtype=torch.float64, requires_grad=requires_grad))


def close(ours, theirs, **tolerance):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **(tolerance or TIGHT))


def same_value_and_grad(ours_fn, theirs_fn, arrays, seed=0):
    """ours_fn(*tg leaves) == theirs_fn(*torch leaves), and so are the gradients of a random projection of it."""
    pairs = [both(a) for a in arrays]
    ours, theirs = ours_fn(*[p[0] for p in pairs]), theirs_fn(*[p[1] for p in pairs])
    assert tuple(ours.shape) == tuple(theirs.shape)
    close(ours, theirs)
    v = rng(seed).standard_normal(tuple(theirs.shape))
    ours.backward(tg.tensor(v))
    theirs.backward(torch.tensor(v))
    for mine, torchs in pairs:
        if torchs.grad is None:                     # not an input of the result (entropy ignores loc)
            assert mine.grad is None
        else:
            np.testing.assert_allclose(mine.grad.numpy(), torchs.grad.numpy(), **TIGHT)


def gradcheck(fn, arrays):
    assert tg.gradcheck(fn, tuple(tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays))


def simplex(shape, seed=0):
    p = rng(seed).uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


# ---- Categorical ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 1, 5)])
@pytest.mark.parametrize("by", ["probs", "logits"])
def test_categorical_matches_torch(shape, by):
    raw = rng(1).uniform(0.2, 2.0, shape) if by == "probs" else rng(1).standard_normal(shape)
    value = rng(2).integers(0, shape[-1], (3,) + shape[:-1])        # a sample dim in front of the batch
    make = lambda L, x: getattr(L, "Categorical")(**{by: x})        # noqa: E731

    ours, theirs = make(D, tg.tensor(raw, dtype=tg.float64)), make(TD, torch.tensor(raw, dtype=torch.float64))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape) == ()
    close(ours.probs, theirs.probs)
    close(ours.logits, theirs.logits)
    close(ours.mean, theirs.mean, equal_nan=True)                   # NaN, the shape of the batch
    close(ours.variance, theirs.variance, equal_nan=True)

    same_value_and_grad(lambda x: make(D, x).log_prob(tg.tensor(value)),
                        lambda x: make(TD, x).log_prob(torch.tensor(value)), [raw])
    same_value_and_grad(lambda x: make(D, x).entropy(), lambda x: make(TD, x).entropy(), [raw])
    gradcheck(lambda x: make(D, x).log_prob(tg.tensor(value)), [raw])
    gradcheck(lambda x: make(D, x).entropy(), [raw])


def test_categorical_log_prob_broadcasts_like_torch():
    logits = rng(3).standard_normal((2, 3, 4))
    for value in ([1, 3, 0], 2, [[0], [3]], [[[[1, 2, 3]]]]):
        ours = D.Categorical(logits=tg.tensor(logits)).log_prob(tg.tensor(value))
        theirs = TD.Categorical(logits=torch.tensor(logits)).log_prob(torch.tensor(value))
        close(ours, theirs)
    ours = D.Categorical(logits=tg.tensor(logits)).log_prob(tg.tensor([1.0, 3.0, 0.0]))   # whole floats are fine
    close(ours, TD.Categorical(logits=torch.tensor(logits)).log_prob(torch.tensor([1.0, 3.0, 0.0])))


def test_categorical_with_impossible_classes_matches_torch():
    """A class of probability 0 (logit -inf, or probs 0): entropy counts 0 log 0 as 0, and gradients stay finite."""
    logits = [[0.5, -math.inf, 1.0], [-math.inf, 2.0, -1.0]]
    same_value_and_grad(lambda x: D.Categorical(logits=x).entropy(), lambda x: TD.Categorical(logits=x).entropy(),
                        [logits])
    probs = [[0.5, 0.0, 0.5], [0.0, 0.25, 0.75]]
    same_value_and_grad(lambda x: D.Categorical(probs=x).entropy(), lambda x: TD.Categorical(probs=x).entropy(),
                        [probs])
    same_value_and_grad(lambda x: D.Categorical(probs=x).log_prob(tg.tensor([1, 2])),
                        lambda x: TD.Categorical(probs=x).log_prob(torch.tensor([1, 2])), [probs])


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)])
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_categorical_sample_shape_and_range(batch, sample_shape):
    probs = simplex(batch + (3,))
    ours = D.Categorical(probs=tg.tensor(probs, requires_grad=True)).sample(sample_shape)
    theirs = TD.Categorical(probs=torch.tensor(probs)).sample(sample_shape)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == tg.int64 and not ours.requires_grad
    assert 0 <= ours.numpy().min() and ours.numpy().max() <= 2


def test_categorical_sample_frequencies_and_seed():
    probs = [[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.0, 0.3]]
    dist = D.Categorical(probs=tg.tensor(probs, dtype=tg.float64))
    tg.manual_seed(0)
    samples = dist.sample((20000,)).numpy()
    for row in range(2):
        frequencies = np.bincount(samples[:, row], minlength=4) / len(samples)
        np.testing.assert_allclose(frequencies, probs[row], atol=0.015)
    assert (samples[:, 1] != 1).all() and (samples[:, 1] != 2).all()         # never an impossible class
    tg.manual_seed(0)
    assert (dist.sample((20000,)).numpy() == samples).all()                  # reproducible under manual_seed


def test_categorical_log_prob_of_its_samples_trains_a_policy():
    """REINFORCE's loss on sampled actions: gradients reach the logits, not the (integer) samples."""
    logits = tg.zeros(8, 3, dtype=tg.float64, requires_grad=True)
    dist = D.Categorical(logits=logits)
    actions = dist.sample()
    (-(dist.log_prob(actions) * tg.ones(8, dtype=tg.float64)).mean()).backward()
    onehot = np.eye(3)[actions.numpy()]
    np.testing.assert_allclose(logits.grad.numpy(), -(onehot - 1 / 3) / 8, **TIGHT)


# ---- Normal --------------------------------------------------------------------------------------
@pytest.mark.parametrize("loc_shape, scale_shape, value_shape", [((3,), (3,), (3,)), ((2, 1), (3,), (4, 1, 3)),
                                                                 ((), (2,), ())])
def test_normal_matches_torch(loc_shape, scale_shape, value_shape):
    loc, scale = rng(4).standard_normal(loc_shape), rng(5).uniform(0.5, 2.0, scale_shape)
    value = rng(6).standard_normal(value_shape)
    ours, theirs = D.Normal(tg.tensor(loc), tg.tensor(scale)), TD.Normal(torch.tensor(loc), torch.tensor(scale))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == ()
    for name in ("mean", "stddev", "variance"):
        close(getattr(ours, name), getattr(theirs, name))

    same_value_and_grad(lambda m, s: D.Normal(m, s).log_prob(tg.tensor(value)),
                        lambda m, s: TD.Normal(m, s).log_prob(torch.tensor(value)), [loc, scale])
    same_value_and_grad(lambda m, s, x: D.Normal(m, s).log_prob(x), lambda m, s, x: TD.Normal(m, s).log_prob(x),
                        [loc, scale, value])                                  # d/dvalue too
    same_value_and_grad(lambda m, s: D.Normal(m, s).entropy(), lambda m, s: TD.Normal(m, s).entropy(), [loc, scale])
    same_value_and_grad(lambda m, s: D.Normal(m, s).variance, lambda m, s: TD.Normal(m, s).variance, [loc, scale])
    gradcheck(lambda m, s: D.Normal(m, s).log_prob(tg.tensor(value)), [loc, scale])
    gradcheck(lambda s: D.Normal(tg.tensor(loc), s).entropy(), [scale])


def test_normal_from_numbers_matches_torch():
    ours, theirs = D.Normal(0.5, 2.0), TD.Normal(0.5, 2.0)
    assert ours.batch_shape == tuple(theirs.batch_shape) == () and ours.loc.dtype == tg.float32
    close(ours.log_prob(tg.tensor([0.0, 1.0])), theirs.log_prob(torch.tensor([0.0, 1.0])), rtol=1e-6)
    close(ours.entropy(), theirs.entropy(), rtol=1e-6)
    mixed, theirs = D.Normal(tg.tensor([0.0, 1.0], dtype=tg.float64), 2.0), TD.Normal(torch.tensor([0.0, 1.0]), 2.0)
    assert mixed.scale.dtype == tg.float64 and mixed.batch_shape == tuple(theirs.batch_shape) == (2,)


def test_normal_rsample_gradient_matches_torch_for_the_same_noise():
    loc, scale = rng(7).standard_normal((2, 3)), rng(8).uniform(0.5, 2.0, (3,))
    (m, tm), (s, ts) = both(loc), both(scale)
    tg.manual_seed(1)
    x = D.Normal(m, s).rsample((4,))
    assert x.shape == (4, 2, 3) and x.requires_grad
    eps = (x.detach().numpy() - loc) / scale                                # the noise it drew
    tx = tm + torch.tensor(eps) * ts                                        # torch's rsample with that noise
    close(x, tx)
    v = rng(9).standard_normal((4, 2, 3))
    x.backward(tg.tensor(v))
    tx.backward(torch.tensor(v))
    np.testing.assert_allclose(m.grad.numpy(), tm.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), **TIGHT)
    np.testing.assert_allclose(s.grad.numpy(), (v * eps).sum(axis=(0, 1)), **TIGHT)    # dx/dscale = eps


@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_normal_sample_shapes_match_torch(sample_shape):
    for loc, scale in [(0.0, 1.0), (np.zeros((2, 1)), np.ones(3))]:
        ours = D.Normal(*[tg.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in (loc, scale)])
        theirs = TD.Normal(*[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in (loc, scale)])
        sample, rsample = ours.sample(sample_shape), ours.rsample(sample_shape)
        assert sample.shape == rsample.shape == tuple(theirs.sample(sample_shape).shape)
        assert not sample.requires_grad and sample.grad_fn is None


def test_normal_sample_statistics_and_seed():
    dist = D.Normal(tg.tensor([1.0, -2.0], dtype=tg.float64), tg.tensor([0.5, 2.0], dtype=tg.float64))
    tg.manual_seed(2)
    x = dist.sample((40000,)).numpy()
    np.testing.assert_allclose(x.mean(0), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(x.std(0), [0.5, 2.0], rtol=0.02)
    tg.manual_seed(2)
    assert (dist.sample((40000,)).numpy() == x).all()


# ---- Bernoulli -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, value_shape", [((3,), (3,)), ((2, 3), (4, 1, 3)), ((), (5,))])
@pytest.mark.parametrize("by", ["probs", "logits"])
def test_bernoulli_matches_torch(shape, value_shape, by):
    raw = rng(10).uniform(0.05, 0.95, shape) if by == "probs" else 3 * rng(10).standard_normal(shape)
    value = rng(11).integers(0, 2, value_shape).astype(np.float64)
    make = lambda L, x: getattr(L, "Bernoulli")(**{by: x})          # noqa: E731

    ours, theirs = make(D, tg.tensor(raw, dtype=tg.float64)), make(TD, torch.tensor(raw, dtype=torch.float64))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == ()
    for name in ("probs", "logits", "mean", "variance", "stddev"):
        close(getattr(ours, name), getattr(theirs, name))

    same_value_and_grad(lambda x: make(D, x).log_prob(tg.tensor(value)),
                        lambda x: make(TD, x).log_prob(torch.tensor(value)), [raw])
    same_value_and_grad(lambda x: make(D, x).entropy(), lambda x: make(TD, x).entropy(), [raw])
    same_value_and_grad(lambda x: make(D, x).variance, lambda x: make(TD, x).variance, [raw])
    gradcheck(lambda x: make(D, x).log_prob(tg.tensor(value)), [raw])
    gradcheck(lambda x: make(D, x).entropy(), [raw])


def test_bernoulli_is_stable_at_extreme_logits_and_probs():
    logits = [-800.0, -30.0, 0.0, 30.0, 800.0]
    for value in (0.0, 1.0):
        same_value_and_grad(lambda x: D.Bernoulli(logits=x).log_prob(tg.tensor(value, dtype=tg.float64)),
                            lambda x: TD.Bernoulli(logits=x).log_prob(torch.tensor(value, dtype=torch.float64)),
                            [logits])
    close(D.Bernoulli(probs=tg.tensor([0.0, 1.0])).entropy(), TD.Bernoulli(probs=torch.tensor([0.0, 1.0])).entropy())


def test_bernoulli_from_a_number_matches_torch():
    ours, theirs = D.Bernoulli(0.3), TD.Bernoulli(0.3)
    assert ours.batch_shape == tuple(theirs.batch_shape) == () and ours.probs.dtype == tg.float32
    close(ours.log_prob(tg.tensor([0.0, 1.0])), theirs.log_prob(torch.tensor([0.0, 1.0])), rtol=1e-6)
    close(D.Bernoulli(logits=-1.5).entropy(), TD.Bernoulli(logits=-1.5).entropy(), rtol=1e-6)


@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_bernoulli_sample_shape_and_values(sample_shape):
    probs = rng(12).uniform(0, 1, (2, 3))
    ours = D.Bernoulli(logits=tg.tensor(probs, dtype=tg.float64, requires_grad=True)).sample(sample_shape)
    theirs = TD.Bernoulli(logits=torch.tensor(probs)).sample(sample_shape)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == tg.float64 and not ours.requires_grad
    assert set(np.unique(ours.numpy())) <= {0.0, 1.0}


def test_bernoulli_sample_frequencies_and_seed():
    probs = [0.0, 0.1, 0.5, 0.9, 1.0]
    dist = D.Bernoulli(tg.tensor(probs, dtype=tg.float64))
    tg.manual_seed(3)
    x = dist.sample((20000,)).numpy()
    np.testing.assert_allclose(x.mean(0), probs, atol=0.015)
    assert x[:, 0].max() == 0.0 and x[:, -1].min() == 1.0
    tg.manual_seed(3)
    assert (dist.sample((20000,)).numpy() == x).all()


def test_lazy_parameter_first_computed_under_no_grad_stays_in_the_graph():
    """sample() asks for probs inside no_grad; later losses must still reach the logits through them."""
    logits = tg.tensor([0.3, -1.2], dtype=tg.float64, requires_grad=True)
    dist = D.Bernoulli(logits=logits)
    dist.sample()
    dist.entropy().sum().backward()
    theirs = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    TD.Bernoulli(logits=theirs).entropy().sum().backward()
    np.testing.assert_allclose(logits.grad.numpy(), theirs.grad.numpy(), **TIGHT)


# ---- kl_divergence -------------------------------------------------------------------------------
def test_kl_normal_normal_matches_torch():
    arrays = [rng(13).standard_normal((2, 3)), rng(14).uniform(0.5, 2, (3,)), rng(15).standard_normal((3,)),
              rng(16).uniform(0.5, 2, (2, 1))]
    same_value_and_grad(lambda a, b, c, d: D.kl_divergence(D.Normal(a, b), D.Normal(c, d)),
                        lambda a, b, c, d: TD.kl_divergence(TD.Normal(a, b), TD.Normal(c, d)), arrays)
    gradcheck(lambda a, b, c, d: D.kl_divergence(D.Normal(a, b), D.Normal(c, d)), arrays)
    close(D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0)), torch.tensor(0.0))


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_kl_categorical_matches_torch(by):
    arrays = [rng(17).uniform(0.1, 1, (2, 4)), rng(18).uniform(0.1, 1, (4,))]
    if by == "logits":
        arrays = [np.log(a) for a in arrays]
    make = lambda L, x: getattr(L, "Categorical")(**{by: x})        # noqa: E731
    same_value_and_grad(lambda a, b: D.kl_divergence(make(D, a), make(D, b)),
                        lambda a, b: TD.kl_divergence(make(TD, a), make(TD, b)), arrays)
    gradcheck(lambda a, b: D.kl_divergence(make(D, a), make(D, b)), arrays)


def test_kl_with_zero_probabilities_matches_torch():
    p, q = [[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]], [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]]   # inf where q_k = 0 < p_k
    close(D.kl_divergence(D.Categorical(tg.tensor(p, dtype=tg.float64)), D.Categorical(tg.tensor(q, dtype=tg.float64))),
          TD.kl_divergence(TD.Categorical(torch.tensor(p)), TD.Categorical(torch.tensor(q))))
    p, q = [0.0, 1.0, 0.3, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    close(D.kl_divergence(D.Bernoulli(tg.tensor(p, dtype=tg.float64)), D.Bernoulli(tg.tensor(q, dtype=tg.float64))),
          TD.kl_divergence(TD.Bernoulli(torch.tensor(p)), TD.Bernoulli(torch.tensor(q))))


@pytest.mark.parametrize("by", ["probs", "logits"])
def test_kl_bernoulli_matches_torch(by):
    arrays = [rng(19).uniform(0.05, 0.95, (2, 3)), rng(20).uniform(0.05, 0.95, (3,))]
    if by == "logits":
        arrays = [np.log(a / (1 - a)) for a in arrays]
    make = lambda L, x: getattr(L, "Bernoulli")(**{by: x})          # noqa: E731
    same_value_and_grad(lambda a, b: D.kl_divergence(make(D, a), make(D, b)),    # torch's needs equal batch shapes
                        lambda a, b: TD.kl_divergence(make(TD, a), make(TD, b.expand(2, 3))), arrays)
    gradcheck(lambda a, b: D.kl_divergence(make(D, a), make(D, b)), arrays)


def test_kl_lookup_uses_the_most_specific_registered_pair():
    class Wide(D.Normal):
        pass

    assert D.kl_divergence(Wide(0.0, 2.0), D.Normal(0.0, 1.0)).item() == pytest.approx(
        TD.kl_divergence(TD.Normal(0.0, 2.0), TD.Normal(0.0, 1.0)).item())
    D.register_kl(Wide, D.Normal)(lambda p, q: tg.tensor(-1.0))
    try:
        assert D.kl_divergence(Wide(0.0, 2.0), D.Normal(0.0, 1.0)).item() == -1.0
        assert D.kl_divergence(D.Normal(0.0, 2.0), Wide(0.0, 1.0)).item() > 0
    finally:
        del D.kl._KL_REGISTRY[Wide, D.Normal]
    with pytest.raises(NotImplementedError, match="p type Normal and q type Bernoulli"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(0.5))
    with pytest.raises(TypeError, match="Distribution subclass"):
        D.register_kl(int, D.Normal)


# ---- errors --------------------------------------------------------------------------------------
BAD = [
    ("neither probs nor logits", lambda L, T: L.Categorical(), "Either `probs` or `logits`"),
    ("both probs and logits", lambda L, T: L.Categorical(T([0.5, 0.5]), T([0.0, 0.0])), "Either `probs` or `logits`"),
    ("0-d probs", lambda L, T: L.Categorical(T(1.0)), "at least one-dimensional"),
    ("0-d logits", lambda L, T: L.Categorical(logits=T(1.0)), "at least one-dimensional"),
    ("negative probs", lambda L, T: L.Categorical(T([0.5, -0.1, 0.6])), "Simplex"),
    ("probs summing to 0", lambda L, T: L.Categorical(T([0.0, 0.0])), "Simplex"),
    ("NaN logits", lambda L, T: L.Categorical(logits=T([0.0, math.nan])), r"IndependentConstraint\(Real\(\), 1\)"),
    ("class out of range", lambda L, T: L.Categorical(T([0.5, 0.5])).log_prob(T([2])), "IntegerInterval"),
    ("negative class", lambda L, T: L.Categorical(T([0.5, 0.5])).log_prob(T([-1])), "IntegerInterval"),
    ("fractional class", lambda L, T: L.Categorical(T([0.5, 0.5])).log_prob(T(0.5)), "IntegerInterval"),
    ("value not broadcastable", lambda L, T: L.Categorical(T([[0.5, 0.5]] * 2)).log_prob(T([0, 1, 1])),
     "not broadcastable with batch_shape"),
    ("value not a tensor", lambda L, T: L.Categorical(T([0.5, 0.5])).log_prob(1), "must be a Tensor"),
    ("scale 0", lambda L, T: L.Normal(0.0, 0.0), r"GreaterThan\(lower_bound=0.0\)"),
    ("negative scale", lambda L, T: L.Normal(T([0.0, 1.0]), T([1.0, -1.0])), "scale"),
    ("NaN loc", lambda L, T: L.Normal(math.nan, 1.0), r"Real\(\)"),
    ("loc not a number", lambda L, T: L.Normal("0", 1.0), "Input arguments must all be instances of Number"),
    ("Normal value not a tensor", lambda L, T: L.Normal(0.0, 1.0).log_prob(0.5), "must be a Tensor"),
    ("probs above 1", lambda L, T: L.Bernoulli(1.5), r"Interval\(lower_bound=0.0, upper_bound=1.0\)"),
    ("neither Bernoulli parameter", lambda L, T: L.Bernoulli(), "Either `probs` or `logits`"),
    ("Bernoulli value 0.5", lambda L, T: L.Bernoulli(0.5).log_prob(T(0.5)), r"Boolean\(\)"),
    ("Bernoulli value 2", lambda L, T: L.Bernoulli(T([0.5, 0.1])).log_prob(T([1.0, 2.0])), r"Boolean\(\)"),
]


@pytest.mark.errors
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")   # probs 0 / 0
@pytest.mark.parametrize("case, make, message", BAD, ids=[b[0] for b in BAD])
def test_errors_match_torch(case, make, message):
    with pytest.raises(Exception) as theirs:
        make(TD, torch.tensor)
    with pytest.raises(type(theirs.value), match=message):
        make(D, tg.tensor)
    assert re.search(message, str(theirs.value))            # the same information as torch's message


@pytest.mark.errors
def test_more_errors():
    with pytest.raises(TypeError, match="Categorical: `probs` must be a Tensor, got list"):
        D.Categorical([0.5, 0.5])
    with pytest.raises(TypeError, match=r"sample_shape must be a tuple of ints such as \(5,\)"):
        D.Normal(0.0, 1.0).sample(5)
    with pytest.raises(ValueError, match=r"broadcast_all: shapes \(2,\) and \(3,\) cannot be broadcast"):
        D.Normal(tg.zeros(2), tg.ones(3))
    with pytest.raises(NotImplementedError, match="Categorical has no rsample"):
        D.Categorical(tg.tensor([0.5, 0.5])).rsample()
    message = ("Expected parameter probs (Tensor of shape (3,)) of distribution Categorical(probs: (3,)) to satisfy "
               "the constraint Simplex(), but found invalid values:\ntensor([")
    with pytest.raises(ValueError) as error:
        D.Categorical(tg.tensor([0.5, -0.1, 0.6]))
    assert str(error.value).startswith(message)


def test_validate_args_false_skips_the_checks_like_torch():
    ours = D.Normal(0.0, -1.0, validate_args=False)
    theirs = TD.Normal(0.0, -1.0, validate_args=False)
    close(ours.variance, theirs.variance)
    close(D.Bernoulli(0.5, validate_args=False).log_prob(tg.tensor(0.5)),
          TD.Bernoulli(0.5, validate_args=False).log_prob(torch.tensor(0.5)), rtol=1e-6)


def test_repr_matches_torch():
    assert repr(D.Normal(0.0, 1.0)) == repr(TD.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(D.Categorical(tg.ones(2, 3))) == "Categorical(probs: (2, 3))"
