"""Conservative LRP for transformers (explain/lrp.py, Ali et al. 2022): relevance is conserved on minilm
(words + position/segment embeddings + biases = the logit, to 1e-4), it differs from gradient x input, and
the scoped rules leave the model as it was."""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS

torch = pytest.importorskip("torch")

TEXTS = ["a good movie", "the plot was terrible and boring"]


def _balance(live, text):
    """Relevance of the word embeddings, of the position + segment embeddings and of every bias, and the logit,
    all under the conservative rules (one example, its predicted class)."""
    from neuronlab.explain.lrp import conservative_rules

    enc = live.encode([text])
    x = live.embed(enc).requires_grad_(True)
    seen = {}
    ln = live.model.bert.embeddings.LayerNorm  # its input: word + position + segment embeddings
    h = ln.register_forward_pre_hook(lambda m, a: seen.update(sum=a[0].detach()))
    biases = [p for n, p in live.model.named_parameters() if n.endswith(".bias")]
    try:
        with conservative_rules(live):
            logits = live.forward(enc, inputs_embeds=x).logits[0]
            c = int(logits.argmax())
            # query/key biases only reach the (detached) attention probabilities: no relevance, no gradient
            grads = torch.autograd.grad(logits[c], [x] + biases, allow_unused=True)
    finally:
        h.remove()
    g = grads[0]
    words = float((g * x).sum())
    others = float((g * (seen["sum"] - x.detach())).sum())
    bias = float(sum((gb * b).sum() for gb, b in zip(grads[1:], biases) if gb is not None))
    return words, others, bias, float(logits[c])


@pytest.mark.parametrize("text", TEXTS)
def test_relevance_is_conserved_on_minilm(clf, text):
    words, others, bias, logit = _balance(clf, text)
    ex = EXPLAINERS["lrp"](clf).explain([text])
    assert float(np.sum(ex.token_scores[0])) == pytest.approx(words, abs=1e-5)  # the explainer's scores
    assert ex.target_value[0] == pytest.approx(logit, abs=1e-5)
    assert words + others + bias == pytest.approx(logit, abs=1e-4)
    assert abs(bias) > 1e-2 and abs(others) > 1e-2  # the balance needs all three terms


def test_plain_gradient_x_input_is_not_conservative_and_differs(clf):
    """Without the rules (gradient x input) the same balance fails: that is the paper's point."""
    from neuronlab.explain.lrp import conservative_rules

    text = TEXTS[1]
    lrp = EXPLAINERS["lrp"](clf).explain([text])
    gxi = EXPLAINERS["gradient_x_input"](clf).explain([text])
    off = EXPLAINERS["lrp"](clf, ah=False, ln=False, activations=False).explain([text])
    np.testing.assert_allclose(off.token_scores[0], gxi.token_scores[0], atol=1e-6)  # all rules off = grad x input
    assert np.abs(lrp.token_scores[0] - gxi.token_scores[0]).max() > 1e-2
    enc = clf.encode([text])
    x = clf.embed(enc).requires_grad_(True)
    biases = [p for n, p in clf.model.named_parameters() if n.endswith(".bias")]
    with conservative_rules(clf, ah=False, ln=False, activations=False):
        logits = clf.forward(enc, inputs_embeds=x).logits[0]
        c = int(logits.argmax())
        grads = torch.autograd.grad(logits[c], [x] + biases)
    pos = clf.model.bert.embeddings.position_embeddings.weight[: x.shape[1]]
    seg = clf.model.bert.embeddings.token_type_embeddings.weight[0]
    total = float((grads[0] * (x + pos + seg)).sum()) + float(sum((g * b).sum() for g, b in zip(grads[1:], biases)))
    assert abs(total - float(logits[c])) > 1e-2


def _clean(live):
    for m in live.model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, m
        assert "forward" not in vars(m), m
    assert live.model.config._attn_implementation != "neuronlab_probs"


def test_rules_are_scoped_also_after_an_error(clf):
    before = clf.model.config._attn_implementation
    EXPLAINERS["lrp"](clf).explain(["a good movie"])
    _clean(clf)
    with pytest.raises(InvalidParameterError, match="out of range"):
        EXPLAINERS["lrp"](clf, target=7).explain(["a good movie"])
    _clean(clf)
    assert clf.model.config._attn_implementation == before
