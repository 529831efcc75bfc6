"""Row writes of an activation store in whole HDF5 chunks (the write path of :meth:`ActivationStore.write_rows`).

Every site of a store is a dataset of ``n_rows x n_neurons`` stored in chunks of about 1 MiB of whole rows
(:func:`~neuronlab.store.schema.chunk_rows`). The extractor writes sentence ranges whose row counts do not end
on chunk boundaries. Written as they come (``ds[r0:r1] = rows``, the writer before issue 13), every write
pays for the partial chunks at both of its ends: HDF5 fills a new chunk with NaN in its chunk cache, the
flush that must precede the ``written`` markers pushes the half-filled chunk to the file, and the next write
reads it back, completes it and writes it again; each full chunk is also copied through the chunk cache.

:class:`ChunkWriter` writes rows chunk by chunk instead:

- **full chunks** go to the file with HDF5's direct chunk write (``H5Dwrite_chunk``): one write of the
  caller's bytes, no chunk cache, no fill (datasets without filters; with compression they are written
  through the cache, still whole);
- **the tail** of a write, the rows past its last chunk boundary, is *held back* (copied, less than one
  chunk per site) and written together with the head of the next write when that one continues it, so
  that an extraction's sequential writes become whole-chunk writes. The sentences whose rows are held back
  are not marked written until their rows are flushed: with the next write, :meth:`ChunkWriter.flush`, or
  the store's ``close``. A kill loses only unmarked sentences (which a resume recomputes); it never marks
  unwritten rows written. A write that crosses no chunk boundary, or that ends at the dataset's end, holds
  nothing back;
- **a partial chunk** (the head of a write that continues no held tail, a flushed tail) is written as
  before (HDF5 fills a new chunk with NaN, or reads an allocated one, completes it and writes it); in a
  dataset HDF5 does not fill (fill time NEVER) a new chunk is written whole, padded with NaN, so that rows
  never written read as NaN whatever the dataset's fill settings.

Why not ``fill_time=NEVER`` on the datasets (skipping the NaN fill of new chunks)? With it, never-written
rows are undefined, not the fill value: HDF5 (2.0, checked) reads the unwritten rows of a partly written chunk
as 0 and leaves the reader's buffer untouched for a chunk never written, so unwritten rows of an incomplete
store would look like real activations. The direct chunk writes above never fill anyway, so the datasets
keep their NaN fill value (docs/benchmarks.md, "Store writer (issue 13)").

References
----------
The HDF Group, "Chunking in HDF5" and the ``H5Dwrite_chunk`` / ``H5Pset_fill_time`` reference pages,
https://docs.hdfgroup.org/ (HDF5 User's Guide, Datasets: storage allocation, fill values).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, choices
from .files import h5py_module
from .validate import written_prefix

__all__ = ["ChunkWriter", "mark_written", "to_storage"]


def to_storage(arr, dtype: np.dtype) -> np.ndarray:
    """``arr`` as a C-contiguous array of ``dtype``, converted by HDF5's own conversion when the types differ.

    HDF5 and NumPy round differently near the float16 limit (float64 65519 is ``inf`` for HDF5, 65504 for
    NumPy), so the bytes stay those the writer stored when it handed ``arr`` to ``ds[...] = arr``.

    >>> to_storage(np.array([[65519.0, 1.5]]), np.dtype("float16")).tolist()
    [[inf, 1.5]]
    """
    a = np.asarray(arr)
    if a.dtype == dtype:
        return np.ascontiguousarray(a)
    h5t = h5py_module().h5t
    src = np.ascontiguousarray(a)
    try:
        src_type = h5t.py_create(src.dtype)
    except TypeError:  # a type HDF5 does not know: NumPy converts
        return np.ascontiguousarray(src.astype(dtype))
    buf = np.empty(src.size * max(src.dtype.itemsize, dtype.itemsize), dtype=np.uint8)
    buf[: src.nbytes] = src.reshape(-1).view(np.uint8)
    if src.size:
        h5t.convert(src_type, h5t.py_create(dtype), src.size, buf)
    return buf[: src.size * dtype.itemsize].view(dtype).reshape(src.shape)


def mark_written(f, start: int, stop: int, n_sentences: int) -> None:
    """Mark sentences ``[start, stop)`` in ``/sentences/written`` and advance ``/sentences/done``, then flush.

    ``done`` becomes the first sentence not marked; earlier out-of-order writes may continue the prefix.
    """
    done_ds = f["sentences/done"]
    done = int(done_ds[0])
    if "sentences/written" in f:
        written = f["sentences/written"]
        if stop > start:
            written[start:stop] = 1
        if start <= done < stop:
            done = stop
        while done < n_sentences:
            block = written[done: done + 4096]
            k = written_prefix(block)
            done += k
            if k < block.size:
                break
    elif start <= done:  # stores written before the markers existed
        done = max(done, stop)
    done_ds[0] = done
    f.flush()


@dataclass(frozen=True)
class _Layout:
    """What the writer needs to know of one site's dataset."""

    ds: object
    n_rows: int
    width: int
    dtype: np.dtype
    chunk: int  # rows per chunk; 0: not chunked by whole rows (written as it comes)
    direct: bool  # whole chunks go through H5Dwrite_chunk (chunked by whole rows, no filters)
    fill: object  # the dataset's fill value (NaN): what rows never written read as
    fills: bool  # HDF5 fills a new chunk with it before a partial write (False: fill time NEVER, no fill value)

    def pad(self, rows: int) -> np.ndarray:
        """A block of ``rows`` rows of the fill value."""
        return np.full((rows, self.width), self.fill, dtype=self.dtype)


@dataclass
class _Tail:
    """Rows handed to the writer but not written yet: sentences ``[start, stop)``, per site rows from ``first``."""

    start: int
    stop: int
    rows: dict  # site -> (first row held, ndarray of rows [first, offsets[stop]))


class ChunkWriter:
    """Writes sentence ranges of rows into an open store file in whole HDF5 chunks, then marks them.

    Parameters
    ----------
    f : h5py.File
        The store, open for writing.

    Notes
    -----
    One writer per open store (:meth:`ActivationStore.write_rows` makes it on first use). Its methods hold
    a lock, so a reader thread that settles the held rows (:meth:`flush`) does not race the writing thread.
    """

    def __init__(self, f):
        self._f = f
        self._tail: _Tail | None = None
        self._lock = threading.RLock()
        self._layouts: dict[str, _Layout] = {}
        self._offsets = f["sentences/offsets"]
        self._n_sentences = int(self._offsets.shape[0] - 1)

    # ------------------------------------------------------------------ public
    @property
    def pending(self) -> tuple[int, int] | None:
        """The sentence range whose rows are held back (not written, not marked), or None."""
        tail = self._tail
        return None if tail is None else (tail.start, tail.stop)

    def check(self, start, stop, site_rows: Mapping[str, np.ndarray], sites: list[str]) -> None:
        """InvalidParameterError unless ``[start, stop)`` is a sentence range of the store and ``site_rows``
        holds rows of the right shape for every site in ``sites``, exactly once."""
        if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))
                and 0 <= start <= stop <= self._n_sentences):
            raise InvalidParameterError(f"write_rows: sentence range [{start}, {stop}) is not within "
                                        f"0..{self._n_sentences}")
        missing = sorted(set(sites) - set(site_rows))
        unknown = sorted(set(site_rows) - set(sites))
        if missing or unknown:
            raise InvalidParameterError(f"write_rows needs rows for every site of the store; missing: "
                                        f"{choices(missing) or '(none)'}; unknown: {choices(unknown) or '(none)'}")
        n = int(self._offsets[stop]) - int(self._offsets[start])
        for site, arr in site_rows.items():
            width = self._layout(site).width
            if np.shape(arr) != (n, width):
                raise InvalidParameterError(
                    f"write_rows: site {site} got rows of shape {np.shape(arr)}, expected {(n, width)}")

    def write(self, start: int, stop: int, site_rows: Mapping[str, np.ndarray]) -> None:
        """Write the rows of sentences ``[start, stop)`` (validated by the caller), holding back the tail.

        A held tail of an earlier write is written first: joined with this write's head when this write
        continues it (``start`` is the tail's ``stop``), flushed on its own otherwise.
        """
        with self._lock:
            tail, self._tail = self._tail, None  # a failure below leaves nothing held (its sentences unmarked)
            if tail is not None and tail.stop != start:
                self._commit(tail.start, tail.stop, tail.rows, {}, hold=False)
                tail = None
            r0 = int(self._offsets[start])
            new = {site: (r0, to_storage(arr, self._layout(site).dtype)) for site, arr in site_rows.items()}
            if tail is None:
                self._commit(start, stop, {}, new, hold=True)
            else:
                self._commit(tail.start, stop, tail.rows, new, hold=True)

    def flush(self) -> None:
        """Write the held-back rows and mark their sentences (a no-op when nothing is held)."""
        with self._lock:
            tail, self._tail = self._tail, None
            if tail is not None:
                self._commit(tail.start, tail.stop, tail.rows, {}, hold=False)

    # ------------------------------------------------------------------ internals
    def _layout(self, site: str) -> _Layout:
        lay = self._layouts.get(site)
        if lay is None:
            ds = self._f["sites"][site]
            n_rows, width = (int(x) for x in ds.shape)
            chunks = ds.chunks
            whole_rows = chunks is not None and int(chunks[1]) == width and n_rows > 0
            filters = ds.id.get_create_plist().get_nfilters() if chunks is not None else 0
            fill = ds.fillvalue if ds.fillvalue is not None else np.nan
            lay = _Layout(ds, n_rows, width, np.dtype(ds.dtype), int(chunks[0]) if whole_rows else 0,
                          whole_rows and filters == 0 and hasattr(ds.id, "write_direct_chunk"), fill,
                          _hdf5_fills(ds))
            self._layouts[site] = lay
        return lay

    def _commit(self, s0: int, s1: int, held: dict, new: dict, *, hold: bool) -> None:
        """Write rows of sentences ``[s0, s1)`` (``held`` then ``new`` per site), flush, mark what is whole."""
        offs = self._offsets
        r0, r1 = int(offs[s0]), int(offs[s1])
        ends, rest = {}, {}
        for site in (new or held):
            first, parts = _parts(site, held, new, r0)
            end = self._write_site(self._layout(site), first, parts, r1, hold)
            ends[site] = end
            if end < r1:
                rest[site] = (end, _rows(parts, end, r1).copy())  # the caller's buffer is reused
        self._f.flush()  # data first, then the markers: a kill never marks unwritten rows written
        reached = min(ends.values(), default=r1)
        m1 = s0 + int(np.searchsorted(offs[s0 + 1: s1 + 1], reached, side="right"))
        if m1 > s0:
            mark_written(self._f, s0, m1, self._n_sentences)
        if m1 < s1:
            self._tail = _Tail(m1, s1, rest)

    def _write_site(self, lay: _Layout, first: int, parts: list, r1: int, hold: bool) -> int:
        """Write rows ``[first, r1)`` of one site, in chunks; the row up to which they are written."""
        if first >= r1:
            return r1
        c = lay.chunk
        if not c:  # contiguous or chunked across columns: as it comes
            lay.ds[first:r1] = _rows(parts, first, r1)
            return r1
        end = r1
        if hold and r1 < lay.n_rows:
            boundary = (r1 // c) * c
            if boundary > first:  # hold back only what follows a boundary this write crosses
                end = boundary
        for c0 in range((first // c) * c, end, c):
            c1 = min(c0 + c, lay.n_rows)  # the chunk's rows inside the dataset
            p, q = max(first, c0), min(end, c1)
            rows = _rows(parts, p, q)
            if p == c0 and q == c1:
                self._whole(lay, c0, rows)
            elif lay.fills or _allocated(lay.ds, c0):
                lay.ds[p:q] = rows  # HDF5 reads the chunk (or fills a new one with NaN), completes it, writes it
            else:  # a new chunk HDF5 would not fill: the fill value (NaN) where no row is written yet
                block = lay.pad(c1 - c0)
                block[p - c0: q - c0] = rows
                self._whole(lay, c0, block)
        return end

    @staticmethod
    def _whole(lay: _Layout, c0: int, rows: np.ndarray) -> None:
        """Write a whole chunk (the rows of chunk ``c0`` inside the dataset)."""
        if not lay.direct:
            lay.ds[c0: c0 + rows.shape[0]] = rows
            return
        if rows.shape[0] < lay.chunk:  # the last chunk reaches past the dataset: pad its stored bytes
            block = lay.pad(lay.chunk)
            block[: rows.shape[0]] = rows
            rows = block
        lay.ds.id.write_direct_chunk((c0, 0), np.ascontiguousarray(rows))


def _parts(site: str, held: dict, new: dict, r0: int) -> tuple[int, list]:
    """``(first row, [(row, array), ...])``: a site's held rows and new rows, consecutive from ``first``."""
    parts = []
    if site in held:
        parts.append(held[site])
    if site in new:
        parts.append(new[site])
    first = parts[0][0] if parts else r0
    return first, parts


def _rows(parts: list, p: int, q: int) -> np.ndarray:
    """Rows ``[p, q)`` of consecutive parts: a view inside one part, a concatenation across two."""
    pieces = []
    for row, arr in parts:
        a, b = max(p, row), min(q, row + arr.shape[0])
        if b > a:
            pieces.append(arr[a - row: b - row])
    if len(pieces) == 1:
        return pieces[0]
    if not pieces:
        return parts[-1][1][:0] if parts else np.empty((0, 0))
    return np.concatenate(pieces, axis=0)


def _hdf5_fills(ds) -> bool:
    """Whether HDF5 writes the fill value into a new chunk of ``ds`` before a partial write."""
    h5d = h5py_module().h5d
    dcpl = ds.id.get_create_plist()
    when = dcpl.get_fill_time()
    return when == h5d.FILL_TIME_ALLOC or (when == h5d.FILL_TIME_IFSET
                                           and dcpl.fill_value_defined() != h5d.FILL_VALUE_UNDEFINED)


def _allocated(ds, row: int) -> bool:
    """Whether the chunk holding ``row`` has storage in the file (unknown: True, read-modify-write is safe)."""
    try:
        info = ds.id.get_chunk_info_by_coord((row, 0))
    except (AttributeError, NotImplementedError):
        return True
    return info.byte_offset is not None
