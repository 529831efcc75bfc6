"""Contextual decomposition (explain/decomposition.py, cd_rules.py, cd_models.py) and agglomerative CD
(explain/cd_agglomerative.py).

- the rules: each sums exactly to its layer's output; the activation rule is the two-player Shapley value;
- conservation: beta + gamma equals the model's own logit within 1e-4 on minilm, a tiny BERT and a tiny RoBERTa;
- an analytic case: a one-layer BERT built so that the logit is linear in the embeddings given the LayerNorm
  scales; CD must equal that linear term (and split the classifier bias by |beta| / (|beta| + |gamma|));
- planted signal: on the "nobody" classifier, CD ranks "nobody" first and ACD's best phrase holds it;
- ACD: every level tiles the sentence, its scores are the directly computed CD scores, the joins are the
  largest interactions;
- bad input: a phrase outside the sentence, an unsupported model, a non-logit target.
"""
from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from neuronlab.errors import InvalidParameterError
from neuronlab.explain import EXPLAINERS

torch = pytest.importorskip("torch")

TEXT = "the plot was terrible and boring"


def _cd(live, **kw):
    from neuronlab.explain.decomposition import ContextualDecomposition

    return ContextualDecomposition(live, **kw)


@pytest.fixture(scope="module")
def tiny():
    from helpers.live_models import tiny_bert

    return tiny_bert(hidden=32)


@pytest.fixture(scope="module")
def rough():
    """A random 2-layer BERT with large weights (init sd 0.3): strongly nonlinear, so phrases interact."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=2, initializer_range=0.3)
    return LiveModel(BertForSequenceClassification(cfg).eval(), AutoTokenizer.from_pretrained(str(_minilm_path())))


@pytest.fixture(scope="module")
def planted():
    from helpers.planted import planted_classifier

    return planted_classifier()


# ------------------------------------------------------------------------------------------------ rules
def test_linear_rule_splits_the_bias_in_proportion():
    from neuronlab.explain.cd_rules import prop_linear

    W = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    c = torch.tensor([3.0, -2.0], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    rb, rg = prop_linear(b, g, W, c)
    # Wb = (1, 0), Wg = (2, -1): shares of bias 3 are 1/3 and 2/3; of bias -2 are 0 and 1
    assert rb.tolist() == [[1.0 + 1.0, 0.0]]
    assert rg.tolist() == [[2.0 + 2.0, -1.0 - 2.0]]
    assert torch.allclose(rb + rg, (b + g) @ W.T + c)


def test_activation_rule_is_the_two_player_shapley_value():
    from neuronlab.explain.cd_rules import prop_activation
    from neuronlab.explain.shapley import shapley_from_values

    gelu = torch.nn.GELU()
    b = torch.tensor([0.7, -1.3, 2.0], dtype=torch.float64)
    g = torch.tensor([-0.4, 0.9, 1.5], dtype=torch.float64)
    rb, rg = prop_activation(b, g, gelu)
    for k in range(3):  # the game v(S) = f(sum of S): players beta, gamma
        v = np.array([0.0, float(gelu(b[k])), float(gelu(g[k])), float(gelu(b[k] + g[k]))])
        phi = shapley_from_values(v, 2)
        assert [float(rb[k]), float(rg[k])] == pytest.approx(list(phi), abs=1e-12)
    cb, cg = prop_activation(b, g, gelu, "cdt")
    assert torch.allclose(cg, gelu(g)) and torch.allclose(cb + cg, gelu(b + g))
    # an activation with f(0) != 0: the parts still sum to f(b + g)
    sb, sg = prop_activation(b, g, torch.sigmoid)
    assert torch.allclose(sb + sg, torch.sigmoid(b + g))


def test_layer_norm_rule_sums_to_the_module_output():
    from neuronlab.explain.cd_rules import prop_layer_norm

    gen = torch.Generator().manual_seed(0)
    ln = torch.nn.LayerNorm(6, eps=1e-5).double()
    with torch.no_grad():
        ln.weight.copy_(torch.randn(6, generator=gen, dtype=torch.float64))
        ln.bias.copy_(torch.randn(6, generator=gen, dtype=torch.float64))
    b = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
    g = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
    nb, ng = prop_layer_norm(b, g, ln.weight, ln.bias, ln.eps)
    assert torch.allclose(nb + ng, ln(b + g), atol=1e-12)
    # the phrase part without its bias share is its own centred value over the sum's deviation
    std = torch.sqrt((b + g).var(-1, unbiased=False, keepdim=True) + ln.eps)
    share = b.abs() / (b.abs() + g.abs())
    assert torch.allclose(nb, (b - b.mean(-1, keepdim=True)) / std * ln.weight + share * ln.bias, atol=1e-12)


def test_sign_fix_keeps_sums():
    from neuronlab.explain.cd_rules import sign_fix

    gen = torch.Generator().manual_seed(1)
    b, g = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    nb, ng = sign_fix(b, g)
    assert torch.equal(nb + ng, b + g) or torch.allclose(nb + ng, b + g)
    assert not bool(((nb * ng) < 0).any())


# ------------------------------------------------------------------------------------------------ conservation
def _check_conservation(live, text, phrases, words=True, **kw):
    cd = _cd(live, **kw)
    d = cd.decompose(text, phrases)
    with torch.no_grad():
        logits = live.forward(live.encode([text])).logits[0].double()
    c = int(logits.argmax())
    assert d.target["index"] == (c,)
    assert d.target_value == pytest.approx(float(logits[c]), abs=1e-6)
    total = np.asarray(d.beta) + np.asarray(d.gamma)
    assert np.max(np.abs(total - float(logits[c]))) < 1e-4
    assert np.allclose(np.asarray(d.beta) - d.words_sum, d.interaction, atol=1e-12)
    if words:  # the words' own scores, decomposed apart
        single = cd.decompose(text, list(range(len(d.words)))).beta
        for (s, e), w in zip(d.phrases, d.words_sum):
            assert w == pytest.approx(sum(single[s:e]), abs=1e-5)
    return d


def test_conservation_on_minilm(clf):
    d = _check_conservation(clf, TEXT, [3, (0, 2), (2, 6), (0, 6)], words=False)
    assert len(set(np.round(d.beta, 6))) == 4  # distinct phrases, distinct contributions
    # the whole input (special tokens included) as the phrase: all of the logit is beta, gamma is 0
    cd = _cd(clf)
    enc = clf.encode([TEXT])
    beta, gamma = cd.logits(enc, [0], enc.attention_mask.bool().numpy())
    with torch.no_grad():
        logits = clf.forward(enc).logits.double().numpy()
    assert np.max(np.abs(beta - logits)) < 1e-4 and np.max(np.abs(gamma)) < 1e-6


@pytest.mark.parametrize("kw", [{}, {"activation": "cdt"}, {"sign_fix": True}, {"dtype": "float64"}])
def test_conservation_on_tiny_bert(tiny, rough, kw):
    _check_conservation(tiny, TEXT, [0, (1, 4), (4, 6)], **kw)
    d = _check_conservation(rough, TEXT, [0, (1, 4), (4, 6)], **kw)
    assert d.interaction[0] == 0.0 and abs(d.interaction[1]) > 1e-3  # a nonlinear model: words interact


def test_conservation_on_tiny_roberta():
    from transformers import (
        AutoTokenizer,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(0)
    cfg = RobertaConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=66, num_labels=3, pad_token_id=0,
                        initializer_range=0.5)
    live = LiveModel(RobertaForSequenceClassification(cfg).eval(), AutoTokenizer.from_pretrained(str(_minilm_path())))
    _check_conservation(live, TEXT, [1, (2, 5)])


def test_explainer_scores_words_and_reports_the_balance(tiny):
    ex = EXPLAINERS["cd"](tiny).explain([TEXT, "a good movie"])
    cd = _cd(tiny)
    for i, text in enumerate([TEXT, "a good movie"]):
        n = len(text.split())
        d = cd.decompose(text, list(range(n)))
        assert ex.word_scores[i] == pytest.approx(d.beta, abs=1e-7)
        assert ex.config["gamma"][i] == pytest.approx(d.gamma, abs=1e-7)
        assert ex.config["conservation_gap"][i] < 1e-4
    assert ex.forward_passes == 2 + 6 + 3  # f(x) of each input + one decomposed row per word
    small = EXPLAINERS["cd"](tiny, batch_size=4).explain([TEXT, "a good movie"])  # chunks of examples and rows
    assert all(np.allclose(a, b, atol=1e-7) for a, b in zip(small.word_scores, ex.word_scores))
    assert EXPLAINERS["cd"].family == "decomposition" and EXPLAINERS["cd"].unit == "word"


def test_shapley_rule_is_symmetric_and_interaction_of_two_phrases(rough):
    """Under the Shapley rule the context's own CD score is the phrase's gamma; cdt's rule is not symmetric.
    ``interaction(a, b)`` is CD(a u b) - CD(a) - CD(b), each decomposed directly."""
    enc = rough.encode([TEXT])
    real = enc.attention_mask[0].bool().numpy()
    ids = np.asarray(enc.word_ids[0])
    phrase = (ids >= 1) & (ids < 3)
    gaps = {}
    for rule in ("shapley", "cdt"):
        cd = _cd(rough, activation=rule, dtype="float64")
        beta, gamma = cd.logits(enc, [0, 0], np.array([phrase, real & ~phrase]))
        gaps[rule] = float(np.max(np.abs(gamma[0] - beta[1])))
    assert gaps["shapley"] < 1e-9 and gaps["cdt"] > 1e-3
    cd = _cd(rough, dtype="float64")
    got = cd.interaction(TEXT, (0, 2), (2, 4))
    direct = cd.decompose(TEXT, [(0, 2), (2, 4), (0, 4)])
    assert [got["a"], got["b"]] == pytest.approx(direct.beta[:2], abs=1e-12)
    assert got["interaction"] == pytest.approx(direct.beta[2] - direct.beta[0] - direct.beta[1], abs=1e-12)
    assert abs(got["interaction"]) > 1e-3
    with pytest.raises(InvalidParameterError, match=r"phrases \(0, 2\) and \(1, 3\) overlap"):
        cd.interaction(TEXT, (0, 2), (1, 3))


# ------------------------------------------------------------------------------------------------ analytic case
def _linear_bert(bias: float):
    """A one-layer BERT in float64 whose logit is linear in the embedding output given the LayerNorm scales:
    uniform attention (zero query/key), identity value and output maps, a zero feed-forward branch, an identity
    pooler without tanh, LayerNorm weights 1 and biases 0."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(3)
    H = 8
    cfg = BertConfig(vocab_size=30522, hidden_size=H, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=4, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(cfg).double().eval()
    layer = model.bert.encoder.layer[0]
    with torch.no_grad():
        for lin in (layer.attention.self.query, layer.attention.self.key, layer.intermediate.dense,
                    layer.output.dense):
            lin.weight.zero_()
            lin.bias.zero_()
        for lin in (layer.attention.self.value, layer.attention.output.dense, model.bert.pooler.dense):
            lin.weight.copy_(torch.eye(H, dtype=torch.float64))
            lin.bias.zero_()
        model.classifier.weight.normal_(0, 1.0)
        model.classifier.bias.fill_(bias)
    model.bert.pooler.activation = torch.nn.Identity()
    return LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path())))


def _analytic_beta(live, text, start, stop, c):
    """beta of words start..stop-1 by the closed form: CLS state = E[0] + mean_j E[j], two LayerNorms."""
    enc = live.encode([text])
    with torch.no_grad():
        E = live.model.bert.embeddings(input_ids=enc.input_ids)[0].double()
    ids = np.asarray(enc.word_ids[0])
    phrase = torch.as_tensor((ids >= start) & (ids < stop))
    n, eps = E.shape[0], live.model.config.layer_norm_eps
    h0 = E[0] + E.mean(0)
    part = E[phrase].sum(0) / n                    # the phrase's share of the mean; [CLS] is context
    s1 = torch.sqrt(h0.var(unbiased=False) + eps)
    h1 = (h0 - h0.mean()) / s1
    s2 = torch.sqrt(h1.var(unbiased=False) + eps)
    beta = (part - part.mean()) / s1 / s2          # both LayerNorms are centred: beta stays centred
    gamma = (h1 - h1.mean()) / s2 - beta
    W, cb = live.model.classifier.weight[c].detach(), float(live.model.classifier.bias[c].detach())
    wb, wg = float(W @ beta), float(W @ gamma)
    share = abs(wb) / (abs(wb) + abs(wg))
    return wb + share * cb, wb + wg + cb


@pytest.mark.parametrize("bias", [0.0, 1.5])
def test_cd_is_the_linear_contribution_on_a_linear_model(bias):
    live = _linear_bert(bias)
    text = "nobody saw the great film"
    cd = _cd(live, target=1, dtype="float64")
    spans = [0, 2, (1, 3), (0, 5)]
    d = cd.decompose(text, spans)
    for (s, e), got in zip(d.phrases, d.beta):
        want, logit = _analytic_beta(live, text, s, e, 1)
        assert got == pytest.approx(want, abs=1e-10)
        assert d.target_value == pytest.approx(logit, abs=1e-6)  # targets are evaluated in float32
    if bias == 0.0:  # linear: contributions add up, words do not interact
        assert sum(cd.decompose(text, list(range(5))).beta) == pytest.approx(d.beta[3], abs=1e-10)
        assert np.max(np.abs(d.interaction)) < 1e-10
        assert cd.interaction(text, 0, (2, 4))["interaction"] == pytest.approx(0.0, abs=1e-10)


# ------------------------------------------------------------------------------------------------ planted signal
def test_planted_nobody_is_first(planted):
    from helpers.planted import sentences

    words, labels = sentences(10, seed=7)
    positive = [w for w, y in zip(words, labels) if y == 1]
    ex = EXPLAINERS["cd"](planted).explain(positive)
    for i, w in enumerate(positive):
        assert ex.top_words(i, 1)[0][0] == "nobody", (w, ex.word_scores[i])
        assert ex.config["conservation_gap"][i] < 1e-4


def test_acd_on_planted_keeps_nobody_in_the_best_phrase(planted):
    from neuronlab.explain.cd_agglomerative import agglomerate

    words = ["the", "story", "was", "dull", "and", "nobody", "saw", "it"]
    tree = agglomerate(_cd(planted), words)
    assert len(tree.levels) == len(words)
    for level in tree.levels:
        s, e, _ = max(level, key=lambda p: p[2])
        assert s <= words.index("nobody") < e, level


# ------------------------------------------------------------------------------------------------ ACD
@pytest.mark.parametrize("priority", ["interaction", "abs_interaction", "score"])
def test_acd_levels_tile_the_sentence_with_direct_cd_scores(rough, priority):
    from neuronlab.explain.cd_agglomerative import PRIORITIES, agglomerate

    cd = _cd(rough, dtype="float64")
    words = TEXT.split()
    tree = agglomerate(cd, words, priority=priority)
    n = len(words)
    assert len(tree.levels) == n and len(tree.joins) == n - 1
    assert tree.config["rows"] <= 4 * n
    spans = {(s, e) for level in tree.levels for s, e, _ in level}
    spans |= {(a[0], b[1]) for level in tree.levels for a, b in pairwise(level)}  # every candidate join
    spans = sorted(spans)
    direct = dict(zip(spans, cd.decompose(words, spans).beta))
    for k, level in enumerate(tree.levels):
        assert len(level) == n - k
        assert [p[0] for p in level] == [0] + [p[1] for p in level[:-1]] and level[-1][1] == n  # a tiling
        for s, e, v in level:
            assert v == pytest.approx(direct[(s, e)], abs=1e-9)
    for k, join in enumerate(tree.joins):  # the join made level k+1 and was the best candidate of level k
        level = tree.levels[k]
        pri = [PRIORITIES[priority](direct[(a[0], b[1])], direct[(a[0], a[1])], direct[(b[0], b[1])])
               for a, b in pairwise(level)]
        best = int(np.argmax(pri))
        assert [level[best][0], level[best][1]] == join["left"]
        assert [level[best + 1][0], level[best + 1][1]] == join["right"]
        assert join["interaction"] == pytest.approx(join["score"] - direct[tuple(join["left"])]
                                                    - direct[tuple(join["right"])], abs=1e-9)
        assert [join["left"][0], join["right"][1], join["score"]] in tree.levels[k + 1]
    text = tree.text()
    assert len(text.splitlines()) == n + 1 and "[the plot was terrible and boring" in text
    back = json.loads(tree.to_json())
    assert back["levels"] == json.loads(json.dumps(tree.levels)) and len(back["joins"]) == n - 1


def test_acd_joins_the_interacting_pair_of_a_known_model(tiny, monkeypatch):
    """A model whose CD scores are given: only 'terrible' + 'and' interact, so ACD joins them first."""
    from neuronlab.explain.cd_agglomerative import agglomerate

    cd = _cd(tiny)
    enc_words = TEXT.split()

    def logits(enc, examples, masks):  # CD(span) = number of words, + 5 if it holds words 3 and 4
        out = []
        for m in masks:
            ids = np.asarray(enc.word_ids[0] + [-1] * (len(m) - len(enc.word_ids[0])))
            held = set(ids[m & (ids >= 0)].tolist())
            out.append([0.0, len(held) + (5.0 if {3, 4} <= held else 0.0)])
        return np.array(out), np.zeros((len(out), 2))

    monkeypatch.setattr(cd, "logits", logits)
    tree = agglomerate(cd, enc_words, target=1)
    assert tree.joins[0]["left"] == [3, 4] and tree.joins[0]["right"] == [4, 5]
    assert tree.joins[0]["interaction"] == pytest.approx(5.0)
    assert all(j["interaction"] == pytest.approx(0.0) for j in tree.joins[1:])


# ------------------------------------------------------------------------------------------------ bad input
def test_a_phrase_outside_the_sentence_is_refused(tiny):
    cd = _cd(tiny)
    with pytest.raises(InvalidParameterError, match=r"phrase \(4, 9\) is outside the sentence: it has 6 words"):
        cd.decompose(TEXT, [(4, 9)])
    with pytest.raises(InvalidParameterError, match="outside the sentence"):
        cd.decompose(TEXT, [6])
    with pytest.raises(InvalidParameterError, match=r"phrase \(3, 3\)"):
        cd.decompose(TEXT, [(3, 3)])
    with pytest.raises(InvalidParameterError, match="expected a word index or a"):
        cd.decompose(TEXT, ["plot"])
    with pytest.raises(InvalidParameterError, match="at least one"):
        cd.decompose(TEXT, [])


def test_an_unsupported_architecture_is_refused():
    from transformers import (
        AutoTokenizer,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    cfg = DistilBertConfig(vocab_size=30522, dim=16, n_layers=1, n_heads=2, hidden_dim=24, num_labels=2)
    tok = AutoTokenizer.from_pretrained(str(_minilm_path()))
    live = LiveModel(DistilBertForSequenceClassification(cfg).eval(), tok)
    with pytest.raises(InvalidParameterError, match="does not support DistilBertForSequenceClassification; "
                                                    "supported models: .*BertForSequenceClassification"):
        EXPLAINERS["cd"](live)


def test_non_logit_targets_and_bad_options_are_refused(tiny):
    with pytest.raises(InvalidParameterError, match="use kind 'logit'"):
        EXPLAINERS["cd"](tiny, target={"kind": "probability", "index": 1}).explain([TEXT])
    with pytest.raises(InvalidParameterError, match="activation 'relu' is unknown"):
        EXPLAINERS["cd"](tiny, activation="relu")
    with pytest.raises(InvalidParameterError, match="dtype 'float16' is unknown"):
        EXPLAINERS["cd"](tiny, dtype="float16")
    from neuronlab.explain.cd_agglomerative import agglomerate

    with pytest.raises(InvalidParameterError, match="priority 'best' is unknown"):
        agglomerate(_cd(tiny), TEXT, priority="best")


def test_tree_and_phrases_round_trip_through_a_store(tmp_path, rough):
    from neuronlab.explain.cd_agglomerative import CDTree, agglomerate
    from neuronlab.explain.decomposition import PhraseDecomposition
    from neuronlab.store import ActivationStore
    from neuronlab.testing import synthetic_store

    cd = _cd(rough)
    tree = agglomerate(cd, "a quiet moving film")
    phrases = cd.decompose("a quiet moving film", [(1, 3), 3])
    path = tmp_path / "s.h5"
    synthetic_store(path, [["a", "b"]])
    with ActivationStore.open(path, mode="r+") as store:
        tree.to_store(store, "cd_tree")
        phrases.to_store(store, "cd_phrases")
    with ActivationStore.open(path) as store:
        back_tree = CDTree.from_store(store, "cd_tree")
        back_phrases = PhraseDecomposition.from_store(store, "cd_phrases")
        arrays = store.read_result("cd_tree")
    assert back_tree.to_dict() == json.loads(tree.to_json())
    assert back_phrases.to_dict() == json.loads(phrases.to_json())
    assert arrays["level"].tolist() == [k for k, level in enumerate(tree.levels) for _ in level]
    assert arrays["score"].tolist() == [v for level in tree.levels for _, _, v in level]
    assert back_tree.text() == tree.text()
