"""Attributions written per store row: rows align with the store's rows (same tokens, the activations they
explain), for word, token and sentence stores; readers and errors."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.live_models import tiny_bert

torch = pytest.importorskip("torch")

from neuronlab.attribution import LayerGradientXActivation, SelfAttentionAttribution  # noqa: E402
from neuronlab.attribution.store_rows import read_row_attributions, row_values  # noqa: E402
from neuronlab.errors import InvalidParameterError  # noqa: E402

SENTS = [["the", "film", "was", "unbelievably", "good"], ["a", "nice", "cast"], ["dull"]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny BERT classifier saved as a directory and stores extracted from it at three granularities."""
    from neuronlab.cli.main import main
    from neuronlab.models.live import load_live

    d = tmp_path_factory.mktemp("rows")
    live = tiny_bert()
    live.model.save_pretrained(d / "clf")
    live.tokenizer.save_pretrained(d / "clf")
    (d / "s.txt").write_text("\n".join(" ".join(s) for s in [["not", "here"]] + SENTS) + "\n")
    for g, extra in (("word", []), ("token", ["--special-tokens"]), ("token_nospecial", []), ("sentence", [])):
        gran = "token" if g.startswith("token") else g
        assert main(["extract", "--model", str(d / "clf"), "--corpus", str(d / "s.txt"), "--sites", "layers.1",
                     "--granularity", gran, "--dtype", "float32", "--out", str(d / f"{g}.h5"), "--quiet",
                     *extra]) == 0
    return d, load_live(str(d / "clf"))


def _store(d, name, mode="r"):
    from neuronlab.store import ActivationStore

    return ActivationStore.open(d / f"{name}.h5", mode=mode)


def test_token_rows_are_the_activations_they_explain(setup):
    """grad x act per token row = the store's activation of that row x the gradient computed here by hand."""
    d, live = setup
    res = LayerGradientXActivation(live, "layers.1").attribute(SENTS, target=1)
    enc = live.encode(SENTS)
    with live.differentiate("layers.1") as probe:
        f = live.target(enc, 1)
        (g,) = torch.autograd.grad(f.sum(), probe.value)
    for name in ("token", "token_nospecial"):
        with _store(d, name, "r+") as st:
            res.to_store(st, "gxa", inputs=SENTS)
            rows = read_row_attributions(st, "gxa")
            acts = np.asarray(st["layers.1"][:])
            tokens = st.tokens()
            offsets = st.offsets
        np.testing.assert_array_equal(rows.example_sentence, [1, 2, 3])  # sentence 0 of the store is not attributed
        assert list(rows.rows) == list(range(offsets[1], offsets[4]))
        for e, s in enumerate(rows.example_sentence):
            keep = [t for t, w in enumerate(enc.word_ids[e]) if w >= 0 or name == "token"][: len(res.tokens[e])]
            r = np.arange(offsets[s], offsets[s + 1])
            assert [tokens[i] for i in r] == [res.tokens[e][t] for t in keep]
            expected = acts[r] * g[e, keep].numpy()
            np.testing.assert_allclose(rows.dense(len(tokens))[r], expected, rtol=1e-4, atol=1e-9)
        assert np.isnan(rows.dense(len(tokens))[: offsets[1]]).all()
        assert rows.unit_ids[:2] == ["layers.1:0", "layers.1:1"]


def test_word_and_sentence_rows_sum_their_tokens(setup):
    d, live = setup
    res = LayerGradientXActivation(live, "layers.1").attribute(SENTS, target=0)
    with _store(d, "word", "r+") as st:
        res.to_store(st, "gxa", inputs=SENTS)
        rows = read_row_attributions(st, "gxa")
        words, offsets = st.tokens(), st.offsets
    for e, s in enumerate(rows.example_sentence):
        r = np.arange(offsets[s], offsets[s + 1])
        assert [words[i] for i in r] == SENTS[e]
        wid = np.array(res.word_ids[e])
        for k, row in enumerate(r):
            np.testing.assert_allclose(rows.values[list(rows.rows).index(row)],
                                       res.attributions[e][wid == k].sum(axis=0), rtol=1e-6)
    assert "unbelievably" in SENTS[0] and len(res.tokens[0]) > len(SENTS[0]) + 2  # a word of several subwords
    with _store(d, "sentence", "r+") as st:
        res.to_store(st, "gxa", inputs=SENTS)
        rows = read_row_attributions(st, "gxa")
    np.testing.assert_allclose(rows.values, res.per_neuron(), rtol=1e-5, atol=1e-9)
    assert list(rows.rows) == [1, 2, 3]


def test_heads_per_row_and_inputs_outside_the_store(setup):
    d, live = setup
    res = SelfAttentionAttribution(live, "layers.1", steps=2).attribute([SENTS[1], ["not", "stored"]], target=1)
    with _store(d, "word") as st:
        out = row_values(st, res, [SENTS[1], ["not", "stored"]])
        offsets = st.offsets
    assert list(out["example_sentence"]) == [2, -1]
    assert list(out["row_index"]) == list(range(offsets[2], offsets[3]))
    wid = np.array(res.word_ids[0])
    given = res.attributions[0].sum(axis=1)  # heads x key token: what each token hands out
    np.testing.assert_allclose(out["row_values"][1], given[:, wid == 1].sum(axis=1), rtol=1e-5)


def test_reader_errors(setup):
    d, live = setup
    res = LayerGradientXActivation(live, "layers.1").attribute(SENTS[:1], target=0)
    with _store(d, "word", "r+") as st:
        res.to_store(st, "plain")
        with pytest.raises(InvalidParameterError, match="has no per-row attributions"):
            read_row_attributions(st, "plain")
        with pytest.raises(InvalidParameterError, match="inputs: expected 1"):
            row_values(st, res, SENTS)
