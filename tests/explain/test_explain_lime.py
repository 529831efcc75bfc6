"""LIME for text against the ``lime`` package's LimeTextExplainer on the same samples (same seed)."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.lime import LimeText, lime_samples, lime_weights

torch = pytest.importorskip("torch")
lime_text = pytest.importorskip("lime.lime_text")

SENTENCES = ["the actor was good and nobody saw it", "a dull story"]


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


def _probabilities(live):
    """The classifier_fn lime calls: tokenise each (word-removed) string, class probabilities."""
    def fn(strings):
        enc = live.tokenizer(list(strings), padding=True, return_tensors="pt")
        with torch.no_grad():
            return live.model(**enc).logits.softmax(-1).numpy()
    return fn


@pytest.mark.parametrize("num_features, selection", [(10, "auto"), (3, "auto"), (10, "none"), (4, "highest_weights")])
def test_lime_equals_the_lime_package_on_the_same_samples(planted, num_features, selection):
    ref_explainer = lime_text.LimeTextExplainer(kernel_width=25, random_state=5, feature_selection=selection)
    ours = LimeText(planted, target={"kind": "probability", "index": 1}, n_samples=300, seed=5,
                    num_features=num_features, feature_selection=selection)
    ex = ours.explain([s.split() for s in SENTENCES])
    for i, sentence in enumerate(SENTENCES):
        ref = ref_explainer.explain_instance(sentence, _probabilities(planted), labels=(1,),
                                             num_features=num_features, num_samples=300)
        expect = np.zeros(len(sentence.split()))
        for feature, weight in ref.local_exp[1]:
            expect[feature] = weight
        assert ex.word_scores[i] == pytest.approx(expect.tolist(), abs=1e-5)
        assert ex.config["intercept"][i] == pytest.approx(ref.intercept[1], abs=1e-5)
        assert ex.config["score"][i] == pytest.approx(ref.score, abs=1e-5)
        assert np.count_nonzero(ex.word_scores[i]) == min(num_features, len(expect))


def test_lime_samples_are_lime_samples_and_reproducible():
    data = lime_samples(6, 50, np.random.RandomState(2))
    assert data[0].tolist() == [1.0] * 6
    assert ((data[1:] == 0).sum(1) >= 1).all()      # every further sample removes 1..n words
    assert np.array_equal(data, lime_samples(6, 50, np.random.RandomState(2)))
    assert not np.array_equal(data, lime_samples(6, 50, np.random.RandomState(3)))
    w = lime_weights(data)
    cos = 1 - data.sum(1) / (np.sqrt(6) * np.sqrt(np.maximum(data.sum(1), 1e-12)))
    cos[data.sum(1) == 0] = 1.0
    assert w == pytest.approx(np.sqrt(np.exp(-((cos * 100) ** 2) / 25 ** 2)))


def test_lime_evaluates_repeated_samples_once(planted):
    ex = LimeText(planted, n_samples=500, seed=0).explain([["nobody", "liked", "it"]])
    assert ex.forward_passes <= 1 + 2 ** 3   # at most the 8 distinct subsets of 3 words, plus f(x)
    again = LimeText(planted, n_samples=500, seed=0).explain([["nobody", "liked", "it"]])
    assert again.word_scores == ex.word_scores


def test_lime_parameters_are_checked(planted):
    with pytest.raises(InvalidParameterError, match="feature_selection must be one of auto, none"):
        LimeText(planted, feature_selection="lasso")
    with pytest.raises(InvalidParameterError, match="n_samples must be >= 2"):
        LimeText(planted, n_samples=1)
