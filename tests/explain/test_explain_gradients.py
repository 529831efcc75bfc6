"""Gradient explainers (explain/gradients.py): agreement with Captum on the same model, inputs and noise,
integrated-gradients completeness, the planted "nobody" signal, and the user errors."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS
from neuronlab.explain.base import reduce_embedding

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TEXTS = ["a good movie", "the plot was terrible and boring"]
TOL = 1e-4


def _one(live, text):
    """One example: its encoding, resolved predicted target and word embeddings."""
    from neuronlab.explain.base import Explainer

    enc = live.encode([text])
    _, resolved = Explainer(live).resolve(enc)
    return enc, resolved, live.embed(enc)


def _embeds_forward(live, enc, resolved):
    """Captum's forward function: word embeddings (rows of the single example) -> the target."""

    def f(emb):
        rows = torch.zeros(emb.shape[0], dtype=torch.long)
        return resolved(live.forward(enc, rows, inputs_embeds=emb), rows)

    return f


class _Wrapped(torch.nn.Module):
    """The live model as a module of the word embeddings (Captum's DeepLift and GuidedBackprop hook modules)."""

    def __init__(self, live, enc, resolved):
        super().__init__()
        self.model, self.f = live.model, _embeds_forward(live, enc, resolved)

    def forward(self, emb):
        return self.f(emb)


def _tokens(enc, per_dim, how):
    """Captum's per-dimension result reduced like ours, on the example's tokens."""
    return reduce_embedding(per_dim.detach(), how)[0][: enc.lengths[0]].double().numpy()


def _ours(live, method, **params):
    """Our token scores for both texts in one padded batch (checks the batching and the trimming too)."""
    return EXPLAINERS[method](live, **params).explain(TEXTS)


def test_saliency_and_gradient_x_input_agree_with_captum_per_dimension(clf):
    from neuronlab.explain.gradients import GradientXInput, Saliency

    enc, resolved, x = _one(clf, TEXTS[1])
    f = _embeds_forward(clf, enc, resolved)
    sal = captum_attr.Saliency(f).attribute(x.clone(), abs=False)
    ixg = captum_attr.InputXGradient(f).attribute(x.clone())
    ours_sal, _ = Saliency(clf).attribute_embeddings([TEXTS[1]])
    ours_ixg, _ = GradientXInput(clf).attribute_embeddings([TEXTS[1]])
    assert float(sal.abs().max()) > 1e-2  # gradients of a visible size
    torch.testing.assert_close(ours_sal, sal.detach(), atol=TOL, rtol=TOL)
    torch.testing.assert_close(ours_ixg, ixg.detach(), atol=TOL, rtol=TOL)
    # the batched, trimmed run over both texts gives the same token scores as the single example
    batched = _ours(clf, "gradient", reduction="l1")
    np.testing.assert_allclose(batched.token_scores[1], _tokens(enc, sal.abs(), "sum"), atol=TOL, rtol=TOL)
    dot = Saliency(clf, reduction="dot").explain([TEXTS[1]])  # gradient . input = gradient x input summed
    np.testing.assert_allclose(dot.token_scores[0], _tokens(enc, ixg, "sum"), atol=TOL, rtol=TOL)


def test_integrated_gradients_agree_with_captum_layer_ig_and_are_complete(clf):
    steps = 32
    ours = _ours(clf, "integrated_gradients", steps=steps, baseline="mask", batch_size=40)
    enc, resolved, _ = _one(clf, TEXTS[1])
    mask = enc.attention_mask

    def f(ids):
        rows = torch.zeros(ids.shape[0], dtype=torch.long)
        return resolved(clf.model(input_ids=ids, attention_mask=mask.expand(ids.shape[0], -1)), rows)

    base_ids = torch.where(enc.content_mask(), torch.full_like(enc.input_ids, clf.tokenizer.mask_token_id),
                           enc.input_ids)
    lig = captum_attr.LayerIntegratedGradients(f, clf.model.get_input_embeddings())
    attr = lig.attribute(enc.input_ids, baselines=base_ids, n_steps=steps, method="gausslegendre")
    np.testing.assert_allclose(ours.token_scores[1], _tokens(enc, attr, "sum"), atol=TOL, rtol=TOL)
    for i in range(len(TEXTS)):
        gap = ours.target_value[i] - ours.reference_value[i]
        assert abs(gap) > 0.01  # a real difference to explain
        assert float(np.sum(ours.token_scores[i])) == pytest.approx(gap, abs=2e-3)


def test_integrated_gradients_zero_baseline_and_riemann_rule_against_captum_ig(clf):
    ours = EXPLAINERS["integrated_gradients"](clf, steps=8, rule="riemann_right", baseline="zero").explain([TEXTS[0]])
    enc, resolved, x = _one(clf, TEXTS[0])
    base = torch.where(enc.content_mask()[..., None], torch.zeros_like(x), x)
    ig = captum_attr.IntegratedGradients(_embeds_forward(clf, enc, resolved))
    attr = ig.attribute(x, baselines=base, n_steps=8, method="riemann_right")
    np.testing.assert_allclose(ours.token_scores[0], _tokens(enc, attr, "sum"), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("absolute", [False, True])
def test_smoothgrad_agrees_with_captum_noise_tunnel_on_the_same_noise(clf, monkeypatch, absolute):
    from neuronlab.explain.gradients import SmoothGrad, noise_sigma

    n = 4
    enc, resolved, x = _one(clf, TEXTS[0])
    sigma = noise_sigma(x, enc.attention_mask, 0.1)[0]
    assert sigma == pytest.approx(0.1 * float(x.max() - x.min()))
    torch.manual_seed(11)  # Captum draws torch.normal(0, sd repeated over (n, tokens, hidden))
    noise = torch.normal(0, torch.tensor(sigma).repeat((n,) + tuple(x.shape[1:])))
    torch.manual_seed(11)
    nt = captum_attr.NoiseTunnel(captum_attr.Saliency(_embeds_forward(clf, enc, resolved)))
    ref = nt.attribute(x.clone(), nt_type="smoothgrad", nt_samples=n, stdevs=sigma, abs=absolute)
    sg = SmoothGrad(clf, n_samples=n, level=0.1, absolute=absolute)
    monkeypatch.setattr(sg, "_draw", lambda shape, sig, gen: noise * (sig[0] / sigma))
    ours, _ = sg.attribute_embeddings([TEXTS[0]])
    torch.testing.assert_close(ours, ref.detach(), atol=TOL, rtol=TOL)


def test_smoothgrad_is_seeded_and_differs_from_the_plain_gradient(clf):
    a = EXPLAINERS["smoothgrad"](clf, n_samples=2, seed=1).explain([TEXTS[0]])
    b = EXPLAINERS["smoothgrad"](clf, n_samples=2, seed=1).explain([TEXTS[0]])
    c = EXPLAINERS["smoothgrad"](clf, n_samples=2, seed=2).explain([TEXTS[0]])
    g = EXPLAINERS["gradient"](clf).explain([TEXTS[0]])
    assert a.word_scores == b.word_scores
    assert a.word_scores != c.word_scores
    assert not np.allclose(a.token_scores[0], g.token_scores[0], atol=1e-3)
    assert a.forward_passes == 1 + 2  # f(x), then 2 noisy copies


def _relu_bert():
    """A random 2-layer BERT classifier with ReLU feed-forward layers (guided backprop is defined there)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(3)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=2, hidden_act="relu",
                     initializer_range=0.2)
    return LiveModel(BertForSequenceClassification(cfg).eval(), AutoTokenizer.from_pretrained(str(_minilm_path())))


@pytest.fixture(scope="module")
def relu_bert():
    return _relu_bert()


def test_guided_backprop_agrees_with_captum_on_a_relu_model_and_is_refused_for_gelu(clf, relu_bert):
    from neuronlab.explain.gradients import GuidedBackprop, Saliency

    for text in TEXTS:
        enc, resolved, x = _one(relu_bert, text)
        ref = captum_attr.GuidedBackprop(_Wrapped(relu_bert, enc, resolved)).attribute(x.clone())
        ours, _ = GuidedBackprop(relu_bert).attribute_embeddings([text])
        plain, _ = Saliency(relu_bert).attribute_embeddings([text])
        assert float(ref.abs().max()) > 1e-3
        torch.testing.assert_close(ours, ref.detach(), atol=1e-5, rtol=1e-4)
        assert not torch.allclose(ours, plain, atol=1e-4)  # the guided rule changed something
    with pytest.raises(InvalidParameterError, match="ReLU networks only.*'gelu'"):
        EXPLAINERS["guided_backprop"](clf)


def test_normalisation_and_reductions(relu_bert):
    raw = _ours(relu_bert, "gradient_x_input")
    norm = _ours(relu_bert, "gradient_x_input", normalize=True)
    for r, n in zip(raw.token_scores, norm.token_scores):
        np.testing.assert_allclose(n, r / np.abs(r).sum(), rtol=1e-9)
        assert np.abs(n).sum() == pytest.approx(1.0)
    l1 = _ours(relu_bert, "gradient").token_scores
    l2 = _ours(relu_bert, "gradient", reduction="l2").token_scores
    assert all((a >= b - 1e-6).all() for a, b in zip(l1, l2))  # |g|_1 >= |g|_2
    assert raw.config == {"reduction": "sum", "normalize": False, "batch_size": 32}


def test_batch_size_does_not_change_the_result(relu_bert):
    a = _ours(relu_bert, "integrated_gradients", steps=8, batch_size=3)
    b = _ours(relu_bert, "integrated_gradients", steps=8, batch_size=64)
    for x, y in zip(a.token_scores, b.token_scores):
        np.testing.assert_allclose(x, y, atol=1e-5)
    assert a.forward_passes == b.forward_passes == 2 + 2 * 8 + 2


@pytest.mark.parametrize("method,params,match", [
    ("gradient", {"reduction": "max"}, "reduction 'max' is unknown; choose one of"),
    ("integrated_gradients", {"baseline": "qwertyuiopzz"}, "baseline 'qwertyuiopzz' is neither"),
    ("integrated_gradients", {"steps": 0}, "steps must be a positive int"),
    ("integrated_gradients", {"rule": "simpson"}, "rule 'simpson' is unknown"),
    ("smoothgrad", {"n_samples": 0}, "n_samples must be a positive int"),
    ("smoothgrad", {"level": -1.0}, "level must be >= 0"),
    ("gradient", {"batch_size": 0}, "batch_size must be >= 1"),
])
def test_user_errors_are_one_line(clf, method, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        EXPLAINERS[method](clf, **params)


def test_integrated_gradients_accepts_a_vocabulary_token_as_baseline(relu_bert):
    from neuronlab.explain.gradients import baseline_embeddings

    live = relu_bert
    enc = live.encode(["a good movie"])
    ref = baseline_embeddings(live, enc, "the")
    the = live.embed(enc, ids=torch.full_like(enc.input_ids, live.tokenizer.convert_tokens_to_ids("the")))
    content = enc.content_mask()[0]
    assert torch.equal(ref[0, content], the[0, content])
    assert torch.equal(ref[0, ~content], live.embed(enc)[0, ~content])  # [CLS], [SEP] kept
    ex = EXPLAINERS["integrated_gradients"](live, baseline="the", steps=4).explain(["a good movie"])
    assert ex.config["baseline"] == "the"


# ------------------------------------------------------------------ planted signal
@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier, sentences

    words, labels = sentences(24, seed=7)
    return planted_classifier(), [w for w, y in zip(words, labels) if y == 1]


GRADIENT_METHODS = [("gradient", {}), ("gradient_x_input", {}), ("smoothgrad", {"n_samples": 8}),
                    ("integrated_gradients", {"steps": 16}),
                    ("integrated_gradients", {"steps": 16, "baseline": "zero"}),
                    ("lrp", {}), ("deeplift", {}), ("gradient_shap", {"n_samples": 16})]


#: ranked by |score|: the planted model is saturated at its inputs (logit 3.27 for every positive sentence),
#: so the local gradient's sign is noise for gradient x input and for DeepLIFT (whose LayerNorm and attention
#: pass the local gradient); the saliency maps are absolute by construction (l1)
BY_MAGNITUDE = ("gradient_x_input", "deeplift")


@pytest.mark.parametrize("method,params", GRADIENT_METHODS)
def test_planted_word_comes_first(planted, method, params):
    """Every gradient/propagation explainer ranks "nobody" first on positive sentences (target: the predicted
    class 1): signed scores for integrated gradients, LRP and GradientSHAP; |score| for the others."""
    live, positives = planted
    ex = EXPLAINERS[method](live, **params).explain(positives)
    assert set(ex.target["index"]) == {1}
    for words, scores in zip(ex.words, ex.word_scores):
        scores = np.abs(scores) if method in BY_MAGNITUDE else np.asarray(scores)
        assert words[int(np.argmax(scores))] == "nobody", (method, words, np.round(scores, 3))


# ------------------------------------------------------------------ one check over every method of these families
MINE = [k for k, e in EXPLAINERS.items() if e.family in ("gradient", "propagation")]
#: small settings for the common check (the defaults: 50 steps, 20 samples)
SMALL = {"integrated_gradients": {"steps": 4}, "smoothgrad": {"n_samples": 2},
         "gradient_shap": {"n_samples": 2, "n_random": 2}}


def _untouched(live, enc, logits, attn):
    for m in live.model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks, m
        assert "forward" not in vars(m), m
    assert live.model.config._attn_implementation == attn
    with torch.no_grad():
        assert torch.equal(live.forward(enc).logits, logits)


@pytest.mark.parametrize("method", MINE)
def test_every_method_scores_each_token_and_leaves_the_model_as_it_was(relu_bert, method):
    enc = relu_bert.encode([t.split() for t in TEXTS])
    with torch.no_grad():
        logits = relu_bert.forward(enc).logits
    attn = relu_bert.model.config._attn_implementation
    ex = EXPLAINERS[method](relu_bert, **SMALL.get(method, {})).explain([t.split() for t in TEXTS])
    assert [len(s) for s in ex.token_scores] == [len(t) for t in ex.tokens] == enc.lengths
    assert [len(s) for s in ex.word_scores] == [len(t.split()) for t in TEXTS]
    assert all(np.isfinite(s).all() and np.abs(s).max() > 0 for s in ex.token_scores)
    assert ex.method == method and ex.forward_passes > len(TEXTS)
    _untouched(relu_bert, enc, logits, attn)
    with pytest.raises(InvalidParameterError, match="out of range"):
        EXPLAINERS[method](relu_bert, target=5, **SMALL.get(method, {})).explain(TEXTS)
    _untouched(relu_bert, enc, logits, attn)
