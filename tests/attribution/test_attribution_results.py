"""Results: typed, serialisable, written into the store; per-token / per-layer summaries; gradient x activation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.live_models import INPUTS, tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import LayerGradientXActivation, LayerIntegratedGradients, layer_summary  # noqa: E402


@pytest.fixture(scope="module")
def live():
    return tiny_bert()


def test_gradient_x_activation_by_hand(live):
    """On the last block, y * dF/dy at [CLS] equals the hand-computed head gradient times y; zero elsewhere."""
    enc = live.encode(INPUTS)
    res = LayerGradientXActivation(live, "layers.1").attribute(INPUTS, target=1)
    m = live.model
    y = live.activations(enc, "layers.1")[:, 0, :].double()
    wp, bp = m.bert.pooler.dense.weight.double(), m.bert.pooler.dense.bias.double()
    wc = m.classifier.weight.double()[1]
    h = torch.tanh(y @ wp.T + bp)
    grad = ((1 - h ** 2) * wc) @ wp  # d logit_1 / d y_cls
    np.testing.assert_allclose(res.attributions[:, 0, :], (y * grad).detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(res.attributions[:, 1:, :], 0.0, atol=1e-7)  # the head reads [CLS] only
    assert res.config["method"] == "layer_gradient_x_activation"


def test_result_to_json_and_to_store(live, tmp_path):
    from neuronlab.store import ActivationStore

    res = LayerIntegratedGradients(live, "layers.0", steps=4).attribute(INPUTS, target=1)
    d = json.loads(res.to_json())
    assert d["method"] == "layer_integrated_gradients" and d["config"]["steps"] == 4
    np.testing.assert_allclose(np.array(d["delta"]), res.delta)
    path = tmp_path / "s.h5"
    with ActivationStore.create(path, sites={"layers.0": 16}, offsets=np.array([0, 1]), texts=["x"], tokens=["x"],
                                granularity="token", dtype="float32", model={"name": "tiny"}, config={}) as st:
        assert res.to_store(st, "ig") == "/results/ig"
        back = st.read_result("ig")
    assert back["kind"] == "attribution/layer_integrated_gradients"
    assert back["config"]["rule"] == "gausslegendre" and back["config"]["site"] == "layers.0"
    np.testing.assert_allclose(back["per_neuron"], res.per_neuron(), rtol=1e-6)
    assert list(back["neuron_ids"][:2]) == ["layers.0:0", "layers.0:1"]
    assert back["lengths"].tolist() == [len(t) for t in res.tokens]
    assert list(back["tokens"][: len(res.tokens[0])]) == res.tokens[0]


def test_layer_summary(live):
    results = [LayerGradientXActivation(live, s).attribute(INPUTS, target=1) for s in ("layers.0", "layers.1")]
    s = layer_summary(results)
    assert s.sites == ["layers.0", "layers.1"]
    np.testing.assert_allclose(s.per_token[1], results[1].attributions.sum(2))
    np.testing.assert_allclose(s.distribution.sum(2), 1.0)
    p = np.abs(results[0].attributions.sum(2)[0])
    p = p[p > 0] / p.sum()
    assert s.entropy[0, 0] == pytest.approx(-(p * np.log(p)).sum())
    assert s.entropy[1, 0] == pytest.approx(0.0, abs=1e-9)  # the last block: only [CLS] matters
