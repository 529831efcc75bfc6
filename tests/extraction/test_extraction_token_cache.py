"""Streamed extraction tokenises the corpus once (issue 13, "Streaming on one machine"): the planning pass keeps the
tokens in a scratch file beside the output, the extraction pass reads them back chunk by chunk. The store is the
one written without the cache, the tokenizer sees each sentence once, the file is gone after every run (also a
failed one; a resumed run after a kill replaces what the killed run left) and no token list of the whole corpus is
ever held in memory."""
from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("torch")

from neuronlab.corpus import Corpus, read_corpus, stream_corpus  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.extraction.pipeline import PipelineHooks  # noqa: E402
from neuronlab.extraction.token_cache import TokenCache  # noqa: E402
from neuronlab.extraction.tokenize import tokenize_sentences  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402
# the streaming tests' corpus in every format (module-scoped fixture) and their store comparison
from test_extract_streaming import CFG, WORDS, assert_same_store, files  # noqa: E402,F401


@pytest.fixture(scope="module")
def bert(tiny_loaded):
    return tiny_loaded("bert")


def _cache_file(out):
    return out.parent / f".{out.name}.tokens"


class _CountingTokenizer:
    """The engine's word tokenizer, counting the sentences it encodes."""

    def __init__(self, tok):
        self.tok, self.sentences = tok, 0

    def encode_words(self, sentences):
        self.sentences += len(sentences)
        return self.tok.encode_words(sentences)

    def __getattr__(self, name):
        return getattr(self.tok, name)


@pytest.mark.parametrize("fmt, granularity", [("text", "word"), ("tsv", "sentence"), ("neurox", "token"),
                                              ("conllu", "word"), ("conllu", "token")])
def test_cached_store_equals_the_store_written_without_cache(bert, files, tmp_path, fmt, granularity):  # noqa: F811
    cfg = ExtractionConfig(**CFG, granularity=granularity)
    cached, plain = tmp_path / "cached.h5", tmp_path / "plain.h5"
    ex = Extractor(bert, cfg, progress=False)
    assert len(ex.plan_chunks(read_corpus(**files[fmt]))) >= 3  # several write chunks, windows (max_length 12)
    ex.extract(stream_corpus(**files[fmt]), cached)
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files[fmt]), plain, token_cache=False).close()
    assert_same_store(cached, plain)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cached.h5", "plain.h5"]


@pytest.mark.parametrize("granularity", ["word", "token"])
def test_the_tokenizer_sees_each_sentence_once(bert, files, tmp_path, granularity):  # noqa: F811
    cfg = ExtractionConfig(**CFG, granularity=granularity)
    n = len(read_corpus(**files["conllu"]))
    counts = {}
    for cache in (True, False):
        ex = Extractor(bert, cfg, progress=False)
        ex.engine.tokenizer = counting = _CountingTokenizer(ex.engine.tokenizer)
        ex.extract(stream_corpus(**files["conllu"]), tmp_path / f"{cache}.h5", token_cache=cache).close()
        counts[cache] = counting.sentences
    assert counts[True] == n
    assert counts[False] == (3 if granularity == "token" else 2) * n  # planning, extraction (, row tokens)
    assert datasets_bytes(tmp_path / "True.h5") == datasets_bytes(tmp_path / "False.h5")


class _Boom(RuntimeError):
    pass


def test_the_cache_is_removed_after_success_and_after_a_failure(bert, files, tmp_path):  # noqa: F811
    cfg = ExtractionConfig(**CFG)
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    seen = []
    hooks = PipelineHooks(before_write=lambda s0, s1: seen.append(_cache_file(ref).is_file()))
    Extractor(bert, cfg, progress=False, hooks=hooks).extract(stream_corpus(**files["conllu"]), ref).close()
    assert seen and all(seen)  # the file was there while chunks were written ...
    assert not _cache_file(ref).exists()  # ... and is gone after success

    def fail_at_third(s0, s1):
        seen.append(_cache_file(out).is_file())
        if len(seen) > 2:
            raise _Boom("stop")

    seen.clear()
    with pytest.raises(_Boom):
        Extractor(bert, cfg, progress=False, hooks=PipelineHooks(before_write=fail_at_third)).extract(
            stream_corpus(**files["conllu"]), out)
    assert all(seen) and not _cache_file(out).exists()
    with ActivationStore.open(out, allow_incomplete=True) as st:
        assert 0 < st.n_done < st.n_sentences
    # a killed run leaves its file behind: the resumed run replaces it and gives the uninterrupted store
    _cache_file(out).write_bytes(b"\x7f" * 1000)
    Extractor(bert, cfg, progress=False).extract(stream_corpus(**files["conllu"]), out, resume=True).close()
    assert not _cache_file(out).exists()
    assert_same_store(ref, out)


class _FailsInPlanning:
    """A corpus whose reading fails in the planning pass after its first block (the cache is being written)."""

    source = "failing"

    def __init__(self, corpus: Corpus, cache_file):
        self.corpus, self.cache_file, self.existed = corpus, cache_file, None

    def blocks(self, size=1024, *, start=0, stop=None):
        for k, block in enumerate(self.corpus.blocks(size, start=start, stop=stop)):
            if k == 1:
                self.existed = self.cache_file.is_file()
                raise _Boom("the disk went away")
            yield block


def test_the_cache_is_removed_when_planning_fails(bert, tmp_path, monkeypatch):
    monkeypatch.setattr("neuronlab.extraction.planning.PLAN_BLOCK", 8)
    out = tmp_path / "x.h5"
    corpus = _FailsInPlanning(Corpus([["the", "cat", "sat"]] * 20), _cache_file(out))
    with pytest.raises(_Boom):
        Extractor(bert, ExtractionConfig(**CFG), progress=False).extract(corpus, out)
    assert corpus.existed and not _cache_file(out).exists() and not out.exists()


def test_reads_are_per_chunk_and_give_the_tokenizer_s_tokens(bert, files, tmp_path, monkeypatch):  # noqa: F811
    """Nothing holds the whole corpus's tokens: every read is one write chunk (or one block of sentences for
    the row tokens), and it returns exactly what tokenising those sentences gives."""
    cfg = ExtractionConfig(**CFG, granularity="token")
    corpus = read_corpus(**files["conllu"])
    tok = Extractor(bert, cfg, progress=False).engine.tokenizer
    reads = []
    real = TokenCache.read

    def read(self, s0, s1):
        out = real(self, s0, s1)
        want = tokenize_sentences(tok, corpus.sentences[s0:s1])
        for name in ("ids", "word_ids", "offsets", "n_prefix", "n_suffix"):
            got, exp = getattr(out, name), getattr(want, name)
            assert got.dtype == exp.dtype and np.array_equal(got, exp), name
        reads.append((s0, s1))
        return out

    monkeypatch.setattr(TokenCache, "read", read)
    monkeypatch.setattr("neuronlab.extraction.planning.PLAN_BLOCK", 16)
    ex = Extractor(bert, cfg, progress=False)
    chunks = ex.plan_chunks(corpus)
    ex.extract(stream_corpus(**files["conllu"]), tmp_path / "x.h5").close()
    blocks = [(a, min(a + 16, len(corpus))) for a in range(0, len(corpus), 16)]
    assert sorted(reads) == sorted(chunks + blocks)  # the chunks (extraction), the blocks (row tokens)
    assert max(b - a for a, b in reads) < len(corpus)


N_MEM = 1_000


def _traced_peak(bert, path, out, token_cache: bool) -> int:
    cfg = ExtractionConfig(sites="all", memory_mb=1, workers=1)  # chunks of about 20 sentences
    ex = Extractor(bert, cfg, progress=False)
    tracemalloc.start()
    try:
        ex.extract(stream_corpus(path), out, token_cache=token_cache).close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_cache_adds_no_memory(bert, tmp_path, monkeypatch):
    """Traced peak (Python objects and numpy arrays) of 1,000 sentences with the cache is within 32 KB of the
    peak without it (in fact lower: the extraction pass reads no corpus blocks): the corpus's tokens (about
    100 KB as arrays here, far more as lists) are on disk, not in memory."""
    monkeypatch.setattr("neuronlab.extraction.planning.PLAN_BLOCK", 64)
    rng = random.Random(1)
    path = tmp_path / "c.txt"
    path.write_text("".join(" ".join(rng.choice(WORDS) for _ in range(6)) + "\n" for _ in range(N_MEM)))
    peaks = {c: _traced_peak(bert, path, tmp_path / f"{c}.h5", c) for c in (False, True)}
    assert peaks[True] < peaks[False] + 32_000, peaks
