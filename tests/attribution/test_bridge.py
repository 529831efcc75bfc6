"""The concept bridge: planted concept neurons recovered, unread neurons without effect, an exact share by hand,
the p-value formula, same-site-distribution sampling, neuron sets from stored rankings, bad input."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution.bridge import BridgeResult, ConceptBridge  # noqa: E402
from neuronlab.attribution.neuron_sets import (concept_neurons, empirical_p_value, parse_neuron_ids,  # noqa: E402
                                               random_like)
from neuronlab.errors import InvalidParameterError  # noqa: E402

SENTENCES = ["a good movie", "the plot was terrible and boring", "I liked it", "nothing works here",
             "what a wonderful cast", "two hours lost", "the music is fine", "dull , slow and long",
             "she smiled at the end", "bad acting everywhere", "a small gem", "no story at all"]
PLANTED = [3, 8, 17, 26, 30, 41, 52, 60]
HIDDEN = 64


def planted_model():
    """A tiny BERT whose classifier reads only neurons PLANTED of the [CLS] row of ``layers.1``.

    Pooler = identity, class-1 logit = sum_j w_j tanh(y_j) + b (|w_j| = 2, signed so that the terms are positive
    on average: eight weak signals, none decisive alone), class-0 logit = 0, b = minus the median so that
    predictions are balanced. Returns the live model
    and its own predictions (the gold labels: accuracy 1 before ablation).
    """
    live = tiny_bert(seed=1, hidden=HIDDEN)
    m = live.model
    enc = live.encode(SENTENCES)
    y = live.activations(enc, "layers.1")[:, 0, :]
    with torch.no_grad():
        m.bert.pooler.dense.weight.copy_(torch.eye(HIDDEN))
        m.bert.pooler.dense.bias.zero_()
        m.classifier.weight.zero_()
        m.classifier.bias.zero_()
        for j in PLANTED:
            m.classifier.weight[1, j] = 2.0 * torch.sign(torch.tanh(y[:, j]).mean())
        logit1 = torch.tanh(y) @ m.classifier.weight[1]
        m.classifier.bias[1] = -logit1.median() + 1e-3
        labels = live.forward(enc).logits.argmax(-1).tolist()
    assert 0 < sum(labels) < len(labels)
    return live, labels


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def _ids(idx, site="layers.1"):
    return [f"{site}:{j}" for j in idx]


def test_planted_concept_neurons_carry_the_prediction(planted):
    live, labels = planted
    # ablation to the dataset mean of the [CLS] row (the random tiny BERT's [CLS] varies little between inputs,
    # so zeroing any read neuron would shift every logit past the boundary)
    mean = live.activations(live.encode(SENTENCES), "layers.1")[:, 0, :].mean(0)
    bridge = ConceptBridge(live, method_params={"steps": 8}, n_random=60, batch_size=256, random_state=0,
                           baseline={"layers.1": mean})
    res = bridge.attribute(SENTENCES, neurons=_ids(PLANTED), labels=labels, concept="PLANTED")
    # the head reads nothing else at layers.1, so the set carries all conductance
    assert res.share == pytest.approx(1.0, abs=1e-6)
    assert res.random_share_mean < 0.5
    assert res.share_p_value <= 2 / 61  # at most a random set that equals the planted one
    ab = res.ablation
    assert ab["accuracy_before"] == 1.0 and ab["accuracy_drop"] >= 0.4
    assert ab["accuracy_drop"] > ab["random_accuracy_drop_mean"] + 0.2
    assert ab["accuracy_p_value"] <= 2 / 61 and ab["target_p_value"] <= 2 / 61
    text = res.describe()
    assert text.startswith("the top 8 PLANTED neurons carry 100% of the gold-class conductance at layer 1")
    assert "points of accuracy, against" in text


def test_neurons_the_classifier_does_not_read_have_no_effect(planted):
    live, labels = planted
    unread = [j for j in range(HIDDEN) if j not in PLANTED][:4]
    res = ConceptBridge(live, method_params={"steps": 8}, n_random=30, batch_size=64).attribute(
        SENTENCES, neurons=_ids(unread), labels=labels)
    assert res.share == pytest.approx(0.0, abs=1e-9)
    assert res.share_p_value == 1.0  # every random set carries at least nothing
    assert res.ablation["accuracy_drop"] == 0.0 and abs(res.ablation["target_effect"]) < 1e-6
    assert res.ablation["accuracy_p_value"] == 1.0 and res.ablation["target_p_value"] == 1.0


def test_exact_share_by_hand_with_gradient_x_activation(planted):
    """Class-1 logit = sum_j w_j tanh(y_j) + b on the [CLS] row: A_j = w_j (1 - tanh(y_j)^2) y_j."""
    live, _ = planted
    enc = live.encode(SENTENCES[:3])
    y = live.activations(enc, "layers.1")[:, 0, :].double().numpy()
    w = live.model.classifier.weight[1].detach().double().numpy()
    a = w * (1 - np.tanh(y) ** 2) * y  # (3, HIDDEN); zero outside PLANTED
    chosen = [PLANTED[0], PLANTED[2], 5]
    for mode, v in (("absolute", np.abs(a)), ("signed", a)):
        res = ConceptBridge(live, method="layer_gradient_x_activation", attribution=mode, n_random=5,
                            ablation=False).attribute(SENTENCES[:3], neurons=_ids(chosen), target=1)
        assert res.share == pytest.approx(v[:, chosen].sum() / v.sum(), rel=1e-6)
        np.testing.assert_allclose(res.share_per_example, v[:, chosen].sum(1) / v.sum(1), rtol=1e-6)
        sets = [parse_neuron_ids(list(s))["layers.1"] for s in res.random_sets]
        np.testing.assert_allclose(res.random_shares, [v[:, s].sum() / v.sum() for s in sets], rtol=1e-6)
        assert res.target["description"] == "class-1"


def test_p_value_formula():
    assert empirical_p_value(0.5, [0.1, 0.2, 0.3]) == 1 / 4
    assert empirical_p_value(0.2, [0.1, 0.2, 0.3]) == 3 / 4  # ties count as >=
    assert empirical_p_value(9.0, np.zeros(99)) == 0.01
    assert empirical_p_value(-1.0, np.zeros(9)) == 1.0


def test_random_sets_keep_size_and_site_distribution():
    sel = {"layers.0": [1, 2, 3], "layers.1.mlp": [7], "layers.2": [0, 9]}
    widths = {"layers.0": 10, "layers.1.mlp": 24, "layers.2": 12}
    sets = random_like(sel, widths, 400, random_state=3)
    counts = np.zeros(10)
    for st in sets:
        assert {s: len(v) for s, v in st.items()} == {"layers.0": 3, "layers.1.mlp": 1, "layers.2": 2}
        for s, v in st.items():
            assert len(set(v.tolist())) == len(v) and v.min() >= 0 and v.max() < widths[s]
        counts[st["layers.0"]] += 1
    assert counts.min() > 0.6 * 120 and counts.max() < 1.4 * 120  # uniform: 400 * 3 / 10 = 120 per neuron
    again = random_like(sel, widths, 400, random_state=3)
    assert all(np.array_equal(a[s], b[s]) for a, b in zip(sets, again) for s in sel)


def test_several_sites_are_attributed_once_each(planted):
    live, _ = planted
    from neuronlab.attribution import LayerGradientXActivation

    calls = []

    class Counting(LayerGradientXActivation):
        def attribute(self, inputs, *, target):
            calls.append(self.site)
            return super().attribute(inputs, target=target)

    ids = ["layers.1:3", "layers.0:5", "layers.1:8", "layers.0:6", "layers.0.mlp:2"]
    res = ConceptBridge(live, method=Counting, n_random=7, batch_size=5).attribute(SENTENCES[:4], neurons=ids,
                                                                                  target=1)
    assert sorted(calls) == ["layers.0", "layers.0.mlp", "layers.1"]
    assert res.site_counts == {"layers.1": 2, "layers.0": 2, "layers.0.mlp": 1}
    for row in res.random_sets:
        assert [parse_neuron_ids(list(row))[s].__len__() for s in res.site_counts] == [2, 2, 1]
    # ablating neurons at three sites at once equals a hand-made intervention with the live model's hooks
    enc = live.encode(SENTENCES[:4])
    with torch.no_grad():
        with live.intervene("layers.0", "set", neurons=[5, 6]), live.intervene("layers.0.mlp", "set", neurons=[2]), \
                live.intervene("layers.1", "set", neurons=[3, 8]):
            after = live.forward(enc).logits[:, 1].double()
        before = live.forward(enc).logits[:, 1].double()
    assert res.ablation["target_effect"] == pytest.approx(float((before - after).mean()), abs=1e-6)


def test_single_site_ablation_equals_an_intervention(planted):
    """One site: ablated rows run from the site's cached value (blocks below skipped); same numbers as hooks."""
    live, labels = planted
    enc = live.encode(SENTENCES)
    vals = np.linspace(-1, 1, HIDDEN)
    res = ConceptBridge(live, n_random=4, batch_size=5, baseline={"layers.1": vals},
                        method="layer_gradient_x_activation").attribute(SENTENCES, neurons=_ids([3, 8, 9]),
                                                                        labels=labels)
    with torch.no_grad():
        before = live.forward(enc).logits.double()
        with live.intervene("layers.1", "set", neurons=[3, 8, 9], value=torch.as_tensor(vals[[3, 8, 9]])):
            after = live.forward(enc).logits.double()
    lab = torch.as_tensor(labels)
    gold = lambda x: x.gather(1, lab[:, None])[:, 0]  # noqa: E731
    assert res.ablation["target_effect"] == pytest.approx(float((gold(before) - gold(after)).mean()), abs=1e-6)
    acc = float((after.argmax(-1) == lab).double().mean())
    assert res.ablation["accuracy_after"] == pytest.approx(acc)
    for st, eff in zip(res.random_sets, res.random_target_effects):
        idx = parse_neuron_ids(list(st))["layers.1"]
        with torch.no_grad(), live.intervene("layers.1", "set", neurons=idx, value=torch.as_tensor(vals[idx])):
            a = live.forward(enc).logits.double()
        assert eff == pytest.approx(float((gold(before) - gold(a)).mean()), abs=1e-6)


def _store(tmp_path, live, sentences, *, width_override=None, sha=None, noise=0.0):
    from neuronlab.store import ActivationStore

    words = [s.split() for s in sentences]
    enc = live.encode(words)
    acts = live.activations(enc, "layers.1").numpy()
    rows = []
    for i, ws in enumerate(words):
        wid = np.asarray(enc.word_ids[i])
        rows += [acts[i][wid == w].mean(0) for w in range(len(ws))]
    rows = np.asarray(rows, dtype=np.float32) + noise
    width = width_override or rows.shape[1]
    offsets = np.cumsum([0] + [len(w) for w in words])
    store = ActivationStore.create(tmp_path / "s.h5", sites={"layers.1": width}, offsets=offsets,
                                   texts=sentences, tokens=[w for ws in words for w in ws], granularity="word",
                                   dtype="float32", model={"name": "tiny", "weights_sha256": sha},
                                   config={"aggregation": "mean"})
    store._write_rows(0, len(sentences), {"layers.1": rows[:, :width] if width <= rows.shape[1]
                                          else np.zeros((len(rows), width), np.float32)})
    return store


def test_neurons_from_a_stored_ranking_and_the_model_check(planted, tmp_path):
    from neuronlab.concepts.results import RankingResult

    live, labels = planted
    store = _store(tmp_path, live, SENTENCES[:3])
    ranking = _ids(PLANTED) + _ids([j for j in range(HIDDEN) if j not in PLANTED])
    RankingResult(method="ap", concept="ADJ", store="s.h5", n_rows=9, n_neurons=HIDDEN, classes=["ADJ"],
                  ranking=ranking, scores=list(np.linspace(1, 0, HIDDEN)), per_class={}, top=ranking[:8],
                  seconds=0.0, config={}, neuron_ids=_ids(range(HIDDEN))).to_store(store, "rank_adj")
    ids, src = concept_neurons(store, "rank_adj", top_k=8)
    assert ids == _ids(PLANTED) and src["concept"] == "ADJ" and src["kind"] == "ranking"
    assert concept_neurons(store, "rank_adj", top_fraction=0.12)[0] == _ids(PLANTED)  # ceil(7.68) = 8
    res = ConceptBridge(live, store=store, baseline="mean", n_random=10, method_params={"steps": 4},
                        batch_size=64).attribute(SENTENCES, neurons=(ids, src), labels=labels)
    assert res.concept == "ADJ" and res.model_check == "activations" and res.ablation["baseline"] == "mean"
    assert res.describe().startswith("the top 8 ADJ neurons carry 100% of the gold-class conductance at layer 1")
    # the result round-trips through the store
    res.to_store(store, "bridge_adj")
    back = BridgeResult.from_store(store, "bridge_adj")
    assert back.to_dict() == res.to_dict()
    np.testing.assert_allclose(back.random_shares, res.random_shares)
    store.close()


def test_a_store_from_another_model_is_refused(planted, tmp_path):
    live, labels = planted
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    narrow = _store(tmp_path / "a", live, SENTENCES[:2], width_override=16)
    with pytest.raises(InvalidParameterError, match="has 16 neurons at 'layers.1', the live model has 64"):
        ConceptBridge(live, store=narrow, n_random=2).attribute(SENTENCES[:2], neurons=_ids([1]), target=1)
    other = _store(tmp_path / "b", live, SENTENCES[:2], noise=0.5, sha="0" * 64)
    with pytest.raises(InvalidParameterError, match="other activations than the live model computes"):
        ConceptBridge(live, store=other, n_random=2).attribute(SENTENCES[:2], neurons=_ids([1]), target=1)
    # the same activations under a recorded fingerprint of this model: accepted without recomputation
    from neuronlab.attribution.store_check import live_fingerprints

    same = _store(tmp_path / "c", live, SENTENCES[:2], sha=sorted(live_fingerprints(live))[0])
    res = ConceptBridge(live, store=same, n_random=2, ablation=False,
                        method="layer_gradient_x_activation").attribute(SENTENCES[:2], neurons=_ids([1]), target=1)
    assert res.model_check == "fingerprint"
    for s in (narrow, other, same):
        s.close()


@pytest.mark.parametrize("granularity, aggregation, dtype", [("word", "mean", "float16"), ("word", "first", "float32"),
                                                             ("token", "mean", "float32")])
def test_stores_written_by_the_extractor_pass_the_model_check_and_other_weights_fail(tmp_path, granularity,
                                                                                    aggregation, dtype):
    from neuronlab.corpus.base import Corpus
    from neuronlab.extraction import ExtractionConfig, Extractor
    from neuronlab.models.loading import LoadedModel
    from neuronlab.attribution.store_check import check_store_model

    live = tiny_bert(seed=2)
    loaded = LoadedModel(live.model, live.tokenizer, live.adapter, {"name": "tiny"})
    cfg = ExtractionConfig(sites="layers.1,layers.0.mlp", granularity=granularity, aggregation=aggregation,
                           dtype=dtype, engine="hf")
    corpus = Corpus(sentences=[s.split() for s in SENTENCES[:3]])
    store = Extractor(loaded, cfg, progress=False).extract(corpus, tmp_path / "t.h5")
    live.info["weights_sha256"] = None  # force the recomputation path
    assert check_store_model(live, store, ["layers.1", "layers.0.mlp"]) == "activations"
    other = tiny_bert(seed=3)  # same architecture and widths, other weights
    with pytest.raises(InvalidParameterError, match="holds other activations than the live model computes"):
        check_store_model(other, store, ["layers.1"])
    store.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"neurons": ["layers.1:64"]}, "neuron 64 is out of range: site 'layers.1' has 64 neurons"),
    ({"neurons": ["layers.9:1"]}, "layers.9"),
    ({"neurons": ["layers.1"]}, "not of the form site:index"),
    ({"neurons": ["layers.1:2", "layers.1:2"]}, "given twice"),
    ({"neurons": []}, "no neuron ids"),
    ({"neurons": ["layers.1:2"], "labels": [0, 1]}, "labels: expected 3"),
    ({"neurons": ["layers.1:2"], "labels": [0, 1, 5]}, "class 5 is out of range"),
    ({"neurons": ["layers.1:2"], "target": 7}, "class 7 is out of range"),
])
def test_bad_input(planted, kwargs, match):
    live, _ = planted
    with pytest.raises(Exception, match=match) as info:
        ConceptBridge(live, n_random=2, method="layer_gradient_x_activation").attribute(SENTENCES[:3], **kwargs)
    from neuronlab.errors import NeuronlabError

    assert isinstance(info.value, NeuronlabError) and "\n" not in str(info.value)


def test_bad_parameters(planted):
    live, _ = planted
    with pytest.raises(InvalidParameterError, match="attribution 'relative' is unknown; choose one of"):
        ConceptBridge(live, attribution="relative")
    with pytest.raises(InvalidParameterError, match="'neuron_ablation' is not a layer attributor"):
        ConceptBridge(live, method="neuron_ablation")
    with pytest.raises(InvalidParameterError, match="n_random must be a positive int"):
        ConceptBridge(live, n_random=0).attribute(SENTENCES[:2], neurons=["layers.1:1"], target=1)
    with pytest.raises(InvalidParameterError, match="top_k must be an int in 1..3"):
        concept_neurons(["layers.1:1", "layers.1:2", "layers.1:3"], top_k=4)
    with pytest.raises(InvalidParameterError, match="covers all 64 neurons"):
        ConceptBridge(live, n_random=2).attribute(SENTENCES[:2], neurons=_ids(range(HIDDEN)), target=1)
