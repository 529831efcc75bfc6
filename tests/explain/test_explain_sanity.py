"""Data randomisation (explain/sanity.py, Adebayo et al. 2018): a model trained on permuted labels explains the
planted "nobody" inputs differently; the original model is left untouched; errors."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


@pytest.fixture(scope="module")
def permuted(planted):
    from helpers.planted import sentences

    from neuronlab.explain.sanity import train_permuted
    from neuronlab.models.training import TrainConfig

    texts, labels = sentences(256, seed=0)
    before = {k: v.clone() for k, v in planted.model.state_dict().items()}
    rand = train_permuted(planted, texts, labels, config=TrainConfig(epochs=3, lr=3e-3, batch_size=64, seed=0),
                          seed=0)
    assert all(torch.equal(v, planted.model.state_dict()[k]) for k, v in before.items())
    return rand


def _positives():
    from helpers.planted import sentences

    texts, labels = sentences(24, seed=7)
    return [t for t, y in zip(texts, labels) if y == 1]


def test_permuted_model_does_not_explain_the_planted_word(planted, permuted):
    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.sanity import data_randomization_check

    inputs = _positives()
    original = EXPLAINERS["gradient"](planted).explain(inputs)
    assert all(w[int(np.argmax(s))] == "nobody" for w, s in zip(original.words, original.word_scores))
    rand = EXPLAINERS["gradient"](permuted).explain(inputs, target=original.target)
    first = [w[int(np.argmax(s))] == "nobody" for w, s in zip(rand.words, rand.word_scores)]
    assert sum(first) < len(first) / 2                      # not "nobody" first on most inputs
    res = data_randomization_check(lambda m: EXPLAINERS["gradient"](m), planted, permuted, inputs, k=2,
                                   original=original)
    itself = data_randomization_check(lambda m: EXPLAINERS["gradient"](m), planted, planted, inputs, k=2)
    assert itself.spearman == pytest.approx(1.0) and itself.topk_intersection == pytest.approx(1.0)
    assert res.spearman < 0.5 and res.spearman < itself.spearman - 0.5
    assert res.topk_intersection < 0.75
    from scipy.stats import spearmanr

    want = [spearmanr(a, b).statistic for a, b in zip(original.word_scores, rand.word_scores)]
    assert res.per_example["spearman"] == pytest.approx(want, abs=1e-12)
    assert permuted.info["randomized"] == "labels permuted"


def test_labels_are_permuted_not_changed(planted, monkeypatch):
    from neuronlab.explain import sanity

    seen = {}

    def fake_fit(model, texts, epoch_batches, config, **kw):
        seen["labels"] = [int(v) for _, y in epoch_batches([list(range(len(texts)))]) for v in y]
        return [], 0.0, 0, 0

    monkeypatch.setattr("neuronlab.models.training.fit", fake_fit)
    sanity.train_permuted(planted, [["a", "b"]] * 6, [0, 0, 0, 1, 1, 1], seed=1)
    assert sorted(seen["labels"]) == [0, 0, 0, 1, 1, 1] and seen["labels"] != [0, 0, 0, 1, 1, 1]


def test_user_errors(planted):
    from neuronlab.explain.sanity import train_permuted

    with pytest.raises(InvalidParameterError, match="at least 2 training inputs"):
        train_permuted(planted, [["a"]], [0])
    with pytest.raises(InvalidParameterError, match="2 training inputs but 1 labels"):
        train_permuted(planted, [["a"], ["b"]], [0])
    with pytest.raises(InvalidParameterError, match="labels must lie in 0..1"):
        train_permuted(planted, [["a"], ["b"]], [0, 2])
