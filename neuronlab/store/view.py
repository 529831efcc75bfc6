"""Lazy, row-sliceable views over the sites of an activation store."""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..sites import neuron_id

__all__ = ["SiteArray", "StoreView"]

#: rows read per HDF5 request when streaming
DEFAULT_CHUNK_ROWS = 8192


class SiteArray:
    """One site's activations, ``(n_rows, n_neurons)``; indexing reads from disk on demand.

    Behaves like an h5py dataset (``shape``, ``dtype``, ``[rows]``, ``[rows, cols]``) and converts
    with ``np.asarray``. ``neuron_ids`` gives the global ids ``site:index`` of its columns.
    """

    def __init__(self, dataset, site: str):
        self._ds = dataset
        self.site = site

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self._ds.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._ds.dtype

    @property
    def neuron_ids(self) -> list[str]:
        return [neuron_id(self.site, i) for i in range(self.shape[1])]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        return _read(self._ds, key)

    def __array__(self, dtype=None, copy=None):
        arr = self._ds[()]
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"<SiteArray {self.site} shape={self.shape} dtype={self.dtype}>"


def _read(ds, key):
    """h5py read that also accepts unsorted / repeated integer row indices and boolean masks."""
    if isinstance(key, tuple):
        rows, cols = key[0], (key[1] if len(key) > 1 else None)
    else:
        rows, cols = key, None
    if isinstance(rows, (slice, int, np.integer)):
        out = ds[rows]
    else:
        idx = np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64)
        if idx.size == 0:
            out = np.empty((0, ds.shape[1]), dtype=ds.dtype)
        else:
            lo, hi = int(idx.min()), int(idx.max()) + 1
            if hi - lo <= 4 * idx.size:  # dense enough: one contiguous read, then select in memory
                out = ds[lo:hi][idx - lo]
            else:
                uniq, inv = np.unique(idx, return_inverse=True)
                out = ds[uniq][inv]
    return out if cols is None else out[..., cols]


class StoreView:
    """Several sites side by side (columns concatenated in model order) over a subset of rows.

    Nothing is read until :meth:`to_numpy`, ``np.asarray(view)``, indexing or :meth:`iter_chunks`.

    Parameters
    ----------
    arrays : sequence of SiteArray
    rows : slice, array of int or bool mask, optional
    n_rows : int
        Total rows of the store.
    """

    def __init__(self, arrays: Sequence[SiteArray], rows=None, *, n_rows: int):
        if not arrays:
            raise InvalidParameterError("a view needs at least one site")
        self.arrays = list(arrays)
        if rows is None:
            self.rows = np.arange(n_rows, dtype=np.int64)
        elif isinstance(rows, slice):
            self.rows = np.arange(n_rows, dtype=np.int64)[rows]
        else:
            r = np.asarray(rows)
            if r.dtype == bool:
                if r.shape != (n_rows,):
                    raise InvalidParameterError(f"boolean row mask has length {r.shape[0]}, the store has {n_rows} rows")
                r = np.flatnonzero(r)
            r = r.astype(np.int64)
            if r.size and (r.min() < 0 or r.max() >= n_rows):
                raise InvalidParameterError(f"row indices must lie in 0..{n_rows - 1}")
            self.rows = r
        self._contiguous = self.rows.size > 0 and bool(np.all(np.diff(self.rows) == 1))

    @property
    def sites(self) -> list[str]:
        return [a.site for a in self.arrays]

    @property
    def widths(self) -> list[int]:
        return [a.shape[1] for a in self.arrays]

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.rows.size), int(sum(self.widths)))

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*[a.dtype for a in self.arrays])

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    @property
    def neuron_ids(self) -> list[str]:
        out: list[str] = []
        for a in self.arrays:
            out.extend(a.neuron_ids)
        return out

    def __len__(self) -> int:
        return self.shape[0]

    def _read_positions(self, pos: np.ndarray, dtype=None) -> np.ndarray:
        rows = self.rows[pos]
        dtype = np.dtype(dtype) if dtype is not None else self.dtype
        out = np.empty((rows.size, self.shape[1]), dtype=dtype)
        c = 0
        contiguous = rows.size > 0 and bool(np.all(np.diff(rows) == 1))
        for a in self.arrays:
            w = a.shape[1]
            block = a._ds[int(rows[0]): int(rows[-1]) + 1] if contiguous else _read(a._ds, rows)
            out[:, c: c + w] = block
            c += w
        return out

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):
            rows, cols = key
            return self[rows][:, cols]
        pos = np.arange(self.shape[0])[key]
        return self._read_positions(np.atleast_1d(pos))

    def to_numpy(self, dtype=np.float32) -> np.ndarray:
        """Read the whole view into memory, converting chunk by chunk (no float16 + float32 double copy)."""
        out = np.empty(self.shape, dtype=dtype)
        for start, stop, block in self.iter_chunks(dtype=dtype):
            out[start:stop] = block
        return out

    def __array__(self, dtype=None, copy=None):
        return self.to_numpy(dtype=dtype or self.dtype)

    def iter_chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS, dtype=None) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(start, stop, block)`` over the view's rows; ``block`` is ``view[start:stop]``."""
        if chunk_rows < 1:
            raise InvalidParameterError(f"chunk_rows must be >= 1, got {chunk_rows}")
        n = self.shape[0]
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            yield start, stop, self._read_positions(np.arange(start, stop), dtype=dtype)

    def __repr__(self) -> str:
        return f"<StoreView sites={self.sites} shape={self.shape}>"
