"""Bit-packed row masks: a set of rows as ``uint64`` words, so that set sizes are popcounts.

A mask over ``n_rows`` rows is stored as ``ceil(n_rows / 64)`` little-endian ``uint64`` words (bit ``r % 64``
of word ``r // 64`` is row ``r``; the padding bits of the last word are always 0). Intersections and unions
are ``&`` and ``|``, the complement against a set is ``a & ~b``, and ``|a|`` is :func:`popcount`, so the IoU
of two masks over 65k rows is a few operations over 1,024 words instead of 65k booleans.

Examples
--------
>>> import numpy as np
>>> a = pack(np.array([1, 1, 0, 1, 0], dtype=bool))
>>> b = pack(np.array([0, 1, 1, 1, 0], dtype=bool))
>>> int(popcount(a & b)), int(popcount(a | b)), unpack(a & ~b, 5).tolist()
(2, 4, [True, False, False, False, False])
"""
from __future__ import annotations

import numpy as np

__all__ = ["pack", "unpack", "popcount", "n_words"]


def n_words(n_rows: int) -> int:
    """Number of ``uint64`` words of a mask over ``n_rows`` rows."""
    return (int(n_rows) + 63) // 64


def pack(mask: np.ndarray) -> np.ndarray:
    """Pack a boolean mask along its last axis.

    Parameters
    ----------
    mask : bool array-like of shape (..., n_rows)

    Returns
    -------
    ndarray of uint64 of shape (..., ceil(n_rows / 64))
    """
    mask = np.asarray(mask, dtype=bool)
    n_rows = mask.shape[-1]
    packed = np.packbits(mask, axis=-1, bitorder="little")
    pad = 8 * n_words(n_rows) - packed.shape[-1]
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), dtype=np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack(packed: np.ndarray, n_rows: int) -> np.ndarray:
    """Inverse of :func:`pack`: bool array of shape (..., n_rows)."""
    as_bytes = np.ascontiguousarray(packed, dtype="<u8").view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, count=int(n_rows), bitorder="little").astype(bool)


if hasattr(np, "bitwise_count"):
    def popcount(packed: np.ndarray, axis: int = -1) -> np.ndarray:
        """Number of set bits along ``axis`` (int64): the size of each packed set."""
        return np.bitwise_count(packed).sum(axis=axis, dtype=np.int64)
else:  # pragma: no cover - numpy < 2.0
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def popcount(packed: np.ndarray, axis: int = -1) -> np.ndarray:
        """Number of set bits along ``axis`` (int64): the size of each packed set."""
        packed = np.ascontiguousarray(packed)
        counts = _BYTE_COUNTS[packed.view(np.uint8)].reshape(packed.shape + (8,)).sum(axis=-1, dtype=np.int64)
        return counts.sum(axis=axis, dtype=np.int64)
