"""The live-model layer: encoding and word alignment, targets, scoped read/replace/intervene/differentiate hooks,
running from a site with the blocks below skipped, and the quadrature rules."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.live_models import tiny_bert  # noqa: E402

from neuronlab.attribution.quadrature import RULES, get_rule  # noqa: E402
from neuronlab.errors import InvalidParameterError, UnknownSiteError  # noqa: E402
from neuronlab.models.live import INTERVENTIONS, LiveModel  # noqa: E402
from neuronlab.models.targets import TARGETS, Target  # noqa: E402

WORDS = [["Unbelievably", ",", "antidisestablishmentarianism", "prevails"], ["She", "walked"]]


@pytest.fixture(scope="module")
def live():
    return tiny_bert()


def _no_hooks(model) -> bool:
    return not any(m._forward_hooks or m._forward_pre_hooks or "forward" in m.__dict__ for m in model.modules())


def test_word_alignment_is_the_extractors(live):
    from neuronlab.models.wordtok import HFWordTokenizer

    enc = live.encode(WORDS)
    ref = HFWordTokenizer(live.tokenizer).encode_words(WORDS)
    for i, (ids, wids) in enumerate(ref):
        n = len(ids)
        assert enc.input_ids[i, :n].tolist() == ids
        assert enc.word_ids[i][:n] == [-1 if w is None else w for w in wids]
        assert enc.attention_mask[i].sum() == n
    assert enc.word_token(0, 2) == enc.word_ids[0].index(2) > 3  # the long word's first subword
    with pytest.raises(InvalidParameterError, match="word 2 is out of range for example 1"):
        enc.word_token(1, 2)


def test_sentences_as_strings(live):
    enc = live.encode("She walked home")
    assert enc.tokens[0] == ["[CLS]", "she", "walked", "home", "[SEP]"]
    with pytest.raises(InvalidParameterError, match="not a mixture"):
        live.encode(["a b", ["a", "b"]])


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_targets_equal_their_definition(live, kind):
    enc = live.encode(WORDS)
    with torch.no_grad():
        logits = live.forward(enc).logits.double()
        got = live.target(enc, Target(kind, (1, 0))).double()
    lsm = logits.log_softmax(-1)
    ref = {"logit": logits[[0, 1], [1, 0]], "probability": lsm.exp()[[0, 1], [1, 0]],
           "log_probability": lsm[[0, 1], [1, 0]], "loss": -lsm[[0, 1], [1, 0]]}[kind]
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-6)


def test_token_and_span_targets():
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering, BertForTokenClassification

    from neuronlab.models.loading import _minilm_path

    tok = AutoTokenizer.from_pretrained(str(_minilm_path()))
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=24, num_labels=3)
    torch.manual_seed(0)
    tc = LiveModel(BertForTokenClassification(cfg), tok)
    enc = tc.encode(WORDS)
    with torch.no_grad():
        logits = tc.forward(enc).logits
        got = tc.target(enc, Target("logit", 2, position=(2, 1)))
    assert torch.equal(got, logits[[0, 1], [enc.word_token(0, 2), enc.word_token(1, 1)], 2])
    with pytest.raises(InvalidParameterError, match="give Target\\(position=word index\\)"):
        with torch.no_grad():
            tc.target(enc, Target("logit", 2))
    cfg.num_labels = 2
    qa = LiveModel(BertForQuestionAnswering(cfg), tok)
    with torch.no_grad():
        out = qa.forward(enc)
        got = qa.target(enc, Target("logit", (3, 0), output="end_logits"))
    assert torch.equal(got, out.end_logits[[0, 1], [enc.word_token(0, 3), enc.word_token(1, 0)]])
    with pytest.raises(InvalidParameterError, match="no such output; it returns start_logits, end_logits"):
        with torch.no_grad():
            qa.target(enc, Target("logit", 0))


def test_read_replace_and_interventions(live):
    enc = live.encode(WORDS)
    y = live.activations(enc, "layers.0.mlp")
    for kind, arg, expect in [("set", 0.5, lambda v: torch.full_like(v, 0.5)), ("add", 1.0, lambda v: v + 1.0),
                              ("scale", -2.0, lambda v: v * -2.0)]:
        with live.intervene("layers.0.mlp", kind, neurons=[3, 7], value=arg), live.read("layers.0.mlp") as cap, \
                torch.no_grad():
            live.forward(enc)
            seen = cap.outputs["layers.0.mlp"]
        ref = y.clone()
        ref[..., [3, 7]] = expect(y[..., [3, 7]])
        torch.testing.assert_close(seen, ref)
        assert cap.outputs == {}  # cleared on exit
    assert set(INTERVENTIONS) >= {"set", "add", "scale"}
    # values seen by a reader registered after the intervention, and the downstream effect
    with live.intervene("layers.0.mlp", "scale", neurons=[3, 7], value=-2.0), torch.no_grad():
        with live.read("layers.0.mlp") as cap:
            out = live.forward(enc).logits
            seen = cap.outputs["layers.0.mlp"]
    ref = y.clone()
    ref[..., [3, 7]] *= -2.0
    torch.testing.assert_close(seen, ref)
    with live.replace("layers.0.mlp", lambda v: ref), torch.no_grad():
        torch.testing.assert_close(live.forward(enc).logits, out)
    assert _no_hooks(live.model)


@pytest.mark.parametrize("site", ["embeddings", "layers.0", "layers.0.mlp", "layers.1", "layers.1.attn",
                                  "layers.1.attn.heads", "layers.1.mlp"])
def test_run_from_equals_a_full_forward_with_the_site_replaced(live, site):
    enc = live.encode(WORDS)
    y = live.activations(enc, site)
    rows = [1, 0, 1]
    new = y[rows] * 0.7 + 0.1
    with live.replace(site, lambda v: new), torch.no_grad():
        full = live.target(enc, 1, rows)
    fast = live.run_from(enc, site, new, 1, rows)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    skip = live._skip_plan(site)
    assert (skip is None) == (site in ("embeddings", "layers.0.mlp"))
    if skip is not None:
        assert live._skip_ok[site] is True
    assert _no_hooks(live.model)


def test_differentiate_gives_the_gradient_at_the_site(live):
    enc = live.encode(WORDS)
    with torch.enable_grad(), live.differentiate("layers.1") as probe:
        f = live.target(enc, 0)
        (g,) = torch.autograd.grad(f.sum(), probe.value)
    y = live.activations(enc, "layers.1")
    eps = 1e-3
    d = torch.zeros_like(y)
    d[0, 0, 5] = eps
    with torch.no_grad():
        fp = live.run_from(enc, "layers.1", y + d, 0, [0, 1])
        fm = live.run_from(enc, "layers.1", y - d, 0, [0, 1])
    assert float((fp[0] - fm[0]) / (2 * eps)) == pytest.approx(float(g[0, 0, 5]), rel=1e-2, abs=1e-4)


def test_hooks_removed_when_the_block_raises(live):
    enc = live.encode(WORDS)
    with pytest.raises(ZeroDivisionError):
        with live.replace("layers.1", lambda v: v), torch.no_grad():
            live.forward(enc)
            1 / 0
    assert _no_hooks(live.model)
    with pytest.raises(UnknownSiteError, match="matches no site"):
        live.replace("layers.5", lambda v: v)
    with pytest.raises(InvalidParameterError, match="intervention 'clamp' is unknown; choose one of set, add"):
        live.intervene("layers.1", "clamp")


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("steps", [2, 7, 50])
def test_rules_weights_sum_to_one_and_nodes_lie_in_their_segments(name, steps):
    r = get_rule(name, steps)
    assert r.weights.sum() == pytest.approx(1.0, abs=1e-12)
    bp = r.breakpoints
    assert bp[0] == 0.0 and bp[-1] == 1.0 and len(bp) == steps + 1
    assert np.all(bp[:-1] - 1e-12 <= r.nodes) and np.all(r.nodes <= bp[1:] + 1e-12)
    # exact for polynomials the rule integrates exactly: degree 0 for all, 2 * steps - 1 for Gauss-Legendre
    assert np.dot(r.weights, np.ones(steps)) == pytest.approx(1.0)
    if name == "gausslegendre":
        assert np.dot(r.weights, r.nodes ** (2 * steps - 1)) == pytest.approx(1.0 / (2 * steps))


def test_load_live_errors():
    from neuronlab.errors import UnknownModelError
    from neuronlab.models.live import load_live

    with pytest.raises(UnknownModelError, match="head 'regression' is unknown; choose auto or one of base, "):
        load_live("minilm", head="regression")
    with pytest.raises(UnknownModelError, match="does not exist; known aliases: minilm"):
        load_live("./no/such/model")
