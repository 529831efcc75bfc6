"""Resumable, deterministic extraction; windows; early stop; bad input loses nothing."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.corpus import load_embedded_corpus  # noqa: E402
from neuronlab.errors import IncompleteStoreError, StoreError, UnknownModelError, UnknownSiteError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.extraction.tokenize import make_sequences, tokenize_sentences  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402


@pytest.fixture(scope="module")
def small_corpus():
    return load_embedded_corpus().subset(range(60))


CFG = dict(sites="embeddings,layers.0,layers.3.mlp", batch_size=8, memory_mb=1)


def test_resume_after_interruption_is_identical(minilm, small_corpus, tmp_path):
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus, full).close()
    ex = Extractor(minilm, ExtractionConfig(**CFG), progress=False)
    ex.extract(small_corpus, part, stop_after_chunks=2).close()
    with pytest.raises(IncompleteStoreError, match="stopped after .* of 60 sentences.*--resume"):
        ActivationStore.open(part)
    with ActivationStore.open(part, allow_incomplete=True) as st:
        assert 0 < st.n_done < 60 and not st.complete
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus, part, resume=True).close()
    assert datasets_bytes(part) == datasets_bytes(full)


def test_same_inputs_give_byte_identical_datasets(minilm, small_corpus, tmp_path):
    for name in ("a.h5", "b.h5"):
        Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus, tmp_path / name).close()
    assert datasets_bytes(tmp_path / "a.h5") == datasets_bytes(tmp_path / "b.h5")


def test_killed_process_leaves_incomplete_store_and_resume_matches(minilm, tmp_path):
    corpus_file = tmp_path / "c.txt"
    sents = load_embedded_corpus().subset(range(800)).texts()
    corpus_file.write_text("\n".join(sents) + "\n")
    args = [sys.executable, "-m", "neuronlab", "extract", "--corpus", str(corpus_file), "--sites", "layers.0",
            "--memory-mb", "1", "--batch-size", "8"]
    ref = tmp_path / "ref.h5"
    subprocess.run(args + ["--out", str(ref), "--quiet"], check=True, capture_output=True)
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen(args + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    try:  # kill as soon as the progress bar shows that some sentences are written
        while proc.poll() is None:
            seen += proc.stderr.read(1)
            m = re.findall(rb"(\d+)/800", seen[-200:])
            if m and 0 < int(m[-1]) < 800:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with ActivationStore.open(killed, allow_incomplete=True) as st:
        assert st.n_done < st.n_sentences, "the run finished before it could be killed"
    info = subprocess.run([sys.executable, "-m", "neuronlab", "info", str(killed)], capture_output=True, text=True)
    assert info.returncode == 3 and "INCOMPLETE" in info.stdout
    with pytest.raises(IncompleteStoreError):
        ActivationStore.open(killed)
    res = subprocess.run(args + ["--out", str(killed), "--resume", "--quiet"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert datasets_bytes(killed) == datasets_bytes(ref)


def test_resume_with_other_config_is_refused(minilm, small_corpus, tmp_path):
    p = tmp_path / "s.h5"
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus, p, stop_after_chunks=1).close()
    other = dict(CFG, sites="layers.1")
    with pytest.raises(StoreError, match="different sites"):
        Extractor(minilm, ExtractionConfig(**other), progress=False).extract(small_corpus, p, resume=True)
    with pytest.raises(StoreError, match="different .*corpus"):
        Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus.subset(range(50)), p,
                                                                          resume=True)


def test_existing_output_is_refused_without_overwrite(minilm, small_corpus, tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"precious")
    with pytest.raises(StoreError, match="exists; pass overwrite=True"):
        Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(small_corpus, p)
    assert p.read_bytes() == b"precious"


def test_unknown_site_and_model(minilm):
    with pytest.raises(UnknownSiteError, match=r"layers\.7.*valid sites: embeddings, layers\.0\.attn\.heads"):
        Extractor(minilm, ExtractionConfig(sites="layers.7"), progress=False)
    with pytest.raises(UnknownModelError, match="not an alias \\(minilm\\)"):
        Extractor("no-such-model-alias-xyz", progress=False)
    with pytest.raises(UnknownModelError, match="does not exist"):
        Extractor("./no/such/dir", progress=False)


def test_windows_cover_every_token_once(minilm):
    words = [f"w{i}" for i in range(40)]
    ts = tokenize_sentences(minilm.tokenizer, [words])[0]
    seqs = make_sequences(0, ts, max_length=16, overlap=4)
    assert len(seqs) > 1
    assert all(len(s.ids) <= 16 for s in seqs)
    taken = np.concatenate([s.take_tok for s in seqs])
    np.testing.assert_array_equal(np.sort(taken), np.arange(ts.n_tokens))
    for s in seqs:  # the token kept from a window is the same token id as in the sentence
        np.testing.assert_array_equal(np.array(s.ids)[s.take_pos], np.array(ts.ids)[s.take_tok])
        assert s.ids[0] == ts.ids[0] and s.ids[-1] == ts.ids[-1]  # [CLS] ... [SEP] in every window


def test_long_sentence_is_windowed_not_cut(minilm, tmp_path):
    from neuronlab.corpus.base import Corpus

    words = ("the quick brown fox jumps over the lazy dog and then " * 6).split()
    corpus = Corpus([words, ["short", "one"]])
    Extractor(minilm, ExtractionConfig(sites="layers.2", max_length=16), progress=False).extract(
        corpus, tmp_path / "w.h5")
    Extractor(minilm, ExtractionConfig(sites="layers.2"), progress=False).extract(corpus, tmp_path / "f.h5")
    with ActivationStore.open(tmp_path / "w.h5") as w, ActivationStore.open(tmp_path / "f.h5") as f:
        assert w.n_rows == len(words) + 2
        a, b = w["layers.2"][:].astype(np.float32), f["layers.2"][:].astype(np.float32)
        assert np.isfinite(a).all()
        # the short sentence is unaffected; windowed rows stay close to full-context rows
        np.testing.assert_allclose(a[-2:], b[-2:], rtol=2e-3, atol=2e-3)
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cos[:-2].mean() > 0.8


def test_forward_stops_after_deepest_site(minilm, small_corpus, tmp_path):
    calls = {"n": 0}

    def count(*_):
        calls["n"] += 1

    handle = minilm.model.encoder.layer[5].register_forward_hook(count)
    try:
        Extractor(minilm, ExtractionConfig(sites="embeddings,layers.0,layers.1", engine="hf"),
                  progress=False).extract(small_corpus, tmp_path / "e.h5")
        assert calls["n"] == 0
        Extractor(minilm, ExtractionConfig(sites="layers.5", engine="hf"), progress=False).extract(
            small_corpus, tmp_path / "f.h5")
        assert calls["n"] > 0
    finally:
        handle.remove()
    for m in minilm.model.modules():  # transformers may keep hooks of its own; none of ours may remain
        for fn in list(m._forward_hooks.values()) + list(m._forward_pre_hooks.values()):
            assert "neuronlab" not in getattr(fn, "__module__", ""), fn


def test_corrupted_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200))
    with pytest.raises(StoreError, match="not a readable HDF5 file"):
        ActivationStore.open(bad)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(StoreError, match="not a neuronlab activation store"):
        ActivationStore.open(foreign)
    neurox_like = tmp_path / "nx.h5"
    with h5py.File(neurox_like, "w") as f:
        f["0"] = np.zeros((2, 3, 4))
        f["sentence_to_index"] = "{}"
    with pytest.raises(StoreError, match="import-neurox"):
        ActivationStore.open(neurox_like)
    with pytest.raises(StoreError, match="does not exist"):
        ActivationStore.open(tmp_path / "nope.h5")


@pytest.mark.parametrize("tail", [1, 25, 35, 100, 1000])
def test_short_final_chunk_keeps_a_partition(tail):
    from neuronlab.extraction.planning import short_tail as _short_tail

    lengths = np.array([7, 12, 3, 30, 9, 9, 14, 2, 5, 11])
    chunks = [(0, 4), (4, 10)]  # the last holds 50 tokens
    out = _short_tail(chunks, lengths, tail)
    flat = [i for a, b in out for i in range(a, b)]
    assert flat == list(range(10)) and all(b > a for a, b in out)  # every sentence once, in order, no empty chunk
    last = int(lengths[out[-1][0]: out[-1][1]].sum())
    if tail >= 50:
        assert out == chunks  # already short enough
    elif tail >= lengths[-1]:
        assert last <= tail and last + lengths[out[-1][0] - 1] > tail  # the longest tail within the bound
    else:
        assert out == chunks  # no sentence fits: unchanged
