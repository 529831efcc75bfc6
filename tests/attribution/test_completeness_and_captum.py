"""Completeness on minilm and agreement with Captum (an independent implementation) on the same model.

Captum sees the model through a forward function of the embedding output (a hook of its own on
``bert.embeddings``), the same baselines (the embedding output of the input with every word replaced by
[PAD]) and the matching quadrature rule.
"""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import INPUTS

torch = pytest.importorskip("torch")
captum = pytest.importorskip("captum")

from neuronlab.attribution import (LayerConductance, LayerIntegratedGradients, NeuronAblation,  # noqa: E402
                                   NeuronConductance, get_rule)
from neuronlab.attribution._path import baseline_encoded  # noqa: E402

L = 3


@pytest.fixture(scope="module")
def captum_setup(clf):
    enc = clf.encode(INPUTS)
    x = clf.activations(enc, "embeddings")
    b = clf.activations(baseline_encoded(clf, enc), "embeddings")
    model = clf.model

    def forward(emb, ids, mask):
        h = model.bert.embeddings.register_forward_hook(lambda m, a, o: emb)
        try:
            return model(input_ids=ids, attention_mask=mask).logits
        finally:
            h.remove()

    return enc, x, b, forward, model.bert.encoder.layer[L]


@pytest.mark.parametrize("method", ["conductance", "integrated_gradients"])
def test_completeness_block_output_50_steps(clf, method):
    cls = LayerConductance if method == "conductance" else LayerIntegratedGradients
    res = cls(clf, f"layers.{L}", steps=50).attribute(INPUTS, target=1)
    diff = res.f_input - res.f_baseline
    assert np.all(np.abs(diff) > 0.1)  # the check means something
    np.testing.assert_allclose(res.attributions.sum(axis=(1, 2)), diff, rtol=1e-3)
    assert np.all(res.relative_delta() < 1e-3)
    assert res.config["steps"] == 50 and res.config["rule"] == "gausslegendre"


def test_difference_conductance_converges_at_second_order(clf):
    """The Stieltjes sum (Captum's scheme) telescopes; its remainder shrinks at least 3x when steps double."""
    d = [np.abs(LayerConductance(clf, f"layers.{L}", steps=s, rule="riemann_middle", derivative="difference")
                .attribute(INPUTS[:1], target=1).delta[0]) for s in (10, 20)]
    assert d[1] < d[0] / 3.0  # at least second order (pre-asymptotic: faster)


def test_layer_conductance_equals_captum(clf, captum_setup):
    from captum.attr import LayerConductance as CaptumLC

    enc, x, b, forward, layer = captum_setup
    m = 8
    ref = CaptumLC(forward, layer).attribute(x, baselines=b, target=1, n_steps=m, method="riemann_trapezoid",
                                             additional_forward_args=(enc.input_ids, enc.attention_mask))
    ours = LayerConductance(clf, f"layers.{L}", steps=m, rule="riemann_left", derivative="difference").attribute(
        INPUTS, target=1)
    mask = enc.attention_mask.numpy()[:, :, None]
    np.testing.assert_allclose(ours.attributions, ref.detach().numpy() * mask, atol=1e-4)


@pytest.mark.parametrize("rule,captum_rule", [("gausslegendre", "gausslegendre"), ("riemann_middle", "riemann_middle")])
def test_layer_integrated_gradients_equals_captum(clf, captum_setup, rule, captum_rule):
    from captum.attr import LayerIntegratedGradients as CaptumLIG

    enc, x, b, forward, layer = captum_setup
    ref = CaptumLIG(forward, layer).attribute(x, baselines=b, target=1, n_steps=8, method=captum_rule,
                                              additional_forward_args=(enc.input_ids, enc.attention_mask))
    ours = LayerIntegratedGradients(clf, f"layers.{L}", steps=8, rule=rule).attribute(INPUTS, target=1)
    mask = enc.attention_mask.numpy()[:, :, None]
    np.testing.assert_allclose(ours.attributions, ref.detach().numpy() * mask, atol=1e-4)


def test_trapezoid_differs_from_captum_by_its_weight_sum(clf, captum_setup):
    """Captum's trapezoid weights sum to 1 - 1/m; ours to 1, so ours = Captum's * m / (m - 1)."""
    from captum.attr import LayerIntegratedGradients as CaptumLIG

    enc, x, b, forward, layer = captum_setup
    m = 8
    ref = CaptumLIG(forward, layer).attribute(x, baselines=b, target=1, n_steps=m, method="riemann_trapezoid",
                                              additional_forward_args=(enc.input_ids, enc.attention_mask))
    ours = LayerIntegratedGradients(clf, f"layers.{L}", steps=m, rule="trapezoid").attribute(INPUTS, target=1)
    mask = enc.attention_mask.numpy()[:, :, None]
    np.testing.assert_allclose(ours.attributions, ref.detach().numpy() * mask * m / (m - 1), atol=1e-4)
    assert get_rule("trapezoid", m).weights.sum() == pytest.approx(1.0)


def test_neuron_conductance_equals_captum(clf, captum_setup):
    from captum.attr import NeuronConductance as CaptumNC

    enc, x, b, forward, layer = captum_setup
    tok, j = 2, 17
    ref = CaptumNC(forward, layer).attribute(x, neuron_selector=(tok, j), baselines=b, target=1, n_steps=8,
                                             method="gausslegendre",
                                             additional_forward_args=(enc.input_ids, enc.attention_mask))
    ours = NeuronConductance(clf, f"layers.{L}", steps=8).attribute(INPUTS, target=1, neuron=j, token=tok)
    np.testing.assert_allclose(ours.attributions, ref.detach().numpy().sum(-1) * enc.attention_mask.numpy(),
                               atol=1e-4)


def test_neuron_conductance_sums_to_the_neurons_layer_conductance(clf):
    j = 5
    nc = NeuronConductance(clf, f"layers.{L}", steps=16).attribute(INPUTS, target=1, neuron=j)
    lc = LayerConductance(clf, f"layers.{L}", steps=16).attribute(INPUTS, target=1)
    np.testing.assert_allclose(nc.attributions.sum(1), lc.per_neuron()[:, j], atol=1e-5)
    # the delta compares with the (second-order) Stieltjes sum on the same breakpoints: small, not zero
    assert np.all(np.abs(nc.delta) < 0.05 * np.abs(lc.per_neuron()[:, j]).max())


def test_neuron_ablation_equals_captum_layer_feature_ablation(clf, captum_setup):
    from captum.attr import LayerFeatureAblation

    enc, x, b, forward, layer = captum_setup
    H = 384
    groups = torch.arange(H).view(1, 1, H)
    ref = LayerFeatureAblation(forward, layer).attribute(x, layer_baselines=0.0, target=1, layer_mask=groups,
                                                         additional_forward_args=(enc.input_ids, enc.attention_mask),
                                                         perturbations_per_eval=64)
    ours = NeuronAblation(clf, f"layers.{L}").attribute(INPUTS, target=1)
    np.testing.assert_allclose(ours["effects"], ref.detach().numpy()[:, 0, :], atol=1e-4)
