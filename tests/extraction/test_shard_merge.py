"""Sharded extraction (``extract --shard I/N``) and ``neuronlab merge``: the merged store is the single run's store."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from neuronlab.corpus import load_embedded_corpus  # noqa: E402
from neuronlab.errors import InvalidParameterError, StoreError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.extraction.sharding import parse_shard, shard_chunks  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.store.merge import merge_stores  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CFG = dict(sites="embeddings,layers.1", memory_mb=1, batch_size=8)


def attrs_without_time(path) -> dict:
    with h5py.File(path, "r") as f:
        out = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items() if k != "created"}
    out["config"] = json.loads(out["config"])
    return out


def assert_same_store(a, b) -> None:
    assert datasets_bytes(a) == datasets_bytes(b)
    assert attrs_without_time(a) == attrs_without_time(b)


@pytest.fixture(scope="module")
def corpus():
    return load_embedded_corpus().subset(range(48))


@pytest.fixture(scope="module")
def single(minilm, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "single.h5"
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, out).close()
    return out


@pytest.mark.parametrize("granularity", ["word", "token"])
def test_merged_shards_equal_the_single_run(minilm, corpus, single, tmp_path, granularity):
    cfg = ExtractionConfig(**CFG, granularity=granularity)
    ref = single if granularity == "word" else tmp_path / "single_token.h5"
    if granularity == "token":
        Extractor(minilm, cfg, progress=False).extract(corpus, ref).close()
    shards = []
    for i in (2, 0, 1):  # any order
        path = tmp_path / f"part{i}.h5"
        with Extractor(minilm, cfg, progress=False).extract(corpus, path, shard=f"{i}/3") as st:
            assert st.config["shard"] == f"{i}/3" and st.n_sentences < len(corpus)
        shards.append(path)
    # the shards see different classes: the merge must re-encode labels over the union
    with ActivationStore.open(shards[0]) as a, ActivationStore.open(ref) as full:
        assert any(a.label(n).vocabulary != full.label(n).vocabulary for n in full.label_names())
    merge_stores(shards, tmp_path / "merged.h5").close()
    assert_same_store(tmp_path / "merged.h5", ref)


def test_shard_resume_gives_the_same_shard(minilm, corpus, tmp_path):
    whole, part = tmp_path / "whole.h5", tmp_path / "part.h5"
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, whole, shard="1/2").close()
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, part, shard="1/2",
                                                                       stop_after_chunks=1).close()
    with ActivationStore.open(part, allow_incomplete=True) as st:
        assert not st.complete
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, part, shard="1/2", resume=True).close()
    assert_same_store(part, whole)


def _conllu_subset(n: int, path: Path) -> None:
    blocks = (ROOT / "data" / "concepts.conllu").read_text(encoding="utf-8").split("\n\n")
    path.write_text("\n\n".join(b for b in blocks[:n] if b.strip()) + "\n\n", encoding="utf-8")


def test_shards_from_parallel_processes_merge_to_the_cli_single_run(tmp_path):
    corpus = tmp_path / "c.conllu"
    _conllu_subset(40, corpus)
    base = [sys.executable, "-m", "neuronlab", "extract", "--corpus", str(corpus), "--sites", "layers.0,layers.2.mlp",
            "--memory-mb", "1", "--batch-size", "8", "--workers", "1", "--quiet"]
    env_threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    import os

    env = dict(os.environ, **env_threads)
    subprocess.run(base + ["--out", str(tmp_path / "single.h5")], check=True, capture_output=True, env=env)
    procs = [subprocess.Popen(base + ["--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}.h5")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(3)]
    for p in procs:  # three processes at once, as three GPUs would run them
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    r = subprocess.run([sys.executable, "-m", "neuronlab", "merge", str(tmp_path / "all.h5"),
                        *(str(tmp_path / f"s{i}.h5") for i in (1, 2, 0)), "--json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n_sentences"] == 40 and len(summary["merged_from"]) == 3
    assert_same_store(tmp_path / "all.h5", tmp_path / "single.h5")
    # merge refuses to write over a shard, and says why in one line
    r = subprocess.run([sys.executable, "-m", "neuronlab", "merge", str(tmp_path / "s0.h5"), str(tmp_path / "s0.h5"),
                        str(tmp_path / "s1.h5"), str(tmp_path / "s2.h5")], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.startswith("neuronlab: error:") and "Traceback" not in r.stderr


def test_shard_arguments_are_checked():
    assert parse_shard("0/1") == (0, 1) and parse_shard((3, 4)) == (3, 4)
    with pytest.raises(InvalidParameterError, match=r"shard must look like I/N .* got 'x'"):
        parse_shard("x")
    with pytest.raises(InvalidParameterError, match=r"shard 4/4: I must satisfy 0 <= I < N"):
        parse_shard("4/4")
    with pytest.raises(InvalidParameterError, match=r"only 2 write chunk\(s\), fewer than the 3 shards.*--memory-mb"):
        shard_chunks([(0, 4), (4, 6)], 0, 3)
    chunks = [(0, 3), (3, 5), (5, 9), (9, 10), (10, 12)]
    parts = [shard_chunks(chunks, i, 3) for i in range(3)]
    assert sum(parts, []) == chunks and all(parts)


def test_merge_refuses_shards_that_do_not_belong_together(minilm, corpus, single, tmp_path):
    parts = {}
    for i in range(3):
        parts[i] = tmp_path / f"p{i}.h5"
        Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, parts[i], shard=f"{i}/3").close()
    out = tmp_path / "m.h5"
    with pytest.raises(StoreError, match=r"shard\(s\) 1/3 missing: give all 3 shard stores"):
        merge_stores([parts[0], parts[2]], out)
    with pytest.raises(StoreError, match=r"shard 0/3 is given twice"):
        merge_stores([parts[0], parts[0], parts[1], parts[2]], out)
    with pytest.raises(StoreError, match=r"is not a shard store"):
        merge_stores([single, parts[1]], out)
    other = tmp_path / "other1.h5"
    Extractor(minilm, ExtractionConfig(**dict(CFG, sites="embeddings")), progress=False).extract(
        corpus, other, shard="1/3").close()
    with pytest.raises(StoreError, match=r"other settings than .*: sites differ"):
        merge_stores([parts[0], other, parts[2]], out)
    half = tmp_path / "half.h5"
    Extractor(minilm, ExtractionConfig(**CFG), progress=False).extract(corpus, half, shard="1/3",
                                                                       stop_after_chunks=1).close()
    with pytest.raises(StoreError, match=r"shard .*half.h5' is incomplete: finish it first .*--resume"):
        merge_stores([parts[0], half, parts[2]], out)
    with pytest.raises(InvalidParameterError, match="must not be one of the shards"):
        merge_stores([parts[0], parts[1], parts[2]], parts[1])
    assert not out.exists()
