"""Neuron ablation: a hand computation on a tiny model, planted neurons found by greedy ablation, baselines."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import INPUTS, tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import GreedyAblation, NeuronAblation, ablation_effect  # noqa: E402
from neuronlab.errors import InvalidParameterError  # noqa: E402


def _head(live, y_cls):
    """The classifier head by hand: logits = W_c tanh(W_p y_cls + b_p) + b_c (numpy, float64)."""
    m = live.model
    wp, bp = m.bert.pooler.dense.weight.detach().double().numpy(), m.bert.pooler.dense.bias.detach().double().numpy()
    wc, bc = m.classifier.weight.detach().double().numpy(), m.classifier.bias.detach().double().numpy()
    return np.tanh(y_cls @ wp.T + bp) @ wc.T + bc


def test_zeroing_a_neuron_of_the_last_block_matches_a_hand_computation():
    live = tiny_bert()
    enc = live.encode(INPUTS)
    y = live.activations(enc, "layers.1").double().numpy()[:, 0, :]  # [CLS] row of the last block
    j = 3
    y0 = y.copy()
    y0[:, j] = 0.0
    expected = _head(live, y)[:, 1] - _head(live, y0)[:, 1]
    res = NeuronAblation(live, "layers.1").attribute(INPUTS, target=1, neurons=[j, 5])
    np.testing.assert_allclose(res["effects"][:, 0], expected, atol=1e-5)
    assert np.all(np.abs(expected) > 1e-4)


def test_custom_baseline_values_and_groups():
    live = tiny_bert()
    enc = live.encode(INPUTS)
    y = live.activations(enc, "layers.1").double().numpy()[:, 0, :]
    vals = np.linspace(-1, 1, 16)
    ya = y.copy()
    ya[:, [2, 7]] = vals[[2, 7]]
    expected = _head(live, y)[:, 0] - _head(live, ya)[:, 0]
    res = NeuronAblation(live, "layers.1", baseline=vals).attribute(INPUTS, target=0, groups=[[2, 7]])
    np.testing.assert_allclose(res["effects"][:, 0], expected, atol=1e-5)


def test_greedy_ablation_finds_planted_neurons():
    """The head reads only neurons 4, 9, 13 of the [CLS] row (pooler = identity); greedy must pick them."""
    live = tiny_bert(seed=1)
    m = live.model
    enc = live.encode(INPUTS)
    y = live.activations(enc, "layers.1")[:, 0, :]
    planted = [4, 9, 13]
    with torch.no_grad():
        m.bert.pooler.dense.weight.copy_(torch.eye(16))
        m.bert.pooler.dense.bias.zero_()
        m.classifier.weight.zero_()
        for w, j in zip((3.0, 2.0, 1.5), planted):
            m.classifier.weight[1, j] = w * torch.sign(torch.tanh(y[:, j]).mean())
    res = GreedyAblation(live, "layers.1", k=3, batch_size=7).attribute(INPUTS, target=1)
    assert sorted(res["neurons"]) == planted
    assert np.all(res["effects"] < 0)
    # a loss target: the default direction is "increase"; the same neurons raise the class-1 loss most
    from neuronlab.models.targets import Target

    by_loss = GreedyAblation(live, "layers.1", k=3).attribute(INPUTS, target=Target("loss", 1))
    assert sorted(by_loss["neurons"]) == planted and by_loss["config"]["direction"] == "increase"
    assert np.all(by_loss["effects"] > 0)
    # the same choice from one candidate at a time (loop of single forward passes)
    single = NeuronAblation(live, "layers.1").attribute(INPUTS, target=1)["effects"].mean(0)
    assert set(np.argsort(-single)[:3].tolist()) == set(planted)


def test_mean_baseline_from_a_store(tmp_path):
    from neuronlab.store import ActivationStore

    live = tiny_bert()
    enc = live.encode(INPUTS)
    acts = live.activations(enc, "layers.1")
    rows = np.concatenate([acts[i, : n].numpy() for i, n in enumerate(enc.lengths)])
    path = tmp_path / "s.h5"
    with ActivationStore.create(path, sites={"layers.1": 16}, offsets=np.array([0, len(rows)]), texts=["x"],
                                tokens=["x"] * len(rows), granularity="token", dtype="float32",
                                model={"name": "tiny"}, config={}) as st:
        st._write_rows(0, 1, {"layers.1": rows.astype(np.float32)})
    with ActivationStore.open(path) as st:
        eff = ablation_effect(live, INPUTS, [1, 0], site="layers.1", neurons=[0, 1], baseline="mean", store=st)
    mean = rows.mean(0)
    y = acts.double().numpy()[:, 0, :]
    ya = y.copy()
    ya[:, [0, 1]] = mean[[0, 1]]
    lab = np.array([1, 0])
    lp = _head(live, ya)
    lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
    assert eff["after"]["loss"] == pytest.approx(-lp[[0, 1], lab].mean(), abs=1e-5)
    assert set(eff["before"]) == {"logit", "probability", "loss", "accuracy"}


def test_ablation_input_errors():
    live = tiny_bert()
    with pytest.raises(InvalidParameterError, match="neuron 16 is out of range.*16 neurons"):
        NeuronAblation(live, "layers.1").attribute(INPUTS, target=1, neurons=[16])
    with pytest.raises(InvalidParameterError, match="expected 16 values"):
        NeuronAblation(live, "layers.1", baseline=[0.0, 1.0]).attribute(INPUTS, target=1)
    with pytest.raises(InvalidParameterError, match="needs store="):
        NeuronAblation(live, "layers.1", baseline="mean").attribute(INPUTS, target=1)
    with pytest.raises(InvalidParameterError, match="k=40 is larger"):
        GreedyAblation(live, "layers.1", k=40).attribute(INPUTS, target=1)
