"""Value zeroing's rolled-out scores against the authors' procedure re-implemented in numpy, and what the rollout
does on the planted "nobody" classifier (docs/explain.md, "Value zeroing").

The authors' code (hmohebbi/ValueZeroing, ``scoring/value_zeroing.py``): per layer l and token t, block l is rerun
on the *original* output of block l - 1 with the value vectors of t zeroed in every head (keys, queries and the
attention weights unchanged); ``score[l, :, t]`` is the diagonal of sklearn's ``cosine_distances`` between the
altered and the original output of block l; rows are divided by their sums (the diagonal kept, special tokens
kept); "Value Zeroing + rollout" is ``compute_joint_attention(score, res=False)``: ``R_0 = C_0``,
``R_l = C_l . R_{l-1}``; the explained row is the output position ([CLS], or the target token of a token task).
"""
from __future__ import annotations

import numpy as np
import pytest

from neuronlab.explain import EXPLAINERS
from neuronlab.explain import value_zeroing as vz

torch = pytest.importorskip("torch")

TEXTS = [["a", "good", "movie"], ["the", "plot", "was", "terrible", "and", "boring"]]


# ---------------------------------------------------------------- the authors' procedure, in numpy
def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _params(bert):
    """The encoder's weights as float64 numpy arrays."""
    def lin(m):
        return m.weight.detach().double().numpy(), m.bias.detach().double().numpy()

    def ln(m):
        return m.weight.detach().double().numpy(), m.bias.detach().double().numpy(), m.eps

    emb = bert.embeddings
    layers = [{"q": lin(b.attention.self.query), "k": lin(b.attention.self.key), "v": lin(b.attention.self.value),
               "o": lin(b.attention.output.dense), "ln1": ln(b.attention.output.LayerNorm),
               "i": lin(b.intermediate.dense), "f": lin(b.output.dense), "ln2": ln(b.output.LayerNorm),
               "heads": b.attention.self.num_attention_heads} for b in bert.encoder.layer]
    return {"word": emb.word_embeddings.weight.detach().double().numpy(),
            "pos": emb.position_embeddings.weight.detach().double().numpy(),
            "type": emb.token_type_embeddings.weight.detach().double().numpy(), "ln": ln(emb.LayerNorm),
            "layers": layers}


def _block(h, p, zero=None):
    """One BERT block on one unpadded sequence h (T, d); ``zero``: the token whose value vectors are zeroed."""
    T, d = h.shape
    H = p["heads"]
    dh = d // H
    q, k, v = (h @ p[n][0].T + p[n][1] for n in "qkv")
    if zero is not None:
        v = v.copy()
        v[zero] = 0.0
    q, k, v = (a.reshape(T, H, dh) for a in (q, k, v))
    s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(dh)
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    ctx = np.einsum("hij,jhd->ihd", a, v).reshape(T, d)
    x = _ln(ctx @ p["o"][0].T + p["o"][1] + h, *p["ln1"])
    f = _gelu(x @ p["i"][0].T + p["i"][1]) @ p["f"][0].T + p["f"][1]
    return _ln(f + x, *p["ln2"])


def _authors_maps(bert, ids):
    """``score_matrix`` (normalised) and ``compute_joint_attention(score_matrix, res=False)`` of one sequence."""
    from sklearn.metrics.pairwise import cosine_distances

    P = _params(bert)
    T = len(ids)
    hidden = [_ln(P["word"][ids] + P["pos"][:T] + P["type"][0], *P["ln"])]
    for p in P["layers"]:
        hidden.append(_block(hidden[-1], p))
    score = np.zeros((len(P["layers"]), T, T))
    for layer, p in enumerate(P["layers"]):
        for t in range(T):
            score[layer, :, t] = cosine_distances(_block(hidden[layer], p, zero=t), hidden[layer + 1]).diagonal()
    score = score / score.sum(-1, keepdims=True)
    return score, _joint(score, res=False)


def _joint(att, res):
    """The authors' ``compute_joint_attention``."""
    if res:
        att = att + np.eye(att.shape[1])[None]
        att = att / att.sum(-1)[..., None]
    joint = np.zeros(att.shape)
    joint[0] = att[0]
    for i in range(1, att.shape[0]):
        joint[i] = att[i].dot(joint[i - 1])
    return joint


def _visible(model, seed):
    """Weights of std 0.3 in the encoder's linear layers: at BERT's init scale (0.02) attention barely moves the
    residual stream and the distances sit at float32 rounding level."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.base_model.encoder.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.3)
    return model


@pytest.fixture(scope="module")
def tiny():
    from helpers.live_models import tiny_bert

    live = tiny_bert(seed=5, layers=3)
    _visible(live.model, 5)
    return live


@pytest.fixture(scope="module")
def tiny_token():
    """A 2-layer BERT token classifier (3 labels) with the minilm tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from neuronlab.models.live import LiveModel
    from neuronlab.models.loading import _minilm_path

    torch.manual_seed(6)
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=64, num_labels=3)
    model = _visible(BertForTokenClassification(cfg).eval(), 6)
    return LiveModel(model, AutoTokenizer.from_pretrained(str(_minilm_path())))


def test_rolled_out_scores_equal_the_authors_procedure_in_numpy(tiny):
    """The explainer's default (rollout, [CLS] row) and every layer's map, on a ragged batch, to 2e-5."""
    ex = EXPLAINERS["value_zeroing"](tiny, batch_size=5).explain(TEXTS)
    single = EXPLAINERS["value_zeroing"](tiny, rollout=False, layer=1).explain(TEXTS)
    enc = tiny.encode(TEXTS)
    maps = vz.value_zeroing_maps(tiny, enc, batch_size=5)
    for e in range(len(TEXTS)):
        ids = enc.input_ids[e, :enc.lengths[e]].numpy()
        score, joint = _authors_maps(tiny.model.bert, ids)
        np.testing.assert_allclose(maps[e], score, atol=2e-5, rtol=0)
        np.testing.assert_allclose(vz.mixing_rollout(maps[e]), joint, atol=2e-5, rtol=0)
        np.testing.assert_allclose(ex.token_scores[e], joint[-1][0], atol=2e-5, rtol=0)   # [CLS]'s row, top layer
        np.testing.assert_allclose(single.token_scores[e], score[1][0], atol=2e-5, rtol=0)
        assert len(ex.token_scores[e]) == len(ids)  # [CLS] and [SEP] keep their share, as in the authors' maps


def test_token_level_target_reads_the_explained_words_row(tiny_token):
    words = TEXTS[1]
    ex = EXPLAINERS["value_zeroing"](tiny_token, target={"index": 0, "position": 3}).explain([words])
    enc = tiny_token.encode([words])
    ids = enc.input_ids[0, :enc.lengths[0]].numpy()
    _, joint = _authors_maps(tiny_token.model.bert, ids)
    row = enc.word_ids[0].index(3)  # the first token of word 3 ("terrible")
    np.testing.assert_allclose(ex.token_scores[0], joint[-1][row], atol=2e-5, rtol=0)


def test_rollout_on_the_planted_model_is_the_planted_tokens_own_mixing():
    """Why the rolled-out map does not put "nobody" first on the planted classifier: [CLS]'s top-layer map puts
    (almost) all its weight on the "nobody" position, so the rollout's [CLS] row is (almost) that position's
    layer-0 row, and a token depends little on its own value vector (its own embedding reaches its output through
    the residual connection, which value zeroing does not zero and ``res=False`` does not add back)."""
    from helpers.planted import PLANTED, planted_classifier, sentences

    words, labels = sentences(16, seed=7)
    positives = [w for w, y in zip(words, labels) if y][:4]
    live = planted_classifier()
    enc = live.encode(positives)
    maps = vz.value_zeroing_maps(live, enc)
    ex = EXPLAINERS["value_zeroing"](live).explain(positives)
    for e, m in enumerate(maps):
        p = enc.tokens[e].index(PLANTED)
        assert np.argmax(m[0][0]) == p and np.argmax(m[1][0]) == p   # every layer: "nobody" first for [CLS]
        assert m[1][0][p] > 0.99
        rolled = vz.mixing_rollout(m)[-1][0]
        np.testing.assert_allclose(ex.token_scores[e], rolled, atol=1e-12)
        np.testing.assert_allclose(rolled, m[1][0] @ m[0], atol=1e-12)                  # R_1 = C_1 C_0
        np.testing.assert_allclose(rolled, m[0][p], atol=0.01)                          # ~ "nobody"'s own row
        assert m[0][p][p] < 1.0 / len(m[0][p])                          # ... where it has less than a uniform share
        assert ex.top_words(e, 1)[0][0] != PLANTED
        # the authors' rollout *with* the identity added (res=True, their attention-rollout variant) keeps the
        # token's own path and puts "nobody" first: the residual is what the value-zeroing rollout leaves out
        assert np.argmax(_joint(m, res=True)[-1][0]) == p
