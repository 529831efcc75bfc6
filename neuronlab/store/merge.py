"""Merging the stores of a sharded extraction into the store a single run would have written.

``neuronlab extract --shard I/N`` writes one store per shard, each holding a contiguous run of the
corpus's sentences cut at the single run's write-chunk boundaries (:mod:`neuronlab.extraction.sharding`).
:func:`merge_stores` checks that the shards belong together (same model weights, same settings, shards
0..N-1 each once, complete, sentence ranges that tile the corpus) and writes one store whose datasets
(activations, offsets, texts, tokens, written markers, labels) are those of the single run, byte for
byte when the shards ran on the same kind of device with the same settings, and whose config equals
the single run's config. Labels are re-encoded: a shard's vocabulary holds the classes present in its
sentences; the merged vocabulary is their sorted union, as a single run computes it.

The rows are copied shard by shard in blocks of at most ``block_mb`` megabytes, so memory stays flat
in the corpus size. Results of analyses run on a shard are not carried over (run them on the merged
store).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidParameterError, StoreError
from .store import ActivationStore

__all__ = ["merge_stores", "SHARD_KEYS"]

#: config keys of a shard store that the merged store drops (``n_sentences`` becomes the corpus's)
SHARD_KEYS = ("shard", "shard_sentences", "corpus_sentences")
#: config keys that may differ between shards (they describe the run, not what it computed)
_FREE_KEYS = SHARD_KEYS + ("n_sentences",)


def _open_shards(paths: Sequence[str | os.PathLike]) -> list[ActivationStore]:
    from ..errors import IncompleteStoreError

    stores: list[ActivationStore] = []
    try:
        for p in paths:
            try:
                stores.append(ActivationStore.open(p))
            except IncompleteStoreError:
                raise StoreError(f"shard {str(p)!r} is incomplete: finish it first (run the same extract command "
                                 "with --resume)") from None
    except BaseException:
        for st in stores:
            st.close()
        raise
    return stores


def _check_shards(stores: list[ActivationStore]) -> list[ActivationStore]:
    """The shards in shard order, after checking that they are the N shards of one run."""
    if not stores:
        raise InvalidParameterError("merge needs the shard stores (at least one)")
    for st in stores:
        if "shard" not in st.config:
            raise StoreError(f"{str(st.path)!r} is not a shard store (it was not written with extract --shard I/N)")
    counts = {int(st.config["shard"].split("/")[1]) for st in stores}
    if len(counts) != 1:
        raise StoreError(f"the stores are shards of runs cut into different numbers of shards: {sorted(counts)}")
    n = counts.pop()
    by_index: dict[int, ActivationStore] = {}
    for st in stores:
        i = int(st.config["shard"].split("/")[0])
        if i in by_index:
            raise StoreError(f"shard {i}/{n} is given twice: {str(by_index[i].path)!r} and {str(st.path)!r}")
        by_index[i] = st
    missing = [f"{i}/{n}" for i in range(n) if i not in by_index]
    if missing:
        raise StoreError(f"shard(s) {', '.join(missing)} missing: give all {n} shard stores")
    ordered = [by_index[i] for i in range(n)]
    first = ordered[0]
    ref_cfg = {k: v for k, v in first.config.items() if k not in _FREE_KEYS}
    total = int(first.config["corpus_sentences"])
    expect = 0
    for st in ordered:
        cfg = {k: v for k, v in st.config.items() if k not in _FREE_KEYS}
        diff = sorted(k for k in set(cfg) | set(ref_cfg) if cfg.get(k) != ref_cfg.get(k))
        if diff:
            raise StoreError(f"{str(st.path)!r} was extracted with other settings than {str(first.path)!r}: "
                             f"{', '.join(diff)} differ")
        if st.model.get("weights_sha256") != first.model.get("weights_sha256"):
            raise StoreError(f"{str(st.path)!r} was extracted from other model weights than {str(first.path)!r}")
        if int(st.config["corpus_sentences"]) != total:
            raise StoreError(f"{str(st.path)!r} is a shard of a corpus of {st.config['corpus_sentences']} sentences, "
                             f"{str(first.path)!r} of {total}")
        s0, s1 = st.config["shard_sentences"]
        if s0 != expect or s1 - s0 != st.n_sentences:
            raise StoreError(f"{str(st.path)!r} holds sentences {s0}:{s1}, expected them to start at {expect}")
        expect = s1
        if st.sites != first.sites or any(st[s].shape[1] != first[s].shape[1] for s in first.sites):
            raise StoreError(f"{str(st.path)!r} has other sites than {str(first.path)!r}")
        if set(st.label_names()) != set(first.label_names()):
            raise StoreError(f"{str(st.path)!r} has other concepts than {str(first.path)!r}")
    if expect != total:
        raise StoreError(f"the shards cover sentences 0:{expect} of {total}")
    return ordered


def merge_stores(shards: Sequence[str | os.PathLike], out: str | os.PathLike, *, overwrite: bool = False,
                 block_mb: int = 64) -> ActivationStore:
    """Join the shard stores of one sharded extraction into one store (returned open for reading and writing).

    Parameters
    ----------
    shards : sequence of path-like
        The N shard stores, in any order.
    out : path-like
        The merged store (never one of the shards).
    overwrite : bool
        Replace ``out`` if it exists.
    block_mb : int
        Rows are copied in blocks of at most this many megabytes.

    Raises
    ------
    StoreError
        If a shard is incomplete, missing, given twice, not a shard store, or was extracted with other
        settings or weights than the others (the message names it and what differs).

    Examples
    --------
    >>> merged = merge_stores(["part0.h5", "part1.h5"], "all.h5")  # doctest: +SKIP
    """
    out = Path(out)
    if any(Path(p).resolve() == out.resolve() for p in shards):
        raise InvalidParameterError(f"the merged store {str(out)!r} must not be one of the shards")
    stores = _open_shards(shards)
    try:
        ordered = _check_shards(stores)
        return _write_merged(ordered, out, overwrite=overwrite, block_mb=block_mb)
    finally:
        for st in stores:
            st.close()


def _write_merged(ordered: list[ActivationStore], out: Path, *, overwrite: bool, block_mb: int) -> ActivationStore:
    first = ordered[0]
    offsets = [np.zeros(1, dtype=np.int64)]
    row0 = 0
    texts: list[str] = []
    tokens: list[str] = []
    row_words = [] if first.row_words() is not None else None
    for st in ordered:
        offsets.append(st.offsets[1:] + row0)
        row0 += st.n_rows
        texts += st.texts()
        tokens += st.tokens()
        if row_words is not None:
            row_words.append(st.row_words())
    config = {k: v for k, v in first.config.items() if k not in SHARD_KEYS}
    config["n_sentences"] = int(first.config["corpus_sentences"])
    widths = {s: int(first[s].shape[1]) for s in first.sites}
    merged = ActivationStore.create(
        out, sites=widths, offsets=np.concatenate(offsets), texts=texts, tokens=tokens,
        granularity=first.granularity, dtype=first.dtype, model=first.model, config=config,
        row_words=np.concatenate(row_words) if row_words is not None else None, overwrite=overwrite)
    try:
        _copy_rows(ordered, merged, widths, block_mb)
        _merge_labels(ordered, merged)
    except BaseException:
        merged.close()
        raise
    return merged


def _copy_rows(ordered: list[ActivationStore], merged: ActivationStore, widths: dict, block_mb: int) -> None:
    row_bytes = sum(widths.values()) * np.dtype(merged.dtype).itemsize
    max_rows = max(1, (block_mb << 20) // max(1, row_bytes))
    s_base = 0
    for st in ordered:
        offs = st.offsets
        a = 0
        while a < st.n_sentences:  # blocks of whole sentences within the row budget (at least one sentence)
            b = int(np.searchsorted(offs, offs[a] + max_rows, side="right")) - 1
            b = min(max(b, a + 1), st.n_sentences)
            r0, r1 = int(offs[a]), int(offs[b])
            rows = {s: st._f["sites"][s][r0:r1] for s in widths}
            merged.write_rows(s_base + a, s_base + b, rows)
            a = b
        s_base += st.n_sentences


def _merge_labels(ordered: list[ActivationStore], merged: ActivationStore) -> None:
    """Each concept re-encoded over the sorted union of the shards' vocabularies (as a single run encodes it)."""
    for name in ordered[0].label_names():
        labels = [st.label(name) for st in ordered]
        levels = {lab.level for lab in labels}
        if len(levels) != 1:
            raise StoreError(f"concept {name!r} is stored per {' and per '.join(sorted(levels))} in different shards")
        vocab = sorted(set().union(*(lab.vocabulary for lab in labels)))
        index = {v: i for i, v in enumerate(vocab)}
        parts = []
        for lab in labels:
            remap = np.array([index[v] for v in lab.vocabulary] + [-1], dtype=np.int32)  # -1 -> last entry
            parts.append(remap[np.where(lab.values < 0, len(lab.vocabulary), lab.values)])
        merged.write_label(name, np.concatenate(parts), vocab, level=levels.pop())
