"""Aggregation views (issue 15): subwords -> words, words -> spans, differences; exact values on hand-made
explanations (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.base import Explanation
from neuronlab.explain.gen_result import GenerationExplanation
from neuronlab.explain.views import (
    AttributionDifference,
    aggregate,
    align_tokens,
    difference,
    groups_of,
    to_spans,
    to_words,
)

N = np.nan


def _clf(words, tokens, token_scores, word_scores=None, method="m"):
    ws = word_scores
    if ws is None:
        ids = [align_tokens(t, w) for t, w in zip(tokens, words)]
        ws = [[float(sum(s for s, k in zip(ts, ii) if k == j)) for j in range(len(w))]
              for ts, ii, w in zip(token_scores, ids, words)]
    return Explanation(method=method, words=words, tokens=tokens, word_scores=ws, target_value=[1.0] * len(words),
                       token_scores=None if token_scores is None else [np.asarray(t, float) for t in token_scores])


def _gen(scores=None, **kw):
    """Source 'ĠThe Ġc at' (words The, cat), target 'Ġsat Ġdo wn' (words sat, down), causal (no prefix)."""
    m = np.array([[0.1, 0.2, 0.3, N, N, N],
                  [0.4, 0.5, 0.6, 0.7, N, N],
                  [1.0, 2.0, 3.0, 4.0, 5.0, N]]) if scores is None else scores
    base = {"method": "integrated_gradients", "step_target": "log_probability", "sources": ["The cat"],
                "source_tokens": [["\u0120The", "\u0120c", "at"]], "prefix_tokens": [[]],
                "target_tokens": [["\u0120sat", "\u0120do", "wn"]], "source_word_ids": [[0, 1, 1]],
                "target_word_ids": [[0, 1, 1]], "step_values": [[-1.0, -2.0, -3.0]], "reference_values": [[-1.6, -4.2, -18.0]],
                "scores": [m]}
    base.update(kw)
    return GenerationExplanation(**base)


def test_groups_and_aggregations_exact():
    assert groups_of([-1, 0, 0, 1, -1, 1]) == [[0], [1, 2], [3, 5], [4]]
    v = np.array([1.0, -3.0, 2.0, N])
    g = [[0, 1, 2], [3], [2, 3]]
    np.testing.assert_array_equal(aggregate(v, g, "sum"), [0.0, N, 2.0])
    np.testing.assert_array_equal(aggregate(v, g, "mean"), [0.0, N, 2.0])
    np.testing.assert_array_equal(aggregate(v, g, "max"), [2.0, N, 2.0])
    np.testing.assert_array_equal(aggregate(v, g, "absmax"), [-3.0, N, 2.0])
    with pytest.raises(InvalidParameterError, match="choose one of"):
        aggregate(v, g, "median")


def test_classifier_subwords_to_words_with_any_aggregation():
    ex = _clf([["nobody", "liked", "it"]], [["[CLS]", "nob", "##ody", "liked", "it", "[SEP]"]],
              [[9.0, 1.0, 2.0, -3.0, 4.0, 9.0]])
    assert ex.word_scores == [[3.0, -3.0, 4.0]]
    assert to_words(ex).word_scores == [[3.0, -3.0, 4.0]]
    assert to_words(ex, "max").word_scores == [[2.0, -3.0, 4.0]]
    assert to_words(ex, "mean").word_scores == [[1.5, -3.0, 4.0]]
    assert to_words(ex, "absmax", word_ids=[[-1, 0, 1, 1, 2, -1]]).word_scores == [[1.0, -3.0, 4.0]]
    assert ex.word_scores == [[3.0, -3.0, 4.0]]  # the input is not modified
    with pytest.raises(InvalidParameterError, match="do not spell the words"):
        to_words(_clf([["dog"]], [["[CLS]", "cat"]], [[1.0, 2.0]], word_scores=[[2.0]]), "max")


def test_generation_subwords_to_words_exact():
    w = to_words(_gen())
    assert w.source_tokens == [["The", "cat"]] and w.target_tokens == [["sat", "down"]]
    expected = np.array([[0.1, 0.2 + 0.3, N, N],
                         [0.4 + 1.0, 0.5 + 0.6 + 2.0 + 3.0, 0.7 + 4.0, 5.0]])  # row 'down' = steps 'do' + 'wn'
    np.testing.assert_allclose(w.scores[0], expected, equal_nan=True)
    np.testing.assert_allclose(w.step_values[0], [-1.0, -5.0])
    np.testing.assert_allclose(w.reference_values[0], [-1.6, -22.2])
    # completeness survives: each word row sums to the summed f(x) - f(x') of its steps
    g = _gen()
    np.testing.assert_allclose(w.step_sums(0), [g.step_sums(0)[0], g.step_sums(0)[1] + g.step_sums(0)[2]])
    rows_first = to_words(_gen(), "sum", rows="max")
    np.testing.assert_allclose(rows_first.scores[0][1], [1.0, 5.0, 4.0, 5.0])
    assert w.config["view"] == "words:sum/sum" and w.source_word_ids == [[0, 1]]


def test_generation_words_keep_special_tokens_and_prefix():
    m = np.array([[1.0, 2.0, 3.0, 4.0, N, N], [1.0, 1.0, 1.0, 1.0, 5.0, N]])
    ex = _gen(m, source_tokens=[["\u2581the", "\u2581ca", "t"]], source_word_ids=[[0, 1, 1]],
              prefix_tokens=[["<pad>"]], target_tokens=[["\u2581a", "</s>"]], target_word_ids=[[0, -1]],
              step_values=[[-1.0, -0.5]], reference_values=None)
    w = to_words(ex)
    assert w.source_tokens == [["the", "cat"]] and w.prefix_tokens == [["<pad>"]]
    assert w.target_tokens == [["a", "</s>"]] and w.target_word_ids == [[0, -1]]
    np.testing.assert_allclose(w.scores[0], [[1.0, 5.0, 4.0, N, N], [1.0, 2.0, 1.0, 5.0, N]], equal_nan=True)
    assert w.reference_values is None


def test_words_to_spans_given_and_chunked():
    ex = _clf([["the", "old", "man", "smiled"]], [["the", "old", "man", "smiled"]], [[1.0, 2.0, 3.0, -4.0]])
    s = to_spans(ex, [[(0, 3)]])
    assert s.words == [["the old man", "smiled"]] and s.word_scores == [[6.0, -4.0]]
    c = to_spans(ex, chunker=lambda words: [(1, 3)], how="max")
    assert c.words == [["the", "old man", "smiled"]] and c.word_scores == [[1.0, 3.0, -4.0]]
    assert s.token_scores is None and s.config["view"] == "spans:sum"
    with pytest.raises(InvalidParameterError, match="overlap at word 2"):
        to_spans(ex, [[(0, 3), (2, 4)]])
    with pytest.raises(InvalidParameterError, match=r"span \(3, 9\) is not within its 4 words"):
        to_spans(ex, [[(3, 9)]])
    with pytest.raises(InvalidParameterError, match="not both"):
        to_spans(ex, [[(0, 1)]], chunker=lambda w: [])


def test_generation_spans_of_source_and_target():
    s = to_spans(_gen(), [[(0, 2)]])
    assert s.source_tokens == [["The cat"]] and s.target_tokens == [["sat", "down"]]
    np.testing.assert_allclose(s.scores[0][:, 0], [0.1 + 0.2 + 0.3, 0.4 + 0.5 + 0.6 + 1.0 + 2.0 + 3.0])
    t = to_spans(_gen(), [[(0, 2)]], target_spans=[[(0, 2)]])
    np.testing.assert_allclose(t.scores[0], [[0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.6 + 1.0 + 2.0 + 3.0,
                                              0.7 + 4.0 + 5.0]])
    np.testing.assert_allclose(t.step_values[0], [-6.0])


def test_difference_of_two_targets_on_one_input():
    a = _clf([["a", "b", "c"]], [["a", "b", "c"]], [[1.0, 2.0, 3.0]])
    b = _clf([["a", "b", "c"]], [["a", "b", "c"]], [[0.5, 4.0, -1.0]])
    d = difference(a, b)
    assert isinstance(d, AttributionDifference)
    assert d.units == [["a", "b", "c"]] and d.ops == [["equal"] * 3] and d.diff == [[0.5, -2.0, 4.0]]


def test_difference_of_two_inputs_aligned_by_words():
    a = _clf([["the", "movie", "was", "good"]], [["the", "movie", "was", "good"]], [[0.1, 0.2, 0.3, 0.4]])
    b = _clf([["the", "film", "was", "very", "good"]], [["the", "film", "was", "very", "good"]],
             [[0.0, 1.0, 0.3, 0.5, 0.25]])
    d = difference(a, b)
    assert d.units == [["the", "movie", "film", "was", "very", "good"]]
    assert d.ops == [["equal", "a_only", "b_only", "equal", "b_only", "equal"]]
    np.testing.assert_allclose(d.diff[0], [0.1, 0.2, -1.0, 0.0, -0.5, 0.15])


def test_difference_of_generation_explanations():
    a = _gen()
    b = _gen(np.nan_to_num(a.scores[0]) * 0 + 1.0, source_tokens=[["\u0120The", "\u0120d", "og"]])
    b.scores[0][np.isnan(a.scores[0])] = N
    d = difference(a, b)
    assert d.units[0] == ["\u0120The", "\u0120c", "at", "\u0120d", "og", "\u0120sat", "\u0120do", "wn"]
    assert d.ops[0][:5] == ["equal", "a_only", "a_only", "b_only", "b_only"]
    m = np.asarray(d.diff[0], dtype=float)
    np.testing.assert_allclose(m[:, 0], a.scores[0][:, 0] - 1.0)
    np.testing.assert_allclose(m[:, 1], a.scores[0][:, 1])
    np.testing.assert_allclose(m[:, 3], [-1.0, -1.0, -1.0])
    np.testing.assert_allclose(m[:, 5:], a.scores[0][:, 3:] - b.scores[0][:, 3:], equal_nan=True)
    with pytest.raises(InvalidParameterError, match="different target tokens"):
        difference(a, _gen(target_tokens=[["\u0120ran", "\u0120do", "wn"]]))
    with pytest.raises(InvalidParameterError, match="two Explanations or two GenerationExplanations"):
        difference(a, _clf([["a"]], [["a"]], [[1.0]]))


def test_difference_result_goes_into_the_store(tmp_path):
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    d = difference(_clf([["a", "b"]], [["a", "b"]], [[1.0, 2.0]]), _clf([["a", "b"]], [["a", "b"]], [[0.0, 5.0]]))
    with ActivationStore.open(str(path), mode="r+") as st:
        d.to_store(st, "diff")
    with ActivationStore.open(str(path)) as st:
        back = AttributionDifference.from_store(st, "diff")
    assert back.to_dict() == d.to_dict() and back.diff == [[1.0, -3.0]]
