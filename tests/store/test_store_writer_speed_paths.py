"""Issue 13, the store writer's ceiling: ``write_rows`` writes whole HDF5 chunks (direct chunk writes, the tail of
a write held back until the next write continues it), and stores exactly what the writer before it stored.

The reference is the writer before issue 13, reproduced in :func:`old_writer` from its documented behaviour
(``ds[r0:r1] = rows`` into NaN-filled datasets, then the ``written`` markers and ``done`` as the first unmarked
sentence). Chunks are made tiny (``schema.CHUNK_BYTES``) so that a store of ~150 rows spans many chunks, with a
different number of rows per chunk for each site.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuronlab.store import ActivationStore, schema
from neuronlab.store.rowwriter import to_storage
from neuronlab.testing import datasets_bytes

ROOT = Path(__file__).resolve().parents[2]
SITES = {"a": 8, "b": 3}  # 160-byte chunks: 5 resp. 13 rows (float32), 10 resp. 26 (float16)
CHUNK_BYTES = 160


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(schema, "CHUNK_BYTES", CHUNK_BYTES)


def layout(seed: int = 0, n_sentences: int = 40):
    """Sentence offsets (1-6 rows each) and activations of every site (float64)."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 7, size=n_sentences))]).astype(np.int64)
    data = {s: rng.normal(size=(int(offsets[-1]), w)) * 10 for s, w in SITES.items()}
    return offsets, data


def ragged_ranges(offsets, seed: int = 0, min_rows: int = 0) -> list[tuple[int, int]]:
    """Consecutive sentence ranges of 1-5 sentences (and at least ``min_rows`` rows) covering the corpus."""
    rng = np.random.default_rng(seed + 100)
    n, out, a = len(offsets) - 1, [], 0
    while a < n:
        b = min(n, a + int(rng.integers(1, 6)))
        while b < n and offsets[b] - offsets[a] < min_rows:
            b += 1
        out.append((a, b))
        a = b
    return out


def create(path, offsets, dtype="float32", compression=None) -> ActivationStore:
    n = len(offsets) - 1
    tokens = [f"w{i}" for i in range(int(offsets[-1]))]
    labels = {"pos": (["X", "Y"], "row")}
    fill = [(0, n, {"texts": [f"s{i}" for i in range(n)], "tokens": tokens,
                    "labels": {"pos": np.arange(int(offsets[-1])) % 2}})]
    return ActivationStore.create(path, sites=SITES, offsets=offsets, texts=None, tokens=None, granularity="word",
                                  dtype=dtype, model={"name": "t"}, config={}, compression=compression, labels=labels,
                                  fill=fill)


def old_writer(path, offsets, data, ranges, dtype="float32", compression=None) -> None:
    """The writer before issue 13: each range's rows as they come (``ds[r0:r1] = rows``), then its markers."""
    create(path, offsets, dtype, compression).close()
    with h5py.File(path, "r+") as f:
        for a, b in ranges:
            r0, r1 = int(offsets[a]), int(offsets[b])
            for s, x in data.items():
                f["sites"][s][r0:r1] = x[r0:r1]
            f["sentences/written"][a:b] = 1
        w = f["sentences/written"][()]
        f["sentences/done"][0] = int(np.argmin(w)) if (w == 0).any() else w.size


def new_writer(path, offsets, data, ranges, dtype="float32", compression=None) -> None:
    st = create(path, offsets, dtype, compression)
    for a, b in ranges:
        r0, r1 = int(offsets[a]), int(offsets[b])
        st.write_rows(a, b, {s: x[r0:r1] for s, x in data.items()})
    st.close()


def orders(offsets):
    ranges = ragged_ranges(offsets)
    rng = np.random.default_rng(5)
    return {
        "in order": ranges,
        "reversed": ranges[::-1],
        "shuffled": [ranges[i] for i in rng.permutation(len(ranges))],
        "with gaps": [r for i, r in enumerate(ranges) if i % 3 != 1],  # an incomplete store
        "rewritten": ranges[:6] + ranges[2:4] + ranges[6:],  # sentences written twice
        "one call": [(0, len(offsets) - 1)],
    }


# ---------------------------------------------------------------------- same bytes as the old writer
@pytest.mark.parametrize("compression", [None, "gzip"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled", "with gaps", "rewritten", "one call"])
def test_values_tokens_offsets_labels_and_markers_equal_the_old_writer(tmp_path, order, dtype, compression):
    offsets, data = layout()
    ranges = orders(offsets)[order]
    old_writer(tmp_path / "old.h5", offsets, data, ranges, dtype, compression)
    new_writer(tmp_path / "new.h5", offsets, data, ranges, dtype, compression)
    old, new = datasets_bytes(tmp_path / "old.h5"), datasets_bytes(tmp_path / "new.h5")
    assert sorted(new) == sorted(old)
    for key in old:
        assert new[key] == old[key], key
    with ActivationStore.open(tmp_path / "new.h5", allow_incomplete=True) as st:
        assert st.complete == (order != "with gaps")
        unwritten = np.ones(st.n_rows, bool)
        for a, b in ranges:
            unwritten[offsets[a]: offsets[b]] = False
        for s in SITES:  # rows never written read as NaN, including those sharing a chunk with written ones
            assert np.isnan(st[s][:][unwritten]).all() and not np.isnan(st[s][:][~unwritten]).any()


def test_types_are_converted_by_hdf5_as_before(tmp_path):
    """float64 rows into float16: HDF5's conversion (65519 -> inf), not NumPy's (65519 -> 65504)."""
    offsets, data = layout()
    data["a"][:3, 0] = [65519.0, -65519.0, 65504.0]
    ranges = ragged_ranges(offsets)
    old_writer(tmp_path / "old.h5", offsets, data, ranges, "float16")
    new_writer(tmp_path / "new.h5", offsets, data, ranges, "float16")
    assert datasets_bytes(tmp_path / "new.h5") == datasets_bytes(tmp_path / "old.h5")
    with ActivationStore.open(tmp_path / "new.h5") as st:
        assert st["a"][:3, 0].tolist() == [np.inf, -np.inf, 65504.0]
    np.testing.assert_array_equal(to_storage(np.array([[65519.0]]), np.dtype("float16")), [[np.inf]])
    assert to_storage(np.arange(4, dtype=">f4").reshape(2, 2), np.dtype("<f4")).tolist() == [[0, 1], [2, 3]]


def test_unwritten_rows_read_nan_also_in_datasets_hdf5_does_not_fill(tmp_path):
    """A store whose site datasets have fill time NEVER (HDF5 leaves unwritten rows undefined: 0 in a partly
    written chunk, the reader's buffer in a chunk never written): a chunk first written in part is padded with
    NaN, so every chunk the writer touched reads as the old writer's. (Chunks never written stay undefined in
    such a dataset: why the store's own datasets keep HDF5's NaN fill.)"""
    offsets, data = layout()
    ranges = orders(offsets)["with gaps"]
    path = tmp_path / "never.h5"
    create(path, offsets).close()
    with h5py.File(path, "r+") as f:
        for s, w in SITES.items():
            chunks = f["sites"][s].chunks
            del f["sites"][s]
            f["sites"].create_dataset(s, shape=(int(offsets[-1]), w), dtype="float32", chunks=chunks,
                                      fillvalue=np.nan, fill_time="never")
    with ActivationStore.open(path, mode="r+", allow_incomplete=True) as st:
        for a, b in ranges:
            st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
    old_writer(tmp_path / "old.h5", offsets, data, ranges)
    with h5py.File(path) as f, h5py.File(tmp_path / "old.h5") as ref:
        for s in SITES:
            rows = f["sites"][s].chunks[0]
            touched = np.zeros(int(offsets[-1]), bool)
            for a, b in ranges:
                touched[(offsets[a] // rows) * rows: -(-offsets[b] // rows) * rows] = True
            assert touched.sum() > sum(offsets[b] - offsets[a] for a, b in ranges)  # some chunks are partial
            got, want = f["sites"][s][()][touched], ref["sites"][s][()][touched]
            assert got.tobytes() == want.tobytes() and np.isnan(want).any()


# ---------------------------------------------------------------------- whole chunks
def test_in_order_writes_touch_no_chunk_partially(tmp_path, monkeypatch):
    """The extractor's pattern (consecutive ragged ranges, each longer than a chunk): every chunk is written once,
    whole, with a direct chunk write; no ``ds[...] =`` write of a chunk part (the writer before wrote every range
    as it came: ``ds[r0:r1]``, partial chunks at both ends)."""
    offsets, data = layout(n_sentences=60)
    ranges = ragged_ranges(offsets, min_rows=14)
    partial = []
    real = h5py.Dataset.__setitem__

    def spy(self, key, value):
        if self.name.startswith("/sites/"):
            partial.append((self.name, key))
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", spy)
    new_writer(tmp_path / "new.h5", offsets, data, ranges)
    assert partial == []
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    old_writer(tmp_path / "old.h5", offsets, data, ranges)
    assert datasets_bytes(tmp_path / "new.h5") == datasets_bytes(tmp_path / "old.h5")


def test_with_compression_every_write_is_chunk_aligned(tmp_path, monkeypatch):
    offsets, data = layout(n_sentences=60)
    ranges = ragged_ranges(offsets, min_rows=14)
    writes = []
    real = h5py.Dataset.__setitem__

    def spy(self, key, value):
        if self.name.startswith("/sites/"):
            writes.append((self.chunks[0], self.shape[0], key))
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", spy)
    new_writer(tmp_path / "new.h5", offsets, data, ranges, compression="gzip")
    assert writes
    for rows, n, key in writes:
        assert key.start % rows == 0 and (key.stop % rows == 0 or key.stop == n), (rows, key)


def test_the_held_back_tail_is_unmarked_until_the_next_write_or_close(tmp_path):
    offsets, data = layout()
    ranges = ragged_ranges(offsets, min_rows=14)
    path = tmp_path / "s.h5"
    st = create(path, offsets)
    (a, b), (c, d) = ranges[0], ranges[1]
    st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
    held = st._writer.pending
    assert held is not None and held[1] == b  # the tail: its rows follow the last chunk boundary
    written = st._f["sentences/written"][()]
    assert written[a: held[0]].all() and not written[held[0]:].any()
    assert st._f["sentences/done"][0] == held[0]
    st.write_rows(c, d, {s: x[offsets[c]: offsets[d]] for s, x in data.items()})  # continues it: joined
    assert st._writer.pending[0] >= b and st._f["sentences/written"][: st._writer.pending[0]].all()
    st.close()  # writes the tail
    with ActivationStore.open(path, allow_incomplete=True) as st:
        assert st.n_done == d
        for s, x in data.items():
            np.testing.assert_array_equal(st[s][: offsets[d]], x[: offsets[d]].astype(np.float32))


def test_the_caller_may_reuse_its_buffer_once_write_rows_returns(tmp_path):
    """The extractor's device path hands rows in ring buffers that the next chunks overwrite: the held tail is a copy."""
    offsets, data = layout()
    ranges = ragged_ranges(offsets, min_rows=14)
    path = tmp_path / "s.h5"
    st = create(path, offsets)
    buffers = {s: np.empty((int(offsets[-1]), w), np.float32) for s, w in SITES.items()}  # one reused buffer
    for a, b in ranges:
        n = int(offsets[b] - offsets[a])
        for s, x in data.items():
            buffers[s][:n] = x[offsets[a]: offsets[b]]
        st.write_rows(a, b, {s: buf[:n] for s, buf in buffers.items()})
        for buf in buffers.values():
            buf[:] = -1.0  # the caller reuses its buffer
    st.close()
    old_writer(tmp_path / "ref.h5", offsets, data, ranges)
    assert datasets_bytes(path) == datasets_bytes(tmp_path / "ref.h5")


def test_reads_through_the_store_see_every_row_written(tmp_path):
    """Held-back rows are written before the same object answers a read (n_done, complete, store[site], view)."""
    offsets, data = layout()
    ranges = ragged_ranges(offsets, min_rows=14)
    st = create(tmp_path / "s.h5", offsets)
    for a, b in ranges[:3]:
        st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
        assert st._writer.pending is not None
        assert st.n_done == b and st._writer.pending is None
    b = ranges[2][1]
    a, c = ranges[3]
    st.write_rows(a, c, {s: x[offsets[a]: offsets[c]] for s, x in data.items()})
    np.testing.assert_array_equal(st["b"][: offsets[c]], data["b"][: offsets[c]].astype(np.float32))
    st.flush()
    assert st._writer.pending is None and st._f["sentences/done"][0] == c
    st.close()


def test_a_failed_write_marks_nothing_and_the_store_stays_usable(tmp_path, monkeypatch):
    offsets, data = layout()
    ranges = ragged_ranges(offsets, min_rows=14)
    path = tmp_path / "s.h5"
    st = create(path, offsets)
    (a, b), (c, d) = ranges[0], ranges[1]
    st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
    held = st._writer.pending[0]
    from neuronlab.store import rowwriter

    def disk_full(*args, **kw):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(rowwriter.ChunkWriter, "_whole", staticmethod(disk_full))
        with pytest.raises(OSError, match="disk full"):
            st.write_rows(c, d, {s: x[offsets[c]: offsets[d]] for s, x in data.items()})
    assert st._writer.pending is None and st.n_done == held  # the held tail is lost, never marked
    st.close()
    with ActivationStore.open(path, allow_incomplete=True, mode="r+") as st:  # a resume rewrites from there
        for a, b in ranges:
            if b > held:
                st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
    old_writer(tmp_path / "ref.h5", offsets, data, ranges)
    assert datasets_bytes(path) == datasets_bytes(tmp_path / "ref.h5")


# ---------------------------------------------------------------------- kills
KILLER = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from neuronlab.store import schema
    schema.CHUNK_BYTES = {chunk}
    import test_store_writer_speed_paths as t
    offsets, data = t.layout()
    ranges = t.ragged_ranges(offsets, min_rows={min_rows})
    st = t.create({path!r}, offsets)
    for a, b in ranges[:{k}]:
        st.write_rows(a, b, {{s: x[offsets[a]: offsets[b]] for s, x in data.items()}})
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("min_rows", [0, 14])
def test_a_kill_between_writes_never_marks_unwritten_rows_and_resumes_to_the_same_store(tmp_path, k, min_rows):
    path = tmp_path / "killed.h5"
    code = KILLER.format(tests=str(Path(__file__).parent), chunk=CHUNK_BYTES, min_rows=min_rows, path=str(path),
                         k=k)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == -signal.SIGKILL, p.stderr
    offsets, data = layout()
    ranges = ragged_ranges(offsets, min_rows=min_rows)
    given = int(offsets[ranges[k - 1][1]])  # rows handed to write_rows before the kill
    with ActivationStore.open(path, allow_incomplete=True) as st:
        n = st.n_valid_rows
        assert n <= given and st._f["sentences/written"][st.n_done:].sum() == 0
        for s, x in data.items():
            rows = st[s][:]
            np.testing.assert_array_equal(rows[:n], x[:n].astype(np.float32))  # marked rows: final values
            rest = rows[n:]  # unmarked rows: the values handed over, or NaN (never anything else)
            ok = np.isnan(rest) | (rest == x[n:].astype(np.float32))
            assert ok.all() and np.isnan(rest[given - n:]).all()
    with ActivationStore.open(path, allow_incomplete=True, mode="r+") as st:  # resume as the extractor does
        done = st.n_done
        for a, b in ranges:
            if b > done:
                st.write_rows(a, b, {s: x[offsets[a]: offsets[b]] for s, x in data.items()})
    old_writer(tmp_path / "ref.h5", offsets, data, ranges)
    assert datasets_bytes(path) == datasets_bytes(tmp_path / "ref.h5")


# ---------------------------------------------------------------------- the extractor on small chunks
@pytest.mark.parametrize("staged", [False, True], ids=["host path", "device path (ring buffers reused)"])
def test_extraction_in_small_chunks_equals_one_chunk_and_resumes(minilm, tmp_path, monkeypatch, staged):
    """The extractor's writes held back and joined (chunks of 16 rows, write chunks of ~100): the same bytes as a
    store of one chunk per site (written as before, every write partial); an interrupted run resumes to them. On
    the device path the rows come from the 3 ring buffers that later chunks reuse: a held tail must be a copy."""
    pytest.importorskip("torch")
    from neuronlab.corpus import load_embedded_corpus
    from neuronlab.extraction import ExtractionConfig, Extractor

    corpus = load_embedded_corpus().subset(range(60))
    cfg = ExtractionConfig(sites="embeddings,layers.1", batch_size=8, memory_mb=1)
    monkeypatch.setattr(schema, "CHUNK_BYTES", 1 << 30)  # one chunk per site: the reference
    Extractor(minilm, cfg, progress=False).extract(corpus, tmp_path / "one.h5").close()
    monkeypatch.setattr(schema, "CHUNK_BYTES", 16 * 384 * 2)
    ex = Extractor(minilm, cfg, progress=False, staged=staged)
    assert len(ex.plan_chunks(corpus)) > 4
    ex.extract(corpus, tmp_path / "small.h5").close()
    with h5py.File(tmp_path / "small.h5") as f:
        assert f["sites/embeddings"].chunks == (16, 384)
    ref = datasets_bytes(tmp_path / "one.h5")
    assert datasets_bytes(tmp_path / "small.h5") == ref
    part = tmp_path / "part.h5"
    Extractor(minilm, cfg, progress=False, staged=staged).extract(corpus, part, stop_after_chunks=3).close()
    with ActivationStore.open(part, allow_incomplete=True) as st:
        assert 0 < st.n_done < 60
    Extractor(minilm, cfg, progress=False, staged=staged).extract(corpus, part, resume=True).close()
    assert datasets_bytes(part) == ref
