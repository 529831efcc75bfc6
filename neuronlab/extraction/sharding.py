"""Sharded extraction: shard ``i`` of ``N`` extracts a contiguous run of the single run's write chunks.

A shard is cut at write-chunk boundaries of the plan of the WHOLE corpus (:func:`shard_chunks`), so
each of its chunks, and with them its batches, are exactly those a single run makes: on the same
device with the same settings the shard's rows are the single run's rows, byte for byte, and
:func:`neuronlab.store.merge.merge_stores` joins the shard stores into the single run's store.

The shard store is an ordinary store of the shard's sentences; its config records ``shard``
(``"i/N"``), ``shard_sentences`` (``[start, stop)`` in the whole corpus) and ``corpus_sentences``.
"""
from __future__ import annotations

from ..errors import InvalidParameterError
from ..store.merge import SHARD_KEYS

__all__ = ["parse_shard", "shard_chunks", "SHARD_KEYS"]


def parse_shard(spec) -> tuple[int, int] | None:
    """``"i/N"`` (or a pair) -> ``(i, N)`` with ``0 <= i < N``; None stays None.

    >>> parse_shard("2/4"), parse_shard(None)
    ((2, 4), None)

    Raises
    ------
    InvalidParameterError
        Anything else, naming the form expected.
    """
    if spec is None:
        return None
    try:
        i, n = (spec.split("/") if isinstance(spec, str) else spec)
        i, n = int(i), int(n)
    except (ValueError, TypeError):
        raise InvalidParameterError(f"shard must look like I/N (shard I of N, counted from 0), e.g. 0/4; "
                                    f"got {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise InvalidParameterError(f"shard {i}/{n}: I must satisfy 0 <= I < N (shards count from 0), "
                                    f"e.g. 0/{max(n, 1)}")
    return i, n


def shard_chunks(chunks: list[tuple[int, int]], index: int, count: int) -> list[tuple[int, int]]:
    """The write chunks of shard ``index`` of ``count``: a contiguous, near-equal share of ``chunks``.

    >>> chunks = [(0, 3), (3, 5), (5, 9), (9, 10), (10, 12)]
    >>> shard_chunks(chunks, 0, 2), shard_chunks(chunks, 1, 2)
    ([(0, 3), (3, 5)], [(5, 9), (9, 10), (10, 12)])

    Raises
    ------
    InvalidParameterError
        If there are fewer chunks than shards (a shard would be empty).
    """
    if len(chunks) < count:
        raise InvalidParameterError(
            f"the corpus makes only {len(chunks)} write chunk(s), fewer than the {count} shards asked for: use at most "
            f"{len(chunks)} shards, or a smaller --memory-mb (smaller chunks)")
    lo, hi = index * len(chunks) // count, (index + 1) * len(chunks) // count
    return chunks[lo:hi]
