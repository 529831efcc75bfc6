"""Value zeroing (Mohebbi et al. 2023): a hand-built layer whose map is known exactly, and a direct slow
reimplementation with plain torch (zeroing the value vectors themselves, one token and layer at a time, as the
authors' code does) on a tiny BERT."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain import value_zeroing as vz

torch = pytest.importorskip("torch")

TEXTS = [["a", "good", "movie"], ["the", "plot", "was", "terrible", "and", "boring"]]


def _joint(att):
    """The authors' ``compute_joint_attention(att, res=False)``."""
    joint = np.zeros(att.shape)
    joint[0] = att[0]
    for i in range(1, att.shape[0]):
        joint[i] = att[i].dot(joint[i - 1])
    return joint


def _cosine_distances_diag(x, y):
    from sklearn.metrics.pairwise import cosine_distances

    return cosine_distances(x, y).diagonal()


@pytest.fixture(scope="module")
def tiny():
    """A random 2-layer BERT with weights large enough (std 0.3) that attention moves the residual stream
    (at BERT's init scale, 0.02, the distances are at float32 rounding level)."""
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=3)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in live.model.bert.encoder.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.3)
    return live


def _hand_built():
    """One BERT layer: uniform attention (Q = K = 0), V = identity, output projection = identity, FFN = 0.
    Its output at i is LN(LN(x_i + mean_k x_k)); zeroing v_j leaves LN(LN(x_i + (sum_k x_k - x_j) / n))."""
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=1, layers=1)
    layer = live.model.bert.encoder.layer[0]
    with torch.no_grad():
        for lin in (layer.attention.self.query, layer.attention.self.key, layer.intermediate.dense,
                    layer.output.dense):
            lin.weight.zero_()
            lin.bias.zero_()
        for lin in (layer.attention.self.value, layer.attention.output.dense):
            lin.weight.copy_(torch.eye(lin.weight.shape[0]))
            lin.bias.zero_()
    return live


def _ln(x, eps):
    x = x - x.mean(-1, keepdims=True)
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps)


def test_hand_built_layer_map_is_known_exactly():
    live = _hand_built()
    eps = live.model.config.layer_norm_eps
    enc = live.encode(TEXTS)
    emb = live.activations(enc, "embeddings").double().numpy()
    maps = vz.value_zeroing_maps(live, enc, batch_size=3)  # batches cross examples and padding
    for e, m in enumerate(maps):
        n = enc.lengths[e]
        x = emb[e, :n]
        total = x.sum(0)
        orig = _ln(_ln(x + total / n, eps), eps)
        expected = np.zeros((n, n))
        for j in range(n):
            alt = _ln(_ln(x + (total - x[j]) / n, eps), eps)
            expected[:, j] = _cosine_distances_diag(alt, orig)
        expected /= expected.sum(-1, keepdims=True)
        assert m.shape == (1, n, n)
        np.testing.assert_allclose(m[0], expected, atol=2e-5)
        np.testing.assert_allclose(m.sum(-1), 1.0, atol=1e-12)


def _slow_reference(live, words):
    """Mohebbi et al.'s procedure with plain torch: per layer l and token t, rerun block l on the original
    output of block l - 1 with the value vector of t zeroed (a hook on the value projection)."""
    model = live.model
    enc = live.tokenizer([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    layers = model.bert.encoder.layer
    n = enc["input_ids"].shape[1]
    scores = np.zeros((len(layers), n, n))
    for l, block in enumerate(layers):
        for t in range(n):
            def zero_value(module, args, out, t=t):
                out = out.clone()
                out[:, t, :] = 0
                return out

            h = block.attention.self.value.register_forward_hook(zero_value)
            try:
                with torch.no_grad():
                    out = block(hidden[l])
            finally:
                h.remove()
            out = out[0] if isinstance(out, tuple) else out
            scores[l, :, t] = _cosine_distances_diag(out[0].numpy(), hidden[l + 1][0].numpy())
    scores = scores / scores.sum(-1, keepdims=True)
    return scores, _joint(scores)


def test_matches_a_direct_slow_reimplementation(tiny, monkeypatch):
    enc = tiny.encode(TEXTS)
    maps = vz.value_zeroing_maps(tiny, enc, batch_size=4)
    ex = EXPLAINERS["value_zeroing"](tiny, batch_size=4).explain(TEXTS)
    for e, words in enumerate(TEXTS):
        ref, joint = _slow_reference(tiny, words)
        np.testing.assert_allclose(maps[e], ref, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(vz.mixing_rollout(maps[e]), joint, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(ex.token_scores[e], joint[-1][0], rtol=1e-4, atol=2e-5)
        assert ex.token_scores[e].sum() == pytest.approx(1.0)
    # without skipping the blocks below (full forward passes) the maps are the same
    monkeypatch.setattr(vz, "_can_skip", lambda *a, **k: False)
    full = vz.value_zeroing_maps(tiny, enc, batch_size=64)
    for a, b in zip(full, maps):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def _hooks(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), "forward" in m.__dict__) for m in model.modules()]


def test_single_layer_scores_hooks_removed_and_errors(tiny):
    before = _hooks(tiny.model)
    ex = EXPLAINERS["value_zeroing"](tiny, rollout=False, layer=0).explain(TEXTS[:1])
    enc = tiny.encode(TEXTS[:1])
    np.testing.assert_allclose(ex.token_scores[0], vz.value_zeroing_maps(tiny, enc)[0][0][0], atol=1e-9)
    assert ex.config["rollout"] is False and ex.method == "value_zeroing"
    # n_tokens rows per layer + the original pass (+ the predicted-class pass), no more
    assert 2 * 5 + 1 <= ex.forward_passes <= 2 * 5 + 1 + 1 + 2
    assert _hooks(tiny.model) == before
    assert tiny.model.config._attn_implementation != "neuronlab_probs"
    with pytest.raises(InvalidParameterError, match="layer 5 is out of range"):
        EXPLAINERS["value_zeroing"](tiny, layer=5)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        vz.value_zeroing_maps(tiny, enc, batch_size=0)


def test_planted_word_dominates_each_layers_map():
    """On the classifier that predicts class 1 iff "nobody" occurs, [CLS]'s output at every layer depends most on
    "nobody" (the per-layer maps; the rolled-out map need not agree, see docs/explain.md)."""
    from helpers.planted import PLANTED, planted_classifier, sentences

    words, labels = sentences(16, seed=7)
    positives = [w for w, y in zip(words, labels) if y][:4]
    live = planted_classifier()
    for layer in (0, 1):
        ex = EXPLAINERS["value_zeroing"](live, rollout=False, layer=layer).explain(positives)
        assert [ex.top_words(i, 1)[0][0] for i in range(len(positives))] == [PLANTED] * len(positives)
