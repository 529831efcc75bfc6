"""Ranking neuron attribution methods by ablation (ERASER for neurons, issue 15): exact values against a direct
ablation with the live model's hooks on a tiny BERT, a planted model whose output rides on one neuron."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.live_models import INPUTS, tiny_bert

from neuronlab.errors import InvalidParameterError
from neuronlab.explain.compare import ExplainerComparison
from neuronlab.explain.compare_neurons import compare_neuron_attributors

SITE = "layers.1"
PLANTED = 5


@pytest.fixture(scope="module")
def live():
    return tiny_bert()


@pytest.fixture(scope="module")
def planted():
    """The pooled output depends on neuron PLANTED of layers.1 (at [CLS]) only: ablating it zeroes the logits."""
    m = tiny_bert(seed=2)
    with torch.no_grad():
        w = m.model.bert.pooler.dense.weight
        col = torch.linspace(0.5, 2.0, w.shape[0])
        w.zero_()
        w[:, PLANTED] = col
        m.model.bert.pooler.dense.bias.zero_()
        c = torch.randn(m.model.classifier.weight.shape[1], generator=torch.Generator().manual_seed(0))
        m.model.classifier.weight[0] = c
        m.model.classifier.weight[1] = -c
        m.model.classifier.bias.zero_()
    return m


def _direct(live, text, ablated, value, cls):
    """The class logit with the neurons ``ablated`` of SITE set to ``value`` at every token: a full forward."""
    enc = live.encode([text])
    idx = torch.as_tensor(sorted(ablated), dtype=torch.long)

    def fn(v):
        v = v.clone()
        if len(idx):
            v[..., idx] = value[idx].to(v.dtype) if torch.is_tensor(value) else value
        return v

    with torch.no_grad(), live.replace(SITE, fn):
        return float(live.forward(enc).logits[0, cls])


def test_values_equal_direct_ablation_with_hooks(live):
    """Two inputs of different lengths (padded together in the comparison, alone in the direct forwards)."""
    from neuronlab.attribution.layer_gradient_x_activation import LayerGradientXActivation

    cmp = compare_neuron_attributors(live, INPUTS, ["grad-x-act"], site=SITE, bins=(0.25,), aopc_points=None,
                                     seed=7)
    row = cmp.rows[0]
    target = cmp.config["target"]
    attrs = LayerGradientXActivation(live, SITE).attribute(INPUTS, target=target).per_neuron()
    width = attrs.shape[1]
    k = math.ceil(0.25 * width)
    rng = np.random.default_rng(7)  # one permutation per example, in order
    want = {"comprehensiveness": [], "sufficiency": [], "random_comprehensiveness": [], "aopc": []}
    for i, text in enumerate(INPUTS):
        cls = target["index"][i]
        order = np.argsort(-attrs[i], kind="stable")
        rand = rng.permutation(width)
        f_x = _direct(live, text, [], 0.0, cls)
        rest = set(range(width)) - set(order[:k].tolist())
        want["comprehensiveness"].append(f_x - _direct(live, text, order[:k], 0.0, cls))
        want["sufficiency"].append(f_x - _direct(live, text, rest, 0.0, cls))
        want["random_comprehensiveness"].append(f_x - _direct(live, text, rand[:k], 0.0, cls))
        want["aopc"].append(np.mean([f_x - _direct(live, text, order[:j], 0.0, cls) for j in range(width + 1)]))
    for key, values in want.items():
        assert row[key] == pytest.approx(np.mean(values), abs=1e-5), key
    assert abs(row["comprehensiveness"] - row["random_comprehensiveness"]) > 1e-4  # the orders differ
    assert cmp.config["level"] == "neurons" and cmp.config["width"] == width


def test_mean_ablation_uses_the_inputs_token_mean(live):
    cmp = compare_neuron_attributors(live, INPUTS[:1], ["grad-x-act"], site=SITE, ablation="mean", bins=(0.5,),
                                     aopc_points=2)
    enc = live.encode(INPUTS[:1])
    y = live.activations(enc, SITE)[0]
    mean = y.double().mean(0).float()  # one input, no padding: every token position
    from neuronlab.attribution.layer_gradient_x_activation import LayerGradientXActivation

    cls = cmp.config["target"]["index"][0]
    attr = LayerGradientXActivation(live, SITE).attribute(INPUTS[:1], target=cmp.config["target"]).per_neuron()[0]
    top = np.argsort(-attr, kind="stable")[:math.ceil(0.5 * attr.size)]
    f_x = _direct(live, INPUTS[0], [], 0.0, cls)
    assert cmp.rows[0]["comprehensiveness"] == pytest.approx(f_x - _direct(live, INPUTS[0], top, mean, cls),
                                                             abs=1e-5)
    assert cmp.config["ablation"] == "mean"


def test_planted_neuron_is_ranked_first_by_every_method_and_beats_random(planted):
    """Every method ranks the planted neuron first by magnitude; by sign, the methods whose reference is the
    ablation value (gradient x activation, IG from the zero site value, single-neuron ablation) do too."""
    from neuronlab.attribution.methods import METHODS

    texts = INPUTS + ["nobody liked it", "what a fine day"]
    onehot = np.zeros((len(texts), planted.width(SITE)))
    onehot[:, PLANTED] = 1.0
    enc = planted.encode(texts)
    f_x = planted.forward(enc).logits.max(-1).values.detach().double().numpy()
    assert (f_x > 0).all()
    params = {"ig": {"steps": 8}, "conductance": {"steps": 8}}
    for rank, methods in (("signed", ["grad-x-act", "ig", "ablation"]),
                          ("abs", ["grad-x-act", "ig", "conductance", "ablation"])):
        cmp = compare_neuron_attributors(planted, texts, methods, site=SITE, bins=(0.01,), aopc_points=None,
                                         rank=rank, params={k: v for k, v in params.items() if k in methods},
                                         external={"planted": onehot, "anti": -onehot})
        by = {r["method"]: r for r in cmp.rows}
        for m in methods + ["planted"]:
            # k = 1: the planted neuron ablated takes the whole logit; keeping only it keeps the logit
            assert by[m]["comprehensiveness"] == pytest.approx(f_x.mean(), abs=1e-5), (rank, m)
            assert by[m]["sufficiency"] == pytest.approx(0.0, abs=1e-5), (rank, m)
            assert by[m]["comprehensiveness"] > by[m]["random_comprehensiveness"] + 0.5 * f_x.mean()
            assert by[m]["aopc"] > by[m]["random_aopc"]
        if rank == "signed":  # the anti-ranking puts the planted neuron last: nothing moves before the end
            assert by["anti"]["comprehensiveness"] == pytest.approx(0.0, abs=1e-5)
            assert cmp.rows[-1]["method"] == "anti" and cmp.rows[-1]["source"] == "external"
    target = cmp.config["target"]
    for key in ("layer_gradient_x_activation", "layer_integrated_gradients", "layer_conductance"):
        kw = {"baselines": "zero"} if key == "layer_integrated_gradients" else {}  # the comparison's default
        res = METHODS[key](planted, SITE, **({} if key.endswith("activation") else {"steps": 8})).attribute(
            texts, target=target, **kw)
        assert (np.abs(res.per_neuron()).argmax(1) == PLANTED).all(), key


def test_result_table_store_and_errors(live, tmp_path):
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    cmp = compare_neuron_attributors(live, INPUTS, ["grad-x-act", "ablation"], site=SITE)
    assert isinstance(cmp, ExplainerComparison) and "grad-x-act" in cmp.table()
    assert all(r["forward_passes"] > 0 and r["eval_rows"] >= 0 for r in cmp.rows)
    path = tmp_path / "n.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as st:
        cmp.to_store(st, "neuron_cmp")
    with ActivationStore.open(path) as st:
        assert ExplainerComparison.from_store(st, "neuron_cmp").rows == cmp.rows
    with pytest.raises(InvalidParameterError, match="cannot be compared"):
        compare_neuron_attributors(live, INPUTS, ["attention"], site=SITE)
    with pytest.raises(InvalidParameterError, match="ablation"):
        compare_neuron_attributors(live, INPUTS, ["grad-x-act"], site=SITE, ablation="median")
    with pytest.raises(InvalidParameterError, match="shape"):
        compare_neuron_attributors(live, INPUTS, [], site=SITE, external={"x": np.zeros((2, 3))})
    with pytest.raises(InvalidParameterError, match="bins"):
        compare_neuron_attributors(live, INPUTS, ["grad-x-act"], site=SITE, bins=(2.0,))
    with pytest.raises(InvalidParameterError, match="rank"):
        compare_neuron_attributors(live, INPUTS, ["grad-x-act"], site=SITE, rank="top")
