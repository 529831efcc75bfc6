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


# ---------------------------------------------------------------- compare_explainers with the robustness metrics
def test_compare_explainers_runs_every_metric_like_the_functions(planted):
    from helpers.planted import sentences

    from neuronlab.explain import EXPLAINERS
    from neuronlab.explain.compare import compare_explainers, comparison_plot, explanation_from_arrays
    from neuronlab.explain.fragility import fragility
    from neuronlab.explain.robustness import infidelity, sensitivity_max
    from neuronlab.models.training import TrainConfig

    inputs = _positives()[:3]
    ext = explanation_from_arrays("reversed", inputs, [[-float(w == "nobody") for w in s] for s in inputs],
                                  {"kind": "logit", "index": [1] * len(inputs)})
    train, labels = sentences(64, seed=3)
    options = {"infidelity": {"n_perturb": 8}, "sensitivity": {"n_perturb": 2},
               "fragility": {"max_swaps": 1, "n_candidates": 3},
               "sanity-data": {"texts": train, "labels": labels, "config": TrainConfig(epochs=1, lr=3e-3)}}
    metrics = ["infidelity", "sensitivity", "fragility", "sanity-data", "aopc"]
    table = compare_explainers(planted, inputs, ["gradient", "leave-one-out"], external=[ext], metrics=metrics,
                               options=options)
    rows = {r["method"]: r for r in table.rows}
    assert set(rows) == {"gradient", "leave-one-out", "reversed"}
    assert [r["infidelity"] for r in table.rows] == sorted(r["infidelity"] for r in table.rows)  # lower first
    target = table.config["target"]
    loo = EXPLAINERS["leave-one-out"](planted, target=target)
    ex = loo.explain(inputs)
    assert rows["leave-one-out"]["infidelity"] == pytest.approx(
        infidelity(planted, ex, inputs, n_perturb=8).infidelity, abs=1e-9)
    assert rows["leave-one-out"]["sensitivity"] == pytest.approx(
        sensitivity_max(loo, inputs, n_perturb=2).sensitivity, abs=1e-9)
    assert rows["leave-one-out"]["fragility_topk"] == pytest.approx(
        fragility(loo, inputs, max_swaps=1, n_candidates=3).topk_intersection)
    assert rows["reversed"]["sensitivity"] is None and rows["reversed"]["sanity_data_spearman"] is None
    # the optimal scale beta may be negative: a sign-flipped explanation is as faithful under normalisation
    flipped = explanation_from_arrays("flipped", inputs, [[-x for x in s] for s in ext.word_scores], ext.target)
    assert rows["reversed"]["infidelity"] == pytest.approx(
        infidelity(planted, flipped, inputs, n_perturb=8).infidelity)
    for r in (rows["gradient"], rows["leave-one-out"]):
        assert r["sanity_data_spearman"] < 0.9 and r["seconds"] > 0 and r["metric_seconds"] > 0
    text = table.table()
    assert "infid." in text and "data.rho" in text and "n/a" in text
    fig = comparison_plot(table)
    assert len(fig.axes) == len(metrics) + 1
    arrays = table.arrays()
    ext_row = [r["method"] for r in table.rows].index("reversed")
    assert np.isnan(arrays["sensitivity"][ext_row]) and arrays["infidelity"].shape == (3,)


def test_compare_explainers_metric_errors(planted):
    from neuronlab.explain.compare import compare_explainers

    with pytest.raises(InvalidParameterError, match="metric 'faithful' is unknown; choose among"):
        compare_explainers(planted, [["a", "b"]], ["gradient"], metrics=["faithful"])
    with pytest.raises(InvalidParameterError, match="options for unknown metric 'infid'"):
        compare_explainers(planted, [["a", "b"]], ["gradient"], options={"infid": {}})
