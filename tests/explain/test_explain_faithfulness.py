"""Faithfulness metrics against an independent computation (each perturbed input re-encoded on its own), and
their behaviour on the planted "nobody" classifier."""
from __future__ import annotations

import math

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.base import Explanation
from neuronlab.explain.faithfulness import faithfulness, randomization_check, rationale_agreement

torch = pytest.importorskip("torch")

INPUTS = [["the", "movie", "nobody", "liked", "was", "dull"], ["everyone", "saw", "a", "great", "film"]]


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


def _prob(live, words, cls):
    enc = live.encode([" ".join(words)] if words else [""])
    with torch.no_grad():
        return float(live.forward(enc).logits.softmax(-1)[0, cls])


def _explanation(scores, cls):
    return Explanation(method="hand", target={"kind": "logit", "index": tuple(cls), "position": None,
                                              "output": "logits"},
                       words=[list(w) for w in INPUTS], word_scores=[list(s) for s in scores])


def test_curves_and_eraser_metrics_equal_an_independent_computation(planted):
    scores = [[0.1, 0.5, 3.0, -1.0, 0.2, 0.4], [0.3, -0.2, 0.0, 2.0, 1.0]]
    cls = [1, 0]
    res = faithfulness(planted, _explanation(scores, cls), bins=(0.2, 0.5))
    for i, words in enumerate(INPUTS):
        n = len(words)
        order = np.argsort(-np.asarray(scores[i]), kind="stable")
        deletion = [_prob(planted, [w for j, w in enumerate(words) if j not in set(order[:k])], cls[i])
                    for k in range(n + 1)]
        insertion = [_prob(planted, [w for j, w in enumerate(words) if j in set(order[:k])], cls[i])
                     for k in range(n + 1)]
        np.testing.assert_allclose(res.deletion_curves[i], deletion, atol=1e-5)
        np.testing.assert_allclose(res.insertion_curves[i], insertion, atol=1e-5)
        ks = [max(1, math.ceil(b * n)) for b in (0.2, 0.5)]
        f_x = deletion[0]
        assert res.per_example["comprehensiveness"][i] == pytest.approx(np.mean([f_x - deletion[k] for k in ks]),
                                                                       abs=1e-5)
        assert res.per_example["sufficiency"][i] == pytest.approx(np.mean([f_x - insertion[k] for k in ks]), abs=1e-5)
        assert res.per_example["aopc"][i] == pytest.approx(np.mean(f_x - np.asarray(deletion)), abs=1e-5)
    assert res.forward_passes > 0 and res.target["kind"] == "probability"


def test_the_planted_word_first_is_more_faithful_than_random_and_than_last(planted):
    good = [[0.0, 0.0, 5.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]
    bad = [[1.0, 1.0, -5.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0, 1.0]]
    first = faithfulness(planted, _explanation(good, [1, 0]))
    last = faithfulness(planted, _explanation(bad, [1, 0]))
    # removing "nobody" first flips the positive sentence at once
    assert first.per_example["comprehensiveness"][0] > 0.9
    assert first.per_example["comprehensiveness"][0] > first.per_example["random_comprehensiveness"][0]
    assert first.per_example["comprehensiveness"][0] > last.per_example["comprehensiveness"][0] + 0.5
    assert first.per_example["sufficiency"][0] < last.per_example["sufficiency"][0]


def test_leave_one_out_on_the_planted_model_is_comprehensive(planted):
    ex = EXPLAINERS["leave-one-out"](planted, target=1).explain([INPUTS[0]])
    res = faithfulness(planted, ex)
    assert res.comprehensiveness > res.random_comprehensiveness
    assert res.aopc > res.random_aopc


def test_rationale_agreement_equals_sklearn_and_hand_f1():
    from sklearn.metrics import average_precision_score

    ex = _explanation([[0.1, 0.5, 3.0, -1.0, 0.2, 0.4], [0.3, -0.2, 0.0, 2.0, 1.0]], [1, 0])
    rats = [[False, False, True, True, False, False], [False, False, False, True, False]]
    got = rationale_agreement(ex, rats)
    # example 0: top 2 = {nobody, movie}; rationale {nobody, liked}: tp 1 -> F1 = 2/4; example 1: top 1 = great: 1.0
    assert got["token_f1_per_example"] == pytest.approx([0.5, 1.0])
    assert got["auprc_per_example"] == pytest.approx([average_precision_score(r, s) for r, s in
                                                      zip(rats, ex.word_scores)])
    with pytest.raises(InvalidParameterError, match="words"):
        rationale_agreement(ex, [[True], [True]])


def test_model_randomisation_destroys_the_explanation(planted):
    original = planted.model.state_dict()["classifier.weight"].clone()
    res = randomization_check(lambda m: EXPLAINERS["leave-one-out"](m, target=1), planted,
                              [INPUTS[0], ["nobody", "saw", "the", "film"]])
    assert res.steps == ["head", "layers.1", "layers.0", "embeddings"]
    # a faithful method must change when the model does: after the whole cascade (below 0.5 for seeds 0-4; after
    # two steps it is a matter of the draw: 0.36-0.69 for positive correlations)
    assert res.spearman[-1] < 0.5
    assert torch.equal(planted.model.state_dict()["classifier.weight"], original)  # the model itself is untouched


def test_bad_inputs_are_refused(planted):
    ex = _explanation([[0.0] * 6, [0.0] * 5], [1, 0])
    with pytest.raises(InvalidParameterError, match="inputs="):
        faithfulness(planted, ex, inputs=[["a", "b"], ["c"]])
    with pytest.raises(InvalidParameterError, match="bins"):
        faithfulness(planted, ex, bins=(0.0,))


def test_compare_explainers_ranks_a_faithful_method_above_an_unfaithful_one(planted):
    from neuronlab.explain.compare import compare_explainers, explanation_from_arrays

    inputs = [INPUTS[0], ["nobody", "saw", "the", "film"], INPUTS[1]]
    enc = planted.encode(inputs)
    with torch.no_grad():
        pred = planted.forward(enc).logits.argmax(-1).tolist()
    # an external "explanation" that puts the planted word last: it must rank below leave-one-out
    backwards = [[-5.0 if w == "nobody" else 1.0 for w in ws] for ws in inputs]
    ext = explanation_from_arrays("backwards", inputs, backwards,
                                  {"kind": "logit", "index": tuple(pred), "position": None, "output": "logits"})
    table = compare_explainers(planted, inputs, ["leave-one-out"], external=[ext])
    assert [r["method"] for r in table.rows] == ["leave-one-out", "backwards"]
    assert table.rows[0]["comprehensiveness"] > table.rows[1]["comprehensiveness"]
    assert list(table.config["target"]["index"]) == pred and "leave-one-out" in table.table()
    with pytest.raises(InvalidParameterError, match="score"):
        explanation_from_arrays("x", inputs, [[1.0]], {})


def test_randomization_does_not_redraw_a_head_drawn_from_the_same_seed():
    """A head drawn right after torch.manual_seed(0), as `neuronlab train --seed 0` draws it, must not come back when
    the check re-initialises the head with seed=0; the caller's random state is left as it was."""
    import torch

    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=3)
    torch.manual_seed(0)  # the fresh head of a training run with seed 0
    with torch.no_grad():
        live.model._init_weights(live.model.classifier)
    inputs = ["a good movie", "the plot was terrible and boring", "nobody liked the film at all"]
    state = torch.get_rng_state()
    res = randomization_check(lambda m: EXPLAINERS["gradient_x_input"](m, target=1), live, inputs, seed=0, steps=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert res.steps == ["head"]
    assert res.spearman[0] < 0.99, res.spearman  # the head changed, so did the explanation
