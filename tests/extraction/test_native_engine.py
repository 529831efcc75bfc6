"""The native encoder engine: equal to transformers' forward pass, loaded without transformers, chosen where it applies.

References are transformers' own models run with hooks (the ``hf`` engine, itself pinned by the identities
of test_families.py) on the same weights; inputs are batches of sequences of mixed lengths so that the
packed layout, the runs of equal length and the row order are all exercised.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers.tiny_models import build_tiny_model  # noqa: E402

from neuronlab.corpus.base import Corpus  # noqa: E402
from neuronlab.errors import InvalidParameterError, StoreError, UnknownModelError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor, PipelineHooks  # noqa: E402
from neuronlab.models.engines import EncoderEngine, engine_from_loaded, load_engine  # noqa: E402
from neuronlab.models.engines.hf import HFEngine  # noqa: E402
from neuronlab.models.wordtok import FastWordTokenizer, HFWordTokenizer  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402

NATIVE = ("bert", "roberta", "electra", "distilbert")
SENTENCES = [
    ["the", "quick", "brown", "fox", "jumps", "over", "the", "dog"],
    ["she", "walks", "to", "school"],
    ["a", "cat"],
    ["they", "were", "reading", "books"],
    ["we", "will", "see", "what", "the", "model", "learns"],
    ["numbers", "like", "42"],
]
#: words a tokenizer may treat specially: accents, case, CJK, emoji, digits, punctuation, control and
#: zero-width characters (the last two vanish in BERT's normaliser and are replaced by the unknown token)
TRICKY = [
    ["Café", "naïve", "ÉCOLE", "Straße", "Ångström"],
    ["北京", "東京", "서울", "😀", "👍🏽"],
    ["don't", "U.S.A.", "3.14", "1,000", "--", "...", "(", ")"],
    ["\x07", "ok", "\u200b", "x"],
    ["HELLO", "World", "hello", "WORLD"],
]
ATOL, RTOL = 2e-5, 2e-4


def _batch(tok, sentences):
    """Token ids of the sentences, longest first (ties kept in corpus order), as the extractor orders them."""
    ids = [ids for ids, _ in tok.encode_words(sentences)]
    return sorted(ids, key=len, reverse=True)


def _assert_sites_close(got: dict, ref: dict, what: str, atol=ATOL, rtol=RTOL):
    assert list(got) == list(ref)
    for s in ref:
        torch.testing.assert_close(got[s], ref[s], atol=atol, rtol=rtol, msg=lambda m: f"{what} {s}: {m}")


# ---------------------------------------------------------------- equal to transformers
@pytest.mark.parametrize("family", NATIVE)
def test_every_site_equals_transformers_on_a_mixed_batch(family, tiny_loaded):
    lm = tiny_loaded(family)
    native, hf = engine_from_loaded(lm, engine="native"), HFEngine(lm)
    assert native.name == "native" and native.sites == hf.sites
    batch = _batch(hf.tokenizer, SENTENCES + SENTENCES[:2])  # repeated lengths: runs of equal length
    lengths = [len(x) for x in batch]
    assert len(set(lengths)) < len(lengths) and len(set(lengths)) > 2
    got, ref = native.run(batch, native.sites), hf.run(batch, hf.sites)
    assert all(t.shape[0] == sum(lengths) for t in got.values())
    _assert_sites_close(got, ref, family)
    assert native.widths(native.sites) == hf.widths(hf.sites)


@pytest.mark.parametrize("family", NATIVE)
def test_directory_engine_equals_the_loaded_one(family, tiny_model_dir, tiny_loaded):
    """Read straight from the files (safetensors + tokenizer.json, no transformers): same ids, same values."""
    from_dir = load_engine(str(tiny_model_dir(family)), engine="native")
    loaded = engine_from_loaded(tiny_loaded(family), engine="native")
    assert isinstance(from_dir, EncoderEngine) and isinstance(from_dir.tokenizer, FastWordTokenizer)
    batch = _batch(loaded.tokenizer, SENTENCES)
    assert _batch(from_dir.tokenizer, SENTENCES) == batch
    _assert_sites_close(from_dir.run(batch, from_dir.sites), loaded.run(batch, loaded.sites), family, atol=0, rtol=0)
    assert from_dir.info["engine"] == "native" and from_dir.info["family"] == loaded.info["family"]
    assert from_dir.info["transformers_version"] is None and len(from_dir.info["weights_sha256"]) == 64


def test_minilm_every_site_equals_transformers(minilm):
    from neuronlab.corpus import load_embedded_corpus

    native, hf = engine_from_loaded(minilm, engine="native"), HFEngine(minilm)
    sents = load_embedded_corpus().subset(range(40)).sentences + SENTENCES
    batch = _batch(hf.tokenizer, sents)
    _assert_sites_close(native.run(batch, native.sites), hf.run(batch, hf.sites), "minilm", atol=1e-4, rtol=1e-4)


def test_batch_composition_does_not_change_values(minilm, tmp_path):
    corpus = Corpus(SENTENCES * 3)
    a = Extractor(minilm, ExtractionConfig(sites="layers.2,layers.4.mlp", dtype="float32", batch_tokens=16),
                  progress=False)
    b = Extractor(minilm, ExtractionConfig(sites="layers.2,layers.4.mlp", dtype="float32", batch_tokens=4096),
                  progress=False)
    assert a.engine.name == b.engine.name == "native"
    with a.extract(corpus, tmp_path / "a.h5") as sa, b.extract(corpus, tmp_path / "b.h5") as sb:
        for site in sa.sites:
            np.testing.assert_allclose(sa[site][:], sb[site][:], rtol=1e-5, atol=1e-5)


def test_workers_do_not_change_values(minilm, tmp_path):
    from neuronlab.corpus import load_embedded_corpus

    corpus = load_embedded_corpus().subset(range(120))
    cfg = dict(sites="embeddings,layers.3,layers.5.mlp", dtype="float32", batch_tokens=128, memory_mb=1)
    one = Extractor(minilm, ExtractionConfig(workers=1, **cfg), progress=False)
    two = Extractor(minilm, ExtractionConfig(workers=2, **cfg), progress=False)
    with one.extract(corpus, tmp_path / "1.h5") as s1, two.extract(corpus, tmp_path / "2.h5") as s2:
        assert one.stats["workers"] == 1 and two.stats["workers"] == min(2, torch.get_num_threads())
        assert s2.config["workers"] == two.stats["workers"]
        for site in s1.sites:
            np.testing.assert_allclose(s1[site][:], s2[site][:], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- tokenizer
@pytest.mark.parametrize("family", NATIVE)
def test_fast_tokenizer_equals_transformers(family, tiny_model_dir, tiny_loaded):
    lm = tiny_loaded(family)
    fast = FastWordTokenizer(tiny_model_dir(family), add_prefix_space=bool(lm.adapter.tokenizer_kwargs))
    ref = HFWordTokenizer(lm.tokenizer)
    sents = SENTENCES + TRICKY
    assert fast.encode_words(sents) == ref.encode_words(sents)
    assert (fast.pad_token_id, fast.unk_token) == (ref.pad_token_id, ref.unk_token)
    ids = fast.encode_words(TRICKY)[1][0]
    assert fast.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)


def test_fast_tokenizer_equals_transformers_on_ewt(minilm, shared_data):
    from neuronlab.corpus import read_corpus
    from neuronlab.models.loading import _minilm_path

    sents = read_corpus(shared_data / "ud-english-ewt" / "en_ewt-ud-dev.conllu").sentences
    fast, ref = FastWordTokenizer(_minilm_path()), HFWordTokenizer(minilm.tokenizer)
    assert fast.encode_words(sents) == ref.encode_words(sents)


# ---------------------------------------------------------------- choosing the engine
def test_auto_takes_native_where_it_applies(tiny_model_dir, tiny_loaded):
    assert load_engine("minilm").name == "native"
    assert load_engine(str(tiny_model_dir("gpt2"))).name == "hf"
    assert engine_from_loaded(tiny_loaded("t5")).name == "hf"
    assert load_engine("minilm", engine="hf").name == "hf"
    with pytest.raises(UnknownModelError, match="engine 'native' cannot run.*'gpt2' has no native engine"):
        load_engine(str(tiny_model_dir("gpt2")), engine="native")
    with pytest.raises(UnknownModelError, match="'llama' has no native engine"):
        engine_from_loaded(tiny_loaded("llama"), engine="native")
    with pytest.raises(InvalidParameterError, match="engine must be one of auto, native, hf"):
        load_engine("minilm", engine="fast")


def test_unsupported_variants_fall_back_with_a_reason(tiny_model_dir, tmp_path):
    src = tiny_model_dir("bert")
    rel = tmp_path / "relative"
    shutil.copytree(src, rel)
    cfg = json.loads((rel / "config.json").read_text())
    cfg["position_embedding_type"] = "relative_key"
    (rel / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownModelError, match="relative position embeddings"):
        load_engine(str(rel), engine="native")
    notok = tmp_path / "notok"
    shutil.copytree(src, notok)
    (notok / "tokenizer.json").unlink()
    with pytest.raises(UnknownModelError, match="no tokenizer.json"):
        load_engine(str(notok), engine="native")
    assert load_engine(str(notok)).name == "hf"  # auto: transformers builds the tokenizer from vocab.txt
    act = tmp_path / "act"
    shutil.copytree(src, act)
    cfg = json.loads((act / "config.json").read_text())
    cfg["hidden_act"] = "gelu_10"
    (act / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownModelError, match="activation 'gelu_10'"):
        load_engine(str(act), engine="native")


def test_native_load_and_run_never_import_transformers():
    code = ("import sys; from neuronlab.models.engines import load_engine; e = load_engine('minilm'); "
            "out = e.run([[101, 7592, 2088, 102]], ['layers.5']); "
            "print(e.name, tuple(out['layers.5'].shape), 'transformers' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["native", "(4,", "384)", "False"]


# ---------------------------------------------------------------- checkpoints
def test_task_model_sharded_and_bin_checkpoints(tiny_model_dir, tmp_path):
    """A BertForMaskedLM checkpoint (keys under 'bert.'), sharded safetensors and a .bin give the same values."""
    import transformers as tf

    base_dir = tiny_model_dir("bert")
    base = tf.AutoModel.from_pretrained(base_dir)
    mlm = tf.BertForMaskedLM(base.config)
    missing = mlm.bert.load_state_dict(base.state_dict(), strict=False)
    assert not missing.missing_keys  # (the base model has a pooler the MLM lacks)
    ref_engine = load_engine(str(base_dir), engine="native")
    batch = _batch(ref_engine.tokenizer, SENTENCES)
    ref = ref_engine.run(batch, ref_engine.sites)
    for name in ("mlm", "sharded", "bin"):
        d = tmp_path / name
        if name == "mlm":
            mlm.save_pretrained(str(d))
        elif name == "sharded":
            base.save_pretrained(str(d), max_shard_size="100KB")
        else:  # a legacy pickled checkpoint (transformers 5 writes safetensors only)
            base.config.save_pretrained(str(d))
            torch.save(base.state_dict(), d / "pytorch_model.bin")
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            if (base_dir / f).exists():
                shutil.copy(base_dir / f, d / f)
        files = {p.name for p in d.iterdir()}
        assert {"mlm": "model.safetensors", "sharded": "model.safetensors.index.json",
                "bin": "pytorch_model.bin"}[name] in files
        eng = load_engine(str(d), engine="native")
        _assert_sites_close(eng.run(batch, eng.sites), ref, name, atol=0, rtol=0)


def test_fingerprint_tracks_the_weights(tiny_model_dir, tmp_path):
    a = load_engine(str(tiny_model_dir("bert")), engine="native").info["weights_sha256"]
    assert a == load_engine(str(tiny_model_dir("bert")), engine="native").info["weights_sha256"]
    other = build_tiny_model("bert", tmp_path / "other", seed=1)
    assert load_engine(str(other), engine="native").info["weights_sha256"] != a


# ---------------------------------------------------------------- early stop, bad input
class _Tripwire(dict):
    """A layer's weights that record which ones the forward pass read."""

    def __init__(self, d):
        super().__init__(d)
        self.read = set()

    def __getitem__(self, k):
        self.read.add(k)
        return super().__getitem__(k)


def test_nothing_after_the_deepest_site_is_computed(tiny_loaded):
    eng = engine_from_loaded(tiny_loaded("bert"), engine="native")
    eng.layers = [_Tripwire(p) for p in eng.layers]
    batch = _batch(eng.tokenizer, SENTENCES[:2])
    eng.run(batch, ["embeddings", "layers.0"])
    assert [bool(p.read) for p in eng.layers] == [True, False, False]
    assert eng.layers[0].read >= {"f_w", "ln2"}
    eng.layers[1].read.clear()
    eng.run(batch, ["layers.1.attn"])
    assert "o_w" in eng.layers[1].read and not eng.layers[1].read & {"ln1", "i_w", "f_w"}
    assert not eng.layers[2].read
    eng.run(batch, ["layers.1.attn.heads"])
    assert not eng.layers[2].read


def test_engine_input_checks(tiny_loaded, minilm, tmp_path):
    eng = engine_from_loaded(tiny_loaded("bert"), engine="native")
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        eng.run([[2] * 65], ["layers.0"])
    with pytest.raises(Exception, match="not sites of this model"):
        eng.run([[2, 3]], ["layers.9"])
    with pytest.raises(InvalidParameterError, match="workers must be an integer >= 1"):
        ExtractionConfig(workers=0)
    with pytest.raises(InvalidParameterError, match="batch_tokens must be an integer >= 1"):
        ExtractionConfig(batch_tokens=-3)
    with pytest.raises(InvalidParameterError, match="config.engine is 'hf' but a 'native' engine was given"):
        Extractor(eng, ExtractionConfig(engine="hf"))


def test_resume_with_another_engine_is_refused(minilm, tmp_path):
    corpus = Corpus(SENTENCES * 20)
    p = tmp_path / "s.h5"
    cfg = dict(sites="layers.0", memory_mb=1)
    Extractor(minilm, ExtractionConfig(engine="hf", **cfg), progress=False).extract(
        corpus, p, stop_after_chunks=1).close()
    with pytest.raises(StoreError, match="different engine"):
        Extractor(minilm, ExtractionConfig(engine="native", **cfg), progress=False).extract(corpus, p, resume=True)
    with ActivationStore.open(p, allow_incomplete=True) as st:
        assert st.config["engine"] == "hf" and st.model["engine"] == "hf"


def _rewrite(path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_roberta_words_get_their_space_even_when_the_files_say_otherwise(tiny_model_dir, tmp_path):
    # hub roberta-base ships add_prefix_space=false: pre-split words must still be tokenised as words
    d = tmp_path / "roberta"
    shutil.copytree(tiny_model_dir("roberta"), d)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (d / name).exists():
            _rewrite(d / name, '"add_prefix_space": true', '"add_prefix_space": false')
    sents = [["The", "quick", "brown", "fox"], ["Hello", "world", "!"]]
    for engine in ("native", "hf"):
        tok = load_engine(str(d), engine=engine).tokenizer
        pieces = tok.convert_ids_to_tokens(list(tok.encode_words(sents)[0][0]))
        assert pieces[1] == "\u0120The" and pieces.count("\u0120fox") == 1, (engine, pieces)


def test_special_tokens_from_tokenizer_json_when_the_map_is_missing(tiny_model_dir, tmp_path):
    # bert-base-uncased's layout: tokenizer_config.json without special tokens, no special_tokens_map.json
    d = tmp_path / "bert"
    shutil.copytree(tiny_model_dir("bert"), d)
    (d / "special_tokens_map.json").unlink(missing_ok=True)
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    native, hf = FastWordTokenizer(d), load_engine(str(d), engine="hf").tokenizer
    assert native.unk_token == "[UNK]" and native.pad_token_id == hf.pad_token_id
    sents = [["a", "\u200b", "b"]]  # a word that tokenises to nothing becomes the unknown token
    ex_n = Extractor(load_engine(str(d), engine="native"), ExtractionConfig(sites="layers.0"), progress=False)
    ex_h = Extractor(load_engine(str(d), engine="hf"), ExtractionConfig(sites="layers.0"), progress=False)
    corpus = Corpus(sentences=sents, source="t")
    assert ex_n.plan_batches(corpus) == ex_h.plan_batches(corpus)


@pytest.mark.parametrize("engine", ["native", "hf"])
def test_max_length_beyond_the_model_is_refused_before_anything_is_written(engine, tiny_loaded, tmp_path):
    eng = engine_from_loaded(tiny_loaded("roberta"), engine=engine)
    assert eng.max_positions == 66 - 2  # tiny RoBERTa: 66 position rows, pad id 1 -> positions 2..65
    with pytest.raises(InvalidParameterError, match="exceeds the 64 positions"):
        Extractor(eng, ExtractionConfig(max_length=100), progress=False)
    assert not list(tmp_path.iterdir())


def test_empty_sentences_and_devices_are_refused(minilm, tmp_path):
    from neuronlab.models.loading import check_device

    with pytest.raises(InvalidParameterError, match="sentence 1 of the corpus has no words"):
        Extractor(minilm, ExtractionConfig(sites="layers.0"), progress=False).extract(
            Corpus([["a"], [], ["b"]]), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(InvalidParameterError, match="unknown device 'gpu'"):
        check_device("gpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="no usable CUDA device"):
            load_engine("minilm", device="cuda")


def test_a_failing_batch_keeps_the_chunk_being_written(minilm, tmp_path):
    """A worker error while the writer is busy: the chunk in the writer is completed and marked done.

    Deterministic: the writer holds chunk 1 until a batch of chunk 2 has failed (pipeline hooks, no sleep)."""
    import threading

    corpus = Corpus(SENTENCES * 40)
    cfg = ExtractionConfig(sites="layers.0", memory_mb=1, batch_tokens=64)
    chunks = Extractor(minilm, cfg, progress=False).plan_chunks(corpus)
    assert len(chunks) >= 4
    failed = threading.Event()

    def before_batch(chunk_start, batch):
        if chunk_start == chunks[2][0]:
            failed.set()
            raise RuntimeError("boom in a worker")

    def before_write(s0, s1):
        if s0 == chunks[1][0]:
            assert failed.wait(timeout=60)  # the worker error arrives while chunk 1 is in the writer

    ex = Extractor(minilm, cfg, progress=False, hooks=PipelineHooks(before_batch=before_batch,
                                                                    before_write=before_write))
    p = tmp_path / "x.h5"
    with pytest.raises(RuntimeError, match="boom in a worker"):
        ex.extract(corpus, p)
    with ActivationStore.open(p, allow_incomplete=True) as st:
        # chunk 1 was in the writer when chunk 2's batch failed: it is complete and marked done
        assert not st.complete and st.n_done == chunks[1][1]
    Extractor(minilm, cfg, progress=False).extract(corpus, p, resume=True).close()
    ref = tmp_path / "ref.h5"
    Extractor(minilm, cfg, progress=False).extract(corpus, ref).close()
    with ActivationStore.open(p) as a, ActivationStore.open(ref) as b:
        np.testing.assert_array_equal(a["layers.0"][:], b["layers.0"][:])