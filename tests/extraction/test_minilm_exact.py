"""Stored minilm activations equal an independent forward pass (written here from the weights).

The reference below does not use hooks or the extractor: it recomputes every BERT sub-layer with
plain tensor algebra from the model's parameters (self-attention, output projection, LayerNorms,
GELU FFN), one sentence at a time without padding, and aggregates subwords with numpy. The stored
float16 rows must match it to float16 precision.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402


def reference_sites(loaded, words):
    """All minilm sites for one sentence: dict site -> (n_tokens, width) float64, plus word ids."""
    model, tok = loaded.model, loaded.tokenizer
    enc = tok([words], is_split_into_words=True, return_tensors="pt")
    ids = enc["input_ids"]
    word_ids = np.array([-1 if w is None else w for w in enc.word_ids(0)])
    F = torch.nn.functional
    with torch.no_grad():
        emb = model.embeddings
        T = ids.shape[1]
        x = emb.word_embeddings(ids) + emb.position_embeddings(torch.arange(T)[None]) + emb.token_type_embeddings(
            torch.zeros_like(ids))
        h = F.layer_norm(x, (x.shape[-1],), emb.LayerNorm.weight, emb.LayerNorm.bias, emb.LayerNorm.eps)
        out = {"embeddings": h[0]}
        n_heads = model.config.num_attention_heads
        for L, layer in enumerate(model.encoder.layer):
            sa = layer.attention.self
            d = h.shape[-1] // n_heads

            def split(t):
                return t.view(1, T, n_heads, d).transpose(1, 2)

            q, k, v = split(sa.query(h)), split(sa.key(h)), split(sa.value(h))
            w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
            heads = (w @ v).transpose(1, 2).reshape(1, T, n_heads * d)
            ao = layer.attention.output
            attn = heads @ ao.dense.weight.T + ao.dense.bias
            a = F.layer_norm(attn + h, (h.shape[-1],), ao.LayerNorm.weight, ao.LayerNorm.bias, ao.LayerNorm.eps)
            mlp = F.gelu(a @ layer.intermediate.dense.weight.T + layer.intermediate.dense.bias)
            o = layer.output
            h = F.layer_norm(mlp @ o.dense.weight.T + o.dense.bias + a, (h.shape[-1],), o.LayerNorm.weight,
                             o.LayerNorm.bias, o.LayerNorm.eps)
            out[f"layers.{L}.attn.heads"] = heads[0]
            out[f"layers.{L}.attn"] = attn[0]
            out[f"layers.{L}.mlp"] = mlp[0]
            out[f"layers.{L}"] = h[0]
    return {k: v.double().numpy() for k, v in out.items()}, word_ids


def aggregate(acts, word_ids, how):
    rows = []
    for w in range(word_ids.max() + 1):
        block = acts[word_ids == w]
        rows.append({"mean": block.mean(0), "first": block[0], "last": block[-1], "max": block.max(0)}[how])
    return np.stack(rows)


def assert_f16_close(stored, expected, what):
    scale = np.maximum(np.abs(expected), 1.0)
    err = np.abs(stored.astype(np.float64) - expected) / scale
    assert err.max() < 2e-3, f"{what}: max relative error {err.max():.2e}"


@pytest.fixture(scope="module")
def word_store(minilm, tmp_path_factory):
    from neuronlab.corpus.base import Corpus

    sents = [["The", "cats", "sat", "on", "the", "mat", "."],
             ["Unbelievably", ",", "antidisestablishmentarianism", "prevails"],
             ["She", "walked"], ["Dogs", "bark", "loudly", "at", "night", "when", "strangers", "pass", "by"]]
    corpus = Corpus(sents, source="exact")
    path = tmp_path_factory.mktemp("exact") / "w.h5"
    Extractor(minilm, ExtractionConfig(sites="all", batch_size=3), progress=False).extract(corpus, path)
    return corpus, path


def test_every_site_matches_independent_forward_word_mean(minilm, word_store):
    corpus, path = word_store
    with ActivationStore.open(path) as store:
        assert len(store.sites) == 1 + 6 * 4
        offs = store.offsets
        for i, words in enumerate(corpus.sentences):
            ref, wid = reference_sites(minilm, words)
            for site in store.sites:
                got = store[site][offs[i]:offs[i + 1]]
                assert_f16_close(got, aggregate(ref[site], wid, "mean"), f"{site} sentence {i}")


@pytest.mark.parametrize("how", ["first", "last", "max"])
def test_aggregations_match_reference(minilm, tmp_path, how):
    from neuronlab.corpus.base import Corpus

    words = ["Unbelievably", ",", "antidisestablishmentarianism", "prevails", "everywhere"]
    corpus = Corpus([words, ["ok"]])
    sites = "layers.2.mlp,layers.5"
    Extractor(minilm, ExtractionConfig(sites=sites, aggregation=how, dtype="float32"), progress=False).extract(
        corpus, tmp_path / "a.h5")
    ref, wid = reference_sites(minilm, words)
    with ActivationStore.open(tmp_path / "a.h5") as store:
        for site in sites.split(","):
            np.testing.assert_allclose(store[site][0:5], aggregate(ref[site], wid, how), rtol=1e-4, atol=1e-4)


def test_token_and_sentence_granularity(minilm, tmp_path):
    from neuronlab.corpus.base import Corpus

    words = ["Unbelievably", ",", "antidisestablishmentarianism", "prevails"]
    corpus = Corpus([words, ["The", "end"]])
    ref, wid = reference_sites(minilm, words)
    cfg = dict(sites="layers.1", dtype="float32")
    Extractor(minilm, ExtractionConfig(granularity="token", **cfg), progress=False).extract(corpus, tmp_path / "t.h5")
    Extractor(minilm, ExtractionConfig(granularity="token", special_tokens=True, **cfg), progress=False).extract(
        corpus, tmp_path / "ts.h5")
    for pooling in ("cls", "mean", "max", "last"):
        Extractor(minilm, ExtractionConfig(granularity="sentence", pooling=pooling, **cfg), progress=False).extract(
            corpus, tmp_path / f"s_{pooling}.h5")
    content = wid >= 0
    with ActivationStore.open(tmp_path / "t.h5") as st:
        n = int(content.sum())
        np.testing.assert_allclose(st["layers.1"][0:n], ref["layers.1"][content], rtol=1e-4, atol=1e-4)
        assert st.tokens()[:n] == minilm.tokenizer.convert_ids_to_tokens(
            minilm.tokenizer([words], is_split_into_words=True)["input_ids"][0])[1:-1]
        np.testing.assert_array_equal(st.row_words()[:n], wid[content])
    with ActivationStore.open(tmp_path / "ts.h5") as st:
        np.testing.assert_allclose(st["layers.1"][0:len(wid)], ref["layers.1"], rtol=1e-4, atol=1e-4)
        assert st.tokens()[0] == "[CLS]" and st.row_words()[0] == -1
    expected = {"cls": ref["layers.1"][0], "last": ref["layers.1"][-1], "mean": ref["layers.1"][content].mean(0),
                "max": ref["layers.1"][content].max(0)}
    for pooling, exp in expected.items():
        with ActivationStore.open(tmp_path / f"s_{pooling}.h5") as st:
            assert st.n_rows == 2
            np.testing.assert_allclose(st["layers.1"][0], exp, rtol=1e-4, atol=1e-4)


def test_batching_and_padding_do_not_change_values(minilm, word_store, tmp_path):
    corpus, path = word_store
    Extractor(minilm, ExtractionConfig(sites="all", batch_size=1), progress=False).extract(corpus, tmp_path / "b1.h5")
    with ActivationStore.open(path) as a, ActivationStore.open(tmp_path / "b1.h5") as b:
        for site in a.sites:
            np.testing.assert_allclose(a[site][:].astype(np.float32), b[site][:].astype(np.float32),
                                       rtol=2e-3, atol=2e-3)
