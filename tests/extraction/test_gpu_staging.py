"""The device path of the extractor (issue 13), run on the CPU: ring, device-side aggregation, same bytes.

On a GPU the pipeline aggregates and casts on the device and copies asynchronously into pinned ring
buffers; the same code runs on the CPU with synchronous copies, so these tests cover its logic.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronlab.corpus import load_embedded_corpus  # noqa: E402
from neuronlab.corpus.base import Corpus  # noqa: E402
from neuronlab.errors import InvalidParameterError, NonFiniteError, StoreError  # noqa: E402
from neuronlab.extraction import ExtractionConfig, Extractor  # noqa: E402
from neuronlab.extraction.aggregate import aggregate_rows, aggregate_tensors  # noqa: E402
from neuronlab.extraction.staging import HostRing, Transfer, carve  # noqa: E402
from neuronlab.models import load_model  # noqa: E402
from neuronlab.store import ActivationStore  # noqa: E402
from neuronlab.testing import datasets_bytes  # noqa: E402


@pytest.fixture(scope="module")
def corpus():
    return load_embedded_corpus().subset(range(40))


# ---------------------------------------------------------------------- the ring
def test_ring_blocks_until_a_buffer_is_returned():
    ring = HostRing(2, 16, pin=False)
    a, _b = ring.acquire(), ring.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append(ring.acquire()))
    t.start()
    t.join(0.2)
    assert t.is_alive() and not got  # the third acquire waits: at most two chunks in flight
    ring.release(a)
    t.join(5)
    assert got and got[0] is a and ring.free_slots == 0
    with pytest.raises(ValueError, match="at least one slot"):
        HostRing(0, 16, pin=False)


def test_carve_lays_sites_out_back_to_back_and_refuses_overflow():
    buf = torch.zeros(64, dtype=torch.uint8)
    views = carve(buf, {"a": (2, 3), "b": (1, 4)}, torch.float32)
    views["a"].fill_(1.0)
    views["b"].fill_(2.0)
    flat = buf[:40].view(torch.float32)
    assert flat.tolist() == [1.0] * 6 + [2.0] * 4
    assert buf[40:].eq(0).all()
    with pytest.raises(ValueError, match="needs 72 bytes of staging, the ring's buffers hold 64"):
        carve(buf, {"a": (3, 6)}, torch.float32)


def test_transfer_copies_rows_and_flags_non_finite_sites():
    ring = HostRing(1, 1024, pin=False)
    tr = Transfer("cpu", ring)
    rows = {"x": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "y": torch.tensor([[np.inf, 0.0]])}
    st = tr.stage(3, 5, rows, torch.float32)
    tr.finish(st)
    assert st.nonfinite.tolist() == [False, True]
    arr = st.arrays()
    assert arr["x"].tolist() == [[1.0, 2.0], [3.0, 4.0]] and arr["y"][0, 0] == np.inf
    assert ring.free_slots == 0
    tr.release(st)
    assert ring.free_slots == 1


# ---------------------------------------------------------------------- aggregation on the device
@pytest.mark.parametrize("granularity,mode", [("word", "mean"), ("word", "max"), ("word", "first"), ("word", "last"),
                                              ("token", "mean"), ("sentence", "mean"), ("sentence", "max"),
                                              ("sentence", "cls")])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_device_aggregation_equals_host_aggregation_bit_for_bit(granularity, mode, dtype):
    rng = np.random.default_rng(7)
    # 11 buffer rows (tokens), groups of 1-3 tokens, one token (row 4) that takes no part
    positions = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9, 10], dtype=np.int64)
    groups = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 5], dtype=np.int64)
    bufs = {"s": torch.from_numpy(rng.normal(scale=300.0, size=(11, 6)).astype(np.float32))}
    kw = {"aggregation": mode} if granularity == "word" else {"pooling": mode}
    cfg = ExtractionConfig(granularity=granularity, **kw)
    for buffer_rows in (None, 11):
        host = aggregate_rows(bufs, positions, groups, 6, cfg, out_dtype=np.dtype(dtype), buffer_rows=buffer_rows)
        dev = aggregate_tensors(bufs, positions, groups, 6, cfg, out_dtype=getattr(torch, dtype),
                                buffer_rows=buffer_rows)
        assert dev["s"].dtype == getattr(torch, dtype)
        assert dev["s"].numpy().tobytes() == host["s"].tobytes()


# ---------------------------------------------------------------------- the whole pipeline
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_staged_pipeline_writes_the_same_bytes_as_the_host_path(minilm, corpus, tmp_path, dtype):
    cfg = ExtractionConfig(sites="embeddings,layers.1,layers.2.mlp", dtype=dtype, memory_mb=1, batch_size=8)
    host, staged = tmp_path / "host.h5", tmp_path / "staged.h5"
    Extractor(minilm, cfg, progress=False).extract(corpus, host).close()
    ex = Extractor(minilm, cfg, progress=False, staged=True)
    assert len(ex.plan_chunks(corpus)) > 3  # several chunks go through the ring
    ex.extract(corpus, staged).close()
    assert datasets_bytes(staged) == datasets_bytes(host)


def test_staged_pipeline_with_one_ring_slot_and_resume(minilm, corpus, tmp_path):
    from neuronlab.extraction import pipeline

    cfg = ExtractionConfig(sites="layers.0", memory_mb=1, batch_size=8)
    ref, part = tmp_path / "ref.h5", tmp_path / "part.h5"
    Extractor(minilm, cfg, progress=False).extract(corpus, ref).close()
    orig = pipeline.Pipeline.__init__

    def one_slot(self, *a, **kw):
        orig(self, *a, **dict(kw, ring_slots=1))

    pipeline.Pipeline.__init__ = one_slot
    try:
        Extractor(minilm, cfg, progress=False, staged=True).extract(corpus, part, stop_after_chunks=2).close()
        with ActivationStore.open(part, allow_incomplete=True) as st:
            assert 0 < st.n_done < len(corpus)
        Extractor(minilm, cfg, progress=False, staged=True).extract(corpus, part, resume=True).close()
    finally:
        pipeline.Pipeline.__init__ = orig
    assert datasets_bytes(part) == datasets_bytes(ref)


def test_staged_pipeline_names_the_non_finite_site_and_sentence(tiny_model_dir, tmp_path):
    lm = load_model(str(tiny_model_dir("bert")))
    cat = lm.tokenizer.convert_tokens_to_ids("cat")
    with torch.no_grad():
        lm.model.base_model.embeddings.word_embeddings.weight[cat] = float("nan")
    corpus = Corpus([["the", "dog"], ["a", "dog", "ran"], ["the", "cat", "sat"], ["dogs", "ran"]])
    out = tmp_path / "bad.h5"
    with pytest.raises(NonFiniteError, match=r"at site embeddings, sentence 2 \('the cat sat'\)"):
        Extractor(lm, ExtractionConfig(sites="embeddings,layers.0"), progress=False, staged=True).extract(corpus, out)
    with ActivationStore.open(out, allow_incomplete=True) as st:
        assert not st.complete


def test_a_failed_write_stops_the_staged_run_and_leaves_later_chunks_unwritten(minilm, corpus, tmp_path):
    from neuronlab.extraction import PipelineHooks

    def fail(s0, s1):
        if s0 > 0:
            raise OSError("disk full")

    cfg = ExtractionConfig(sites="layers.0", memory_mb=1, batch_size=8)
    out = tmp_path / "x.h5"
    ex = Extractor(minilm, cfg, progress=False, staged=True, hooks=PipelineHooks(before_write=fail))
    first = ex.plan_chunks(corpus)[0]
    with pytest.raises(OSError, match="disk full"):
        ex.extract(corpus, out)
    with ActivationStore.open(out, allow_incomplete=True) as st:
        assert st.n_done == first[1]  # the first chunk written, nothing after the failure


# ---------------------------------------------------------------------- compute dtype
def test_compute_dtype_is_checked_defaulted_and_recorded(minilm, corpus, tmp_path):
    assert ExtractionConfig().compute_dtype == "float32"
    with pytest.raises(InvalidParameterError, match="compute_dtype 'tf32' needs a CUDA device.*use float32"):
        ExtractionConfig(compute_dtype="tf32")
    with pytest.raises(InvalidParameterError,
                       match=r"compute_dtype must be one of float32, tf32, bfloat16, float16, got 'int8'"):
        ExtractionConfig(compute_dtype="int8")
    small = corpus.subset(range(10))
    f32, b16 = tmp_path / "f32.h5", tmp_path / "b16.h5"
    base = dict(sites="layers.2", dtype="float32")
    Extractor(minilm, ExtractionConfig(**base), progress=False).extract(small, f32).close()
    for engine in ("native", "hf"):
        out = tmp_path / f"b16{engine}.h5"
        cfg = ExtractionConfig(**base, compute_dtype="bfloat16", engine=engine)
        with Extractor(minilm, cfg, progress=False).extract(small, out) as st, ActivationStore.open(f32) as ref:
            assert st.config["compute_dtype"] == "bfloat16"
            a, r = st["layers.2"][:], ref["layers.2"][:]
            rel = np.linalg.norm(a - r) / np.linalg.norm(r)
            assert 1e-4 < rel < 5e-2  # bfloat16 arithmetic: close, but not float32's numbers
    # a resumed run must compute in the same type
    Extractor(minilm, ExtractionConfig(**base, compute_dtype="bfloat16", memory_mb=1), progress=False).extract(
        small, b16, stop_after_chunks=1).close()
    with pytest.raises(StoreError, match="different compute_dtype"):
        Extractor(minilm, ExtractionConfig(**base, memory_mb=1), progress=False).extract(small, b16, resume=True)
