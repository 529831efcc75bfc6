"""Self-attention attribution (Hao et al. 2021): the attn.probs sites, completeness, Captum's IG on a function of A,
a planted head, head pruning and the attribution tree."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import INPUTS, tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import (HeadPruning, SelfAttentionAttribution, attribution_graph,  # noqa: E402
                                   attribution_tree, head_importance, layer_interactions, prune_heads)
from neuronlab.attribution.head_pruning import pruned_heads  # noqa: E402
from neuronlab.errors import InvalidParameterError, UnknownSiteError  # noqa: E402
from neuronlab.models.targets import Target  # noqa: E402


# ------------------------------------------------------------------ the attn.probs sites
@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5"])
def test_probs_site_is_the_models_own_attention(family, tmp_path):
    """Reading layers.L.attn.probs gives transformers' own eager attention weights, and an identity hook leaves the
    output unchanged (encoder, decoder with causal mask, grouped heads, T5's position bias)."""
    from helpers.tiny_models import build_tiny_model

    from neuronlab.models import load_model
    from neuronlab.models.live import LiveModel

    path = build_tiny_model(family, tmp_path / family)
    live = LiveModel.from_loaded(load_model(str(path)))
    ref = load_model(str(path)).model
    ref.set_attn_implementation("eager")
    enc = live.encode([["a", "good", "movie"], ["the", "plot"]])
    kw = {"decoder_input_ids": enc.input_ids} if live.adapter.is_encoder_decoder else {}
    with torch.no_grad():
        expected = ref(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_attentions=True, **kw)
        seen = {}
        sites = live.attention_sites
        with live.hooks({s: (lambda s: lambda a: seen.__setitem__(s, a.clone()))(s) for s in sites}):
            out = live.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, **kw)
    attn = expected.encoder_attentions if live.adapter.is_encoder_decoder else expected.attentions
    prefix = "encoder." if live.adapter.is_encoder_decoder else ""
    for L, a in enumerate(attn):
        got = seen[f"{prefix}layers.{L}.attn.probs"]
        valid = enc.attention_mask.bool()[:, None, :, None] & enc.attention_mask.bool()[:, None, None, :]
        np.testing.assert_allclose(got[valid.expand_as(got)].numpy(), a[valid.expand_as(a)].numpy(), atol=1e-6)
    np.testing.assert_allclose(out[0].numpy(), expected[0].numpy(), atol=1e-5)
    assert live.model.config._attn_implementation == "sdpa"


def test_zero_probabilities_equal_zero_context_vectors():
    """F(0) (the layer attending to nothing) equals zeroing the layer's per-head context vectors, an independent
    route through a module hook."""
    live = tiny_bert()
    res = SelfAttentionAttribution(live, "layers.1", steps=4).attribute(INPUTS, target=1)
    enc = live.encode(INPUTS)
    with torch.no_grad(), live.intervene("layers.1.attn.heads", "set", value=0.0):
        f0 = live.target(enc, 1).numpy()
    with torch.no_grad():
        fx = live.target(enc, 1).numpy()
    np.testing.assert_allclose(res.f_baseline, f0, atol=1e-6)
    np.testing.assert_allclose(res.f_input, fx, atol=1e-6)


# ------------------------------------------------------------------ completeness and an independent IG
def test_completeness_on_minilm_at_50_steps(clf):
    res = SelfAttentionAttribution(clf, "layers.3.attn.probs", steps=50).attribute(INPUTS, target=1)
    assert res.attributions.shape[:2] == (2, 12)
    total = res.attributions.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(total, res.f_input - res.f_baseline, rtol=1e-3)
    assert np.max(res.relative_delta()) < 1e-3
    assert np.all(np.abs(res.f_input - res.f_baseline) > 1e-3)  # the layer matters: the check is not vacuous
    # zero at padding (the first input is shorter)
    n = len(res.tokens[0])
    assert np.all(res.attributions[0, :, n:, :] == 0) and np.all(res.attributions[0, :, :, n:] == 0)


def test_equals_captum_integrated_gradients_on_a_function_of_A(clf):
    """Captum's IntegratedGradients on g(A) = target with layer 5's probabilities set to A (zero baseline), with the
    same Riemann rule, equals ours."""
    from captum.attr import IntegratedGradients

    site, steps = "layers.5.attn.probs", 8
    enc = clf.encode(INPUTS[1:])
    A = clf.attention(enc, site)
    resolved = clf.resolve_target(enc, Target("logit", 0))

    def g(a):
        rows = torch.zeros(a.shape[0], dtype=torch.long)
        with clf.hooks({site: lambda v: a}):
            return clf.target(enc, None, rows, resolved=resolved)

    ref = IntegratedGradients(g).attribute(A, baselines=torch.zeros_like(A), n_steps=steps, method="riemann_right")
    ours = SelfAttentionAttribution(clf, site, steps=steps, rule="riemann_right").attribute(INPUTS[1:], target=0)
    np.testing.assert_allclose(ours.attributions[0], ref[0].detach().numpy(), atol=1e-6, rtol=1e-4)


def test_gradient_against_finite_differences():
    """One Riemann step at alpha = 1 is A * dF/dA; check dF/dA against central differences in float64."""
    live = tiny_bert(hidden=8)
    live.model.double()
    with torch.no_grad():  # weights large enough that the attention matters (the default init's std is 0.02)
        for name, w in live.model.named_parameters():
            if w.dim() == 2 and "embeddings" not in name:
                w.normal_(0, 0.5)
    res = SelfAttentionAttribution(live, "layers.0", steps=1, rule="riemann_right").attribute(INPUTS[:1], target=1)
    enc = live.encode(INPUTS[:1])
    A = live.attention(enc, "layers.0.attn.probs").double()  # (the last layer: only the [CLS] query row counts)
    eps = 1e-3  # some ops of the model run in float32 (the mask): smaller steps only add noise
    big = 0.0
    for (h, i, j) in [(0, 1, 2), (1, 0, 0), (1, 3, 1)]:
        E = torch.zeros_like(A)
        E[0, h, i, j] = eps
        with torch.no_grad():
            with live.hooks({"layers.0.attn.probs": lambda v: A + E}):
                fp = float(live.forward(enc).logits[0, 1])  # float64 (targets compute in float32)
            with live.hooks({"layers.0.attn.probs": lambda v: A - E}):
                fm = float(live.forward(enc).logits[0, 1])
        fd = float(A[0, h, i, j]) * (fp - fm) / (2 * eps)
        assert res.attributions[0, h, i, j] == pytest.approx(fd, rel=1e-3, abs=1e-6)
        big = max(big, abs(fd))
    assert big > 1e-2  # not vacuous


# ------------------------------------------------------------------ planted head, importance, pruning
def _planted(head=(1, 1)):
    """A tiny BERT whose attention output reads only one head (``head`` = (layer, head)), made strong."""
    live = tiny_bert(seed=1)
    m = live.model
    d = m.config.hidden_size // m.config.num_attention_heads
    with torch.no_grad():
        for L, layer in enumerate(m.bert.encoder.layer):
            for h in range(m.config.num_attention_heads):
                cols = slice(h * d, (h + 1) * d)
                if (L, h) == head:
                    layer.attention.self.value.weight[cols] *= 30
                    layer.attention.self.query.weight[cols] *= 30
                else:
                    layer.attention.output.dense.weight[:, cols] = 0
        m.classifier.weight.normal_(0, 3.0)
    return live


SENTS = ["a good movie", "the plot was terrible and boring", "what a fine film it was", "dull", "I loved every bit",
         "no story at all , sadly"]


def test_planted_head_ranks_first():
    live = _planted()
    imp = head_importance(live, SENTS, target=1, steps=10)
    assert imp.ranking("attribution")[0] == "layers.1.attn.probs:1"
    assert imp.attribution[1, 1] > 0
    others = [imp.attribution[0, 0], imp.attribution[0, 1], imp.attribution[1, 0]]
    assert np.allclose(others, 0, atol=1e-12)  # heads the output does not read get exactly nothing


def test_pruning_a_head_equals_zeroing_its_context_vector_and_the_curve():
    live = _planted()
    enc = live.encode(SENTS)
    with torch.no_grad():
        preds = live.forward(enc).logits.argmax(-1).tolist()
        d = live.model.config.hidden_size // live.model.config.num_attention_heads
        with live.hooks({"layers.1.attn.probs": lambda v: v * torch.tensor([1.0, 0.0])[None, :, None, None]}):
            a = live.forward(enc).logits
        with live.intervene("layers.1.attn.heads", "set", neurons=list(range(d, 2 * d)), value=0.0):
            b = live.forward(enc).logits
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    res = HeadPruning(live, steps=5).attribute(SENTS, labels=preds)
    curves = res.curves
    assert set(curves) == {"attribution", "attention", "random"}
    assert all(c[0] == 1.0 and len(c) == 3 for c in curves.values())  # 0..2 heads pruned per layer
    assert curves["attribution"][1] == 1.0  # pruning the unread head of each layer changes nothing
    assert res.to_dict()["ranking"][0] == "layers.1.attn.probs:1"


def test_pruned_heads_mask():
    s = np.array([[0.3, 0.1, 0.2], [0.0, 0.0, 1.0]])
    assert pruned_heads(s, 0).sum() == 0
    np.testing.assert_array_equal(pruned_heads(s, 1), [[False, True, False], [True, False, False]])
    np.testing.assert_array_equal(pruned_heads(s, 2), [[False, True, True], [True, True, False]])


def test_prune_heads_checks_labels():
    live = tiny_bert()
    imp = head_importance(live, INPUTS, target=1, steps=2, layers=[0, 1])
    with pytest.raises(InvalidParameterError, match=r"label 3 is out of range: the model has 2 classes"):
        prune_heads(live, INPUTS, [0, 3], imp)
    with pytest.raises(InvalidParameterError, match="order 'taylor' is unknown"):
        prune_heads(live, INPUTS, [0, 1], imp, orders=("taylor",))


# ------------------------------------------------------------------ the attribution graph and tree
def test_graph_and_tree_on_planted_interactions():
    tokens = ["[CLS]", "not", "good", "film", "[SEP]"]
    S = np.zeros((3, 5, 5))
    S[2, 2, 1] = 2.0   # top layer: "good" reads "not"
    S[2, 2, 3] = 0.5   # below the threshold (0.25 of the layer's max)
    S[1, 1, 3] = 1.0   # layer 1: "not" reads "film"
    S[1, 2, 3] = 0.9   # "good" reads "film" at layer 1: "film" joins once, through the stronger edge
    S[0, 3, 4] = 1.0   # layer 0: "film" reads "[SEP]"
    S[0, 0, 1] = 9.0   # the [CLS] row is out of the normalisation
    S[0, 3, 3] = 50.0  # self-interactions are out too
    edges = attribution_graph(S, threshold=0.4)
    assert edges == [(0, 0, 1, 9.0), (0, 3, 4, 1.0), (1, 1, 3, 1.0), (1, 2, 3, 0.9), (2, 2, 1, 1.0)]
    tree = attribution_tree(S, tokens, threshold=0.4)
    assert tree.root == 2  # largest positive interactions over layers ([CLS] excluded)
    assert tree.parent == {1: (2, 2), 3: (1, 1), 4: (3, 0)}
    assert tree.nodes == [2, 1, 3, 4]
    assert tree.describe().splitlines()[0] == "good(2)"


def test_tree_from_a_model():
    live = tiny_bert()
    results = [SelfAttentionAttribution(live, f"layers.{L}", steps=3).attribute(INPUTS, target=1) for L in (0, 1)]
    S = layer_interactions(results, example=1)
    assert S.shape == (2, len(results[0].tokens[1]), len(results[0].tokens[1]))
    np.testing.assert_allclose(S[1], results[1].attributions[1].sum(axis=0)[: S.shape[1], : S.shape[1]])
    tree = attribution_tree(S, results[0].tokens[1], threshold=0.3)
    assert all(layer in (0, 1) for _, layer in tree.parent.values())
    with pytest.raises(InvalidParameterError, match="example 2 is out of range"):
        layer_interactions(results, example=2)


# ------------------------------------------------------------------ errors
def test_errors():
    live = tiny_bert()
    with pytest.raises(UnknownSiteError, match=r"'layers\.5\.attn\.probs' matches no site"):
        SelfAttentionAttribution(live, "layers.5")
    with pytest.raises(InvalidParameterError, match="has no attention"):
        SelfAttentionAttribution(live, "embeddings")
    with pytest.raises(InvalidParameterError, match="target class 4 is out of range"):
        SelfAttentionAttribution(live, "layers.0", steps=2).attribute(INPUTS, target=4)
    with pytest.raises(InvalidParameterError, match="threshold must be in"):
        attribution_graph(np.zeros((1, 2, 2)), threshold=0)
    assert live.width("layers.1.attn.probs") == 2
