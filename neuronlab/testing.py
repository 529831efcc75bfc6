"""Helpers for testing code that reads activation stores (as Captum ships ``captum.testing``).

:func:`synthetic_store` writes a small store through the public API (:meth:`ActivationStore.create`
and :meth:`ActivationStore.write_rows`), with seeded random or given activations and optional labels;
:func:`datasets_bytes` gives every dataset's bytes, to compare two stores byte for byte.

Examples
--------
>>> import tempfile, pathlib
>>> from neuronlab.store import ActivationStore
>>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.h5"
>>> data = synthetic_store(path, [["a", "b"], ["c"]], sites={"layers.0": 3},
...                        labels={"pos": (["DET", "NOUN", "NOUN"], "row")})
>>> with ActivationStore.open(path) as st:
...     (st.n_rows, st.sites, st.label("pos").vocabulary, bool((st["layers.0"][:] == data["layers.0"]).all()))
(3, ['layers.0'], ['DET', 'NOUN'], True)
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

__all__ = ["synthetic_store", "datasets_bytes", "DEFAULT_SITES"]

#: sites of a default synthetic store (two widths, so that a wrong width shows)
DEFAULT_SITES = {"embeddings": 4, "layers.0": 4, "layers.0.mlp": 6}


def synthetic_store(
    path: str | os.PathLike,
    sentences: Sequence[Sequence[str]],
    *,
    sites: Mapping[str, int] | None = None,
    data: Mapping[str, np.ndarray] | None = None,
    tokens: Sequence[Sequence[str]] | None = None,
    granularity: str = "word",
    dtype: str = "float32",
    seed: int = 0,
    written: Sequence[tuple[int, int]] | int | None = None,
    labels: Mapping[str, tuple[Sequence, str]] | None = None,
    model: Mapping | None = None,
    config: Mapping | None = None,
) -> dict[str, np.ndarray]:
    """Write a small activation store and return its activations ``{site: array (n_rows, width)}``.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file to create (it must not exist).
    sentences : sequence of sequence of str
        The words of every sentence (the sentence texts are the words joined by spaces).
    sites : mapping of site name to width, optional
        Default :data:`DEFAULT_SITES`, or the widths of ``data``.
    data : mapping of site name to array of shape (n_rows, width), optional
        The activations; default standard normal from ``numpy.random.default_rng(seed)``, drawn site by
        site in the order of ``sites``.
    tokens : sequence of sequence of str, optional
        Token granularity: the rows of every sentence (default: one row per word).
    granularity : {"word", "token", "sentence"}
        ``"sentence"`` stores one row per sentence (its text).
    dtype : {"float32", "float16"}
    seed : int
        Seed of the default activations.
    written : int or sequence of (start, stop), optional
        Sentence ranges to write (in this order) with :meth:`ActivationStore.write_rows`; an int ``k``
        writes ``[0, k)``. Default: every sentence in one call (a complete store).
    labels : mapping of name to (values, level), optional
        Concepts to store: ``values`` are class names (None = no value), one per row or per sentence;
        the vocabulary is their sorted set.
    model, config : mapping, optional
        Provenance recorded in the store (default ``{"name": "synthetic"}`` and ``{}``).
    """
    from .store import ActivationStore

    if granularity == "sentence":
        rows = [[" ".join(s)] for s in sentences]
    elif tokens is not None:
        rows = [list(t) for t in tokens]
    else:
        rows = [list(s) for s in sentences]
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    n_rows = int(offsets[-1])
    if sites is None:
        sites = {s: int(np.shape(a)[1]) for s, a in data.items()} if data is not None else dict(DEFAULT_SITES)
    if data is None:
        rng = np.random.default_rng(seed)
        data = {s: rng.normal(size=(n_rows, w)).astype(dtype) for s, w in sites.items()}
    else:
        data = {s: np.asarray(a).astype(dtype) for s, a in data.items()}
    store = ActivationStore.create(
        path, sites=dict(sites), offsets=offsets, texts=[" ".join(s) for s in sentences],
        tokens=[t for r in rows for t in r], granularity=granularity, dtype=dtype,
        model=dict(model or {"name": "synthetic"}), config=dict(config or {}),
    )
    try:
        if written is None:
            written = [(0, len(sentences))]
        elif isinstance(written, (int, np.integer)):
            written = [(0, int(written))]
        for start, stop in written:
            r0, r1 = int(offsets[start]), int(offsets[stop])
            store.write_rows(start, stop, {s: a[r0:r1] for s, a in data.items()})
        for name, (values, level) in (labels or {}).items():
            vocab = sorted({str(v) for v in values if v is not None})
            index = {v: i for i, v in enumerate(vocab)}
            store.write_label(name, [-1 if v is None else index[str(v)] for v in values], vocab, level=level)
    finally:
        store.close()
    return data


def datasets_bytes(path: str | os.PathLike, *, include_hidden: bool = False) -> dict[str, object]:
    """Every dataset of an HDF5 file as bytes (strings as a list), keyed by path; attributes excluded.

    Members whose name starts with ``.`` (leftovers of interrupted atomic writes, which readers ignore)
    are skipped unless ``include_hidden``.

    Two stores with equal ``datasets_bytes`` hold the same activations, offsets, tokens, labels and
    results, byte for byte (creation times and other attributes may differ).
    """
    import h5py

    out: dict[str, object] = {}

    def walk(group, prefix: str) -> None:
        for key in group:
            if key.startswith(".") and not include_hidden:
                continue
            obj = group[key]
            name = prefix + key
            if isinstance(obj, h5py.Group):
                walk(obj, name + "/")
            else:
                arr = obj[()]
                out[name] = arr.tobytes() if isinstance(arr, np.ndarray) and arr.dtype != object else repr(
                    arr.tolist() if isinstance(arr, np.ndarray) else arr)

    with h5py.File(path, "r") as f:
        walk(f, "")
    return out
