"""Streamed extraction (issue 13, "Streaming on one machine"): a corpus file read as a stream gives the store the
in-memory corpus gives (values, labels, tokens, offsets, attributes other than the creation time), for each
format and granularity, also resumed and sharded; the extractor's memory does not grow with the corpus."""
from __future__ import annotations

import random
import tracemalloc

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from neuronlab.corpus import Corpus, read_corpus, stream_corpus  # noqa: E402
from neuronlab.errors import CorpusError, InvalidParameterError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.store.merge import merge_stores  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402

WORDS = "the cat sat on a mat dogs ran quickly unbelievably xylophone über naïve 42 , . !".split()
#: small write chunks (a few sentences each) and windows, so that chunk boundaries and windows are exercised
CFG = dict(sites="all", memory_mb=1, max_length=12)


def _attrs(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            out.update({(name, k): repr(v) for k, v in obj.attrs.items()})
        out.update({("/", k): repr(v) for k, v in f.attrs.items() if k != "created"})
        f.visititems(visit)
    return out


def assert_same_store(a, b) -> None:
    assert datasets_bytes(a) == datasets_bytes(b)
    assert _attrs(a) == _attrs(b)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, dict]:
    """A corpus of 70 sentences in every format (labels in each), with the options that read it."""
    root = tmp_path_factory.mktemp("stream_corpora")
    rng = random.Random(13)
    sents = [[rng.choice(WORDS) for _ in range(rng.randint(1, 14))] for _ in range(70)]
    (root / "c.txt").write_text("".join(" ".join(s) + "\n" for s in sents), encoding="utf-8")
    (root / "c.tsv").write_text("label\tsentence\n" + "".join(f"{rng.choice(['pos', 'neg', 'mid'])}\t{' '.join(s)}\n"
                                                              for s in sents), encoding="utf-8")
    (root / "c.in").write_text("".join(" ".join(s) + "\n" for s in sents), encoding="utf-8")
    (root / "c.label").write_text("".join(" ".join(rng.choice("NVD") for _ in s) + "\n" for s in sents))
    lines = []
    for i, s in enumerate(sents):
        if i % 3 == 0:
            lines.append(f"# sent_mood = {rng.choice(['calm', 'angry'])}")
        for j, w in enumerate(s, start=1):
            feats = "Number=Plur" if w.endswith("s") else ("Tense=Past" if w in ("sat", "ran") else "_")
            upos = "_" if i < 40 else rng.choice(["NOUN", "VERB"])  # upos appears in later chunks only
            lines.append(f"{j}\t{w}\t{w}\t{upos}\tX{len(w) % 3}\t{feats}\t0\troot\t_\t_")
        lines.append("")
    (root / "c.conllu").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"text": {"path": root / "c.txt"}, "tsv": {"path": root / "c.tsv"},
            "neurox": {"path": root / "c.in", "label_name": "tag"}, "conllu": {"path": root / "c.conllu"}}


@pytest.fixture(scope="module")
def bert(tiny_loaded):
    return tiny_loaded("bert")


@pytest.mark.parametrize("fmt, granularity", [("text", "word"), ("tsv", "sentence"), ("neurox", "token"),
                                              ("conllu", "word"), ("conllu", "token")])
def test_streamed_store_equals_in_memory_store(bert, files, tmp_path, fmt, granularity):
    cfg = ExtractionConfig(**CFG, granularity=granularity)
    memory, streamed = tmp_path / "memory.h5", tmp_path / "stream.h5"
    ex = Extractor(bert, cfg, progress=False)
    assert len(ex.plan_chunks(read_corpus(**files[fmt]))) >= 3  # several write chunks
    Extractor(bert, cfg, progress=False).extract(read_corpus(**files[fmt]), memory).close()
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files[fmt]), streamed).close()
    assert_same_store(memory, streamed)
    with ActivationStore.open(streamed) as st:
        assert st.texts() == read_corpus(**files[fmt]).texts()
        if fmt == "conllu" and granularity == "word":
            assert {"upos", "xpos", "Number", "Tense", "mood"} <= set(st.label_names())
            upos = st.label("upos")
            assert list(upos.vocabulary) == ["NOUN", "VERB"] and (upos.values[:st.offsets[40]] == -1).all()


def test_streamed_resume_and_shards_equal_a_single_run(bert, files, tmp_path):
    cfg = ExtractionConfig(**CFG)
    ref, part = tmp_path / "ref.h5", tmp_path / "part.h5"
    Extractor(bert, cfg, progress=False).extract(read_corpus(**files["conllu"]), ref).close()
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["conllu"]), part, stop_after_chunks=2).close()
    with ActivationStore.open(part, allow_incomplete=True) as st:
        assert 0 < st.n_done < st.n_sentences
        assert st.texts() == read_corpus(**files["conllu"]).texts()  # written when the store was made
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["conllu"]), part, resume=True).close()
    assert_same_store(ref, part)
    shards = [tmp_path / f"s{i}.h5" for i in range(3)]
    for i, p in enumerate(shards):
        Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["conllu"]), p, shard=(i, 3)).close()
    merged = tmp_path / "merged.h5"
    merge_stores(shards, merged).close()
    assert_same_store(ref, merged)


def test_resume_refuses_a_stream_of_another_corpus(bert, files, tmp_path):
    cfg = ExtractionConfig(**CFG)
    part = tmp_path / "part.h5"
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["text"]), part, stop_after_chunks=2).close()
    other = tmp_path / "other.txt"
    lines = files["text"]["path"].read_text(encoding="utf-8").splitlines()
    other.write_text("\n".join(["a changed first sentence"] + lines[1:]) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"cannot resume .*different corpus"):
        Extractor(bert, cfg, progress=False).extract(stream_corpus(other), part, resume=True)
    # a change after the written sentences (whose texts the store does not hold yet) is caught by the row counts
    other.write_text("\n".join(lines[:-1] + [lines[-1] + " extra"]) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"cannot resume .*different corpus"):
        Extractor(bert, cfg, progress=False).extract(stream_corpus(other), part, resume=True)
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["text"]), part, resume=True).close()


class _Changing:
    """A corpus whose sentences change between the planning pass and the extraction pass."""

    source = "changing"

    def __init__(self, corpus: Corpus):
        self.corpus, self.passes = corpus, 0

    def blocks(self, size=1024, *, start=0, stop=None):
        self.passes += 1
        corpus = self.corpus
        if self.passes > 1:
            corpus = Corpus([s + ["unbelievably"] for s in corpus.sentences])
        return corpus.blocks(size, start=start, stop=stop)


def test_a_corpus_that_changes_between_passes_is_refused(bert, tmp_path):
    cfg = ExtractionConfig(**CFG)
    with pytest.raises(CorpusError, match=r"changing changed while it was read .*extract it again"):
        Extractor(bert, cfg, progress=False).extract(_Changing(Corpus([["a", "b"]] * 30)), tmp_path / "x.h5")
    with pytest.raises(InvalidParameterError, match=r"corpus must be a Corpus or a CorpusStream"):
        Extractor(bert, cfg, progress=False).extract([["a", "b"]], tmp_path / "y.h5")


def test_empty_stream_and_empty_sentence_are_refused(bert, tmp_path):
    cfg = ExtractionConfig(**CFG)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match=r"empty\.txt: the corpus is empty"):
        Extractor(bert, cfg, progress=False).extract(stream_corpus(tmp_path / "empty.txt"), tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def _traced_peak(bert, path, out) -> int:
    """Peak memory traced by tracemalloc (Python objects and numpy arrays) of a streamed extraction."""
    cfg = ExtractionConfig(sites="all", memory_mb=1, workers=1)  # chunks of about 20 sentences
    ex = Extractor(bert, cfg, progress=False)
    tracemalloc.start()
    try:
        ex.extract(stream_corpus(path), out).close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_extraction_memory_does_not_grow_with_the_corpus(bert, tmp_path, monkeypatch):
    """A streamed extraction keeps per-chunk state only: its traced peak for 2,000 sentences is that of 200
    (about 10 write chunks; blocks of 64 sentences read); the few numbers per sentence the plan keeps
    (lengths, row offsets and, while it is made, the per-block arrays and their concatenation: 40-80 bytes at
    the peak) are the only growth. A corpus held as Python lists costs several hundred bytes per sentence
    (six str objects and a list), so the 100-byte bound still catches it."""
    monkeypatch.setattr("neuronlab.extraction.planning.PLAN_BLOCK", 64)
    rng = random.Random(0)
    peaks = {}
    for n in (50, 200, 2_000):  # the first run warms up lazy imports and caches (the test alone failed without it)
        path = tmp_path / f"c{n}.txt"
        path.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(6)) + "\n" for _ in range(n)))
        peaks[n] = _traced_peak(bert, path, tmp_path / f"c{n}.h5")
        with ActivationStore.open(tmp_path / f"c{n}.h5") as st:
            assert st.n_sentences == n and np.isfinite(st["layers.0"][-5:]).all()
    assert peaks[2_000] < 1.2 * peaks[200] + 100 * 2_000, peaks  # peaks[50] is the warm-up's
