"""Lesson 10 (translation transformer): its data generator, masks, decoding and attention maps, on a tiny model.

The quick run in test_lessons.py only shows that the script runs end to end; these check that what the
lesson teaches is true: the sentences say the date they are labelled with, the held-out dates never
reach training, the key padding mask makes <pad> invisible, the causal mask hides the future, greedy
decoding agrees with the teacher-forced forward pass, and the attention maps are proper distributions.
"""
import datetime
import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import tinygrad_edu as tg

pytestmark = pytest.mark.lessons

LESSONS = pathlib.Path(__file__).resolve().parents[1] / "lessons"


@pytest.fixture(scope="module")
def lesson():
    sys.path.insert(0, str(LESSONS))       # the lesson imports its neighbour common.py
    try:
        spec = importlib.util.spec_from_file_location("lesson10", LESSONS / "10_translation_transformer.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(LESSONS))
    return module


@pytest.fixture(scope="module")
def model(lesson):
    tg.manual_seed(0)
    return lesson.DateTranslator(d_model=16, nhead=2, layers=2, dim_feedforward=32)


def test_number_and_year_words(lesson):
    rng = np.random.default_rng(0)
    assert lesson.number_words(91) == "ninety-one" and lesson.number_words(40) == "forty"
    assert lesson.ordinal_words(3) == "third" and lesson.ordinal_words(21) == "twenty-first"
    assert lesson.ordinal_words(30) == "thirtieth" and lesson.ordinal_words(31) == "thirty-first"
    assert lesson.year_words(1991, rng) == "nineteen ninety-one"
    assert lesson.year_words(1905, rng) == "nineteen oh five"
    assert lesson.year_words(1900, rng) == "nineteen hundred"
    assert lesson.year_words(2000, rng) == "two thousand"
    assert {lesson.year_words(2012, rng) for _ in range(50)} == {
        "twenty twelve", "two thousand twelve", "two thousand and twelve"}


def _read_date(lesson, sentence):
    """An independent reader of the lesson's sentences: the date a sentence says."""
    words = sentence.replace("-", " ").replace(",", " ").split()
    value = {w: i for i, w in enumerate(lesson.ONES)} | {w: 10 * i for i, w in enumerate(lesson.TENS) if w}
    ordinal = {w: i for i, w in enumerate(lesson.ORDINALS) if w} | {"thirtieth": 30}
    m = next(j for j, w in enumerate(words) if w in lesson.MONTHS)
    i = next(j for j, w in enumerate(words) if w in ordinal)          # the day: an ordinal (after a tens word?)
    day = ordinal[words[i]] + (value[words[i - 1]] if i > 0 and words[i - 1] in ("twenty", "thirty") else 0)
    year = words[max(i, m) + 1:]                                      # the year comes last in every word order
    if year[0] == "nineteen":
        yy = 0 if year[1:] == ["hundred"] else sum(value[w] for w in year[1:] if w != "oh")
    elif year[:2] == ["two", "thousand"]:
        yy = sum(value[w] for w in year[2:] if w != "and")
    else:
        assert year[0] == "twenty", sentence
        yy = sum(value[w] for w in year[1:])                          # 'twenty twelve' -> 12
    century = 1900 if year[0] == "nineteen" else 2000
    return datetime.date(century + yy, lesson.MONTHS.index(words[m]) + 1, day)


def test_sentences_say_their_dates_in_every_word_order(lesson):
    rng = np.random.default_rng(1)
    ordinals = rng.integers(lesson.FIRST_DAY, lesson.LAST_DAY + 1, size=400)
    for k, o in enumerate(ordinals):
        date = datetime.date.fromordinal(int(o))
        sentence = lesson.date_sentence(date, rng, form=k % 4)
        assert _read_date(lesson, sentence) == date, sentence
        assert all(w in lesson.SRC_STOI for w in lesson.tokenize(sentence)), sentence


def test_held_out_dates_never_reach_training(lesson):
    data = lesson.DateData(n_val=50, n_test=200, seed=0)
    held_out = set(data.val[1]) | set(data.test[1])
    assert len(held_out) == 250
    for _ in range(5):
        _, _, tgt_out = data.batch(256)
        isos = {"".join(lesson.TGT_ITOS[t] for t in row[:-1]) for row in tgt_out}
        assert not isos & held_out


def test_sinusoidal_positional_encoding(lesson):
    d = 16
    pe = lesson.SinusoidalPositionalEncoding(d, max_len=20).pe.numpy()
    pos, i = 7, 3
    assert np.isclose(pe[pos, 2 * i], np.sin(pos / 10000 ** (2 * i / d)), atol=1e-6)
    assert np.isclose(pe[pos, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / d)), atol=1e-6)
    assert len({tuple(np.round(row, 5)) for row in pe}) == 20          # every position distinct


def test_padding_is_invisible_and_the_future_is_hidden(lesson, model):
    model.eval()
    sentences = ["the third of march nineteen ninety-one", "may fifth , two thousand and seven"]
    src, tgt_in, _ = lesson.encode_batch(sentences, ["1991-03-03", "2007-05-05"])
    padded = np.concatenate([src, np.full((2, 4), lesson.PAD)], axis=1)          # four more <pad> each
    with tg.no_grad():
        a = model(tg.tensor(src), tg.tensor(tgt_in), lesson.padding_mask(src)).numpy()
        b = model(tg.tensor(padded), tg.tensor(tgt_in), lesson.padding_mask(padded)).numpy()
        changed = tgt_in.copy()
        changed[:, 6:] = lesson.TGT_STOI["7"]                                    # change the future
        c = model(tg.tensor(src), tg.tensor(changed), lesson.padding_mask(src)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a[:, :6], c[:, :6], atol=1e-5)
    assert not np.allclose(a[:, 6:], c[:, 6:])
    model.train()


def test_greedy_decoding_agrees_with_teacher_forcing(lesson, model):
    """Fed its own greedy output as the teacher-forced input, the model predicts that same output."""
    sentences = ["the third of march nineteen ninety-one", "july the twenty-first , two thousand and five"]
    src = lesson.encode_src(sentences)
    for k, output in enumerate(lesson.greedy_decode(model, src)):
        ids = [lesson.TGT_STOI.get(c, lesson.BOS) for c in output]      # '?' stands for a <bos> it wrote
        if len(ids) < lesson.TGT_LEN:
            ids.append(lesson.EOS)                                       # it stopped by writing <eos>
        tgt_in = np.array([[lesson.BOS] + ids[:-1]])
        model.eval()
        with tg.no_grad():
            logits = model(tg.tensor(src[k:k + 1]), tg.tensor(tgt_in), lesson.padding_mask(src[k:k + 1]))
        model.train()
        assert list(logits.numpy()[0].argmax(axis=-1)) == ids


def test_attention_maps_are_distributions_over_real_words(lesson, model):
    sentences = ["the third of march nineteen ninety-one", "may fifth , two thousand and seven"]
    src, tgt_in, _ = lesson.encode_batch(sentences, ["1991-03-03", "2007-05-05"])
    maps = lesson.cross_attention_maps(model, src, tgt_in)   # also asserts the spelled-out layer matches
    assert len(maps) == 2
    for weights in maps:
        assert weights.shape == (2, 2, lesson.TGT_LEN, src.shape[1])
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
        pad = np.broadcast_to((src == lesson.PAD)[:, None, None, :], weights.shape)
        assert np.all(weights[pad] == 0)
