"""DeepLIFT (rescale rule) and GradientSHAP (explain/deeplift.py) against Captum's DeepLift and GradientShap
on the same model, inputs, baselines and random draws."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TEXTS = ["a good movie", "the plot was terrible and boring"]


@pytest.fixture(scope="module")
def relu_bert():
    """A random 2-layer BERT classifier with ReLU feed-forward layers: Captum's DeepLift rescales its ReLU and
    tanh modules, the same activations ours rescales."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(4)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=2, hidden_act="relu",
                     initializer_range=0.2)
    return LiveModel(BertForSequenceClassification(cfg).eval(), AutoTokenizer.from_pretrained(str(_minilm_path())))


def _one(live, text):
    from neuronlab.explain.base import Explainer

    enc = live.encode([text])
    _, resolved = Explainer(live).resolve(enc)
    return enc, resolved, live.embed(enc)


class _Wrapped(torch.nn.Module):
    """The live model as a module of the word embeddings of one example (Captum's DeepLift hooks modules)."""

    def __init__(self, live, enc, resolved):
        super().__init__()
        self.model, self.live, self.enc, self.resolved = live.model, live, enc, resolved

    def forward(self, emb):
        rows = torch.zeros(emb.shape[0], dtype=torch.long)
        return self.resolved(self.live.forward(self.enc, rows, inputs_embeds=emb), rows)


@pytest.mark.parametrize("baseline", ["pad", "zero"])
def test_deeplift_agrees_with_captum(relu_bert, baseline):
    from neuronlab.explain.deeplift import DeepLift
    from neuronlab.explain.gradients import baseline_embeddings

    for text in TEXTS:
        enc, resolved, x = _one(relu_bert, text)
        ref = baseline_embeddings(relu_bert, enc, baseline)
        expect = captum_attr.DeepLift(_Wrapped(relu_bert, enc, resolved)).attribute(x.clone(), baselines=ref)
        ours, f_ref = DeepLift(relu_bert, baseline=baseline).attribute_embeddings([text])
        assert float(expect.abs().max()) > 1e-3
        torch.testing.assert_close(ours, expect.detach(), atol=1e-5, rtol=1e-4)
        with torch.no_grad():
            assert f_ref[0] == pytest.approx(float(_Wrapped(relu_bert, enc, resolved)(ref)[0]), abs=1e-5)
    # the rescale rule is not the gradient: gradient x (x - x') differs
    from neuronlab.explain.gradients import Saliency

    g, _ = Saliency(relu_bert).attribute_embeddings([TEXTS[1]])
    enc, _, x = _one(relu_bert, TEXTS[1])
    assert not torch.allclose(ours, g * (x - baseline_embeddings(relu_bert, enc, baseline)), atol=1e-4)


def test_deeplift_batches_like_single_examples_and_reports_the_reference(clf):
    both = EXPLAINERS["deeplift"](clf, batch_size=2).explain(TEXTS)  # one example per pass (2 rows)
    single = EXPLAINERS["deeplift"](clf).explain([TEXTS[1]])
    np.testing.assert_allclose(both.token_scores[1], single.token_scores[0], atol=1e-5)
    ig = EXPLAINERS["integrated_gradients"](clf, steps=2).explain(TEXTS)  # same pad baseline
    assert both.reference_value == pytest.approx(ig.reference_value, abs=1e-5)
    assert both.forward_passes == 2 + 2 * 2


def test_gradient_shap_agrees_with_captum_on_the_same_draws(relu_bert, monkeypatch):
    from neuronlab.explain.deeplift import GradientShap
    from neuronlab.explain.gradients import noise_sigma

    n, text = 6, TEXTS[1]
    gs = GradientShap(relu_bert, baselines="random,pad", n_random=3, n_samples=n, level=0.05, seed=2)
    enc, resolved, x = _one(relu_bert, text)
    refs = gs.baseline_set(enc, torch.Generator().manual_seed(2))[0]  # what gs draws first with its seed
    assert refs.shape[0] == 4
    sigma = noise_sigma(x, enc.attention_mask, 0.05)[0]
    # Captum's draws, in its order: torch.normal noise; numpy baseline indices, then numpy path points
    torch.manual_seed(9)
    noise = torch.normal(0, torch.tensor(sigma).repeat((n,) + tuple(x.shape[1:])))
    np.random.seed(9)
    idx = np.random.choice(refs.shape[0], n)
    alpha = np.random.uniform(0.0, 1.0, n)
    monkeypatch.setattr(gs, "_draw", lambda *a: (torch.as_tensor(idx), torch.as_tensor(alpha), noise))
    torch.manual_seed(9)
    np.random.seed(9)
    expect = captum_attr.GradientShap(_Wrapped(relu_bert, enc, resolved)).attribute(
        x.clone(), baselines=refs, n_samples=n, stdevs=sigma)
    ours, f_ref = gs.attribute_embeddings([text])
    assert float(expect.abs().max()) > 1e-3
    torch.testing.assert_close(ours, expect.detach(), atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        f = _Wrapped(relu_bert, enc, resolved)
        assert f_ref[0] == pytest.approx(float(torch.stack([f(r[None])[0] for r in refs]).mean()), abs=1e-5)


def test_gradient_shap_is_seeded_and_checks_its_parameters(relu_bert):
    a = EXPLAINERS["gradient_shap"](relu_bert, n_samples=4, seed=3).explain(TEXTS)
    b = EXPLAINERS["gradient_shap"](relu_bert, n_samples=4, seed=3).explain(TEXTS)
    c = EXPLAINERS["gradient_shap"](relu_bert, n_samples=4, seed=4).explain(TEXTS)
    assert a.word_scores == b.word_scores != c.word_scores
    d = EXPLAINERS["gradient_shap"](relu_bert, n_samples=4, seed=3, reference=False).explain(TEXTS)
    assert d.word_scores == a.word_scores and d.reference_value is None
    assert a.forward_passes - d.forward_passes == 2 * 8  # one row per baseline (8 random ones) and example
    with pytest.raises(InvalidParameterError, match="n_samples must be a positive int"):
        EXPLAINERS["gradient_shap"](relu_bert, n_samples=0)
    with pytest.raises(InvalidParameterError, match="baseline 'qqqzzzxx' is neither"):
        EXPLAINERS["gradient_shap"](relu_bert, baselines="random,qqqzzzxx")
