"""Structural checks run when a store is opened: a damaged store is named as damaged, in one line.

:func:`check_structure` reads metadata only (attributes, dataset shapes, the sentence offsets and the
per-sentence written markers, a few bytes per sentence), never the activations, so opening stays fast
on stores of any size. Every failure raises :class:`~neuronlab.errors.DamagedStoreError` naming the
dataset or attribute at fault; nothing escapes as ``KeyError``, ``IndexError`` or ``JSONDecodeError``.

Results (``/results/<name>``) are checked one at a time by :func:`result_problem`, so that one damaged
result does not make the activations unreadable: readers report it as damaged, by name.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DamagedStoreError
from . import schema

__all__ = ["check_structure", "result_problem", "label_problem", "written_prefix", "HIDDEN_PREFIX"]

#: groups whose name starts with this are work in progress of an atomic write, never results or labels
HIDDEN_PREFIX = "."


def _damaged(path: Path, what: str) -> DamagedStoreError:
    return DamagedStoreError(
        f"{str(path)!r} is a damaged neuronlab store: {what}. It cannot be repaired in place: "
        "extract (or import) it again")


def json_attr(obj, key: str, path: Path, where: str, kind: type):
    """Attribute ``key`` of ``obj`` parsed as JSON of type ``kind``; DamagedStoreError otherwise."""
    if key not in obj.attrs:
        raise _damaged(path, f"the attribute {key!r} of {where} is missing")
    raw = obj.attrs[key]
    try:
        value = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (TypeError, ValueError, UnicodeDecodeError):
        raise _damaged(path, f"the attribute {key!r} of {where} is not valid JSON") from None
    if not isinstance(value, kind):
        raise _damaged(path, f"the attribute {key!r} of {where} is not a JSON {kind.__name__}")
    return value


def _dataset(f, name: str, path: Path, ndim: int, kinds: str):
    import h5py

    obj = f.get(name)
    if obj is None:
        raise _damaged(path, f"/{name} is missing")
    if not isinstance(obj, h5py.Dataset) or len(obj.shape) != ndim or obj.dtype.kind not in kinds:
        raise _damaged(path, f"/{name} is not a {ndim}-D dataset of the documented type")
    return obj


def written_prefix(written: np.ndarray) -> int:
    """Number of leading sentences marked written."""
    unwritten = np.flatnonzero(written == 0)
    return int(unwritten[0]) if unwritten.size else int(written.size)


def check_structure(f, path: Path) -> None:
    """Raise DamagedStoreError unless ``f`` (an open h5py.File of a neuronlab store) is consistent.

    Checked: the attributes (model, config and sites parse as JSON; granularity and dtype known), every
    required dataset present with the documented rank, the offsets (start at 0, non-decreasing, end at
    the row count), the ``done`` counter (within 0..n_sentences and not beyond the written markers),
    every listed site present with one row per row, and every label's vocabulary and level.
    """
    import h5py

    for group in ("sites", "labels", "results"):
        if not isinstance(f.get(group), h5py.Group):
            raise _damaged(path, f"the group /{group} is missing")
    json_attr(f, "model", path, "the file", dict)
    json_attr(f, "config", path, "the file", dict)
    sites = json_attr(f, "sites", path, "the file", list)
    if f.attrs.get("granularity") not in schema.GRANULARITIES:
        raise _damaged(path, f"the attribute 'granularity' is {f.attrs.get('granularity')!r}, "
                             f"not one of {', '.join(schema.GRANULARITIES)}")
    if f.attrs.get("dtype") not in schema.DTYPES:
        raise _damaged(path, f"the attribute 'dtype' is {f.attrs.get('dtype')!r}, not one of {', '.join(schema.DTYPES)}")
    text = _dataset(f, "sentences/text", path, 1, "OSU")
    offsets_ds = _dataset(f, "sentences/offsets", path, 1, "iu")
    done_ds = _dataset(f, "sentences/done", path, 1, "iu")
    tokens = _dataset(f, "rows/tokens", path, 1, "OSU")
    n_sent, n_rows = text.shape[0], tokens.shape[0]
    if offsets_ds.shape[0] != n_sent + 1:
        raise _damaged(path, f"/sentences/offsets has {offsets_ds.shape[0]} entries for {n_sent} sentences "
                             f"(expected {n_sent + 1})")
    offsets = offsets_ds[()]
    if offsets[0] != 0 or offsets[-1] != n_rows or (offsets.size > 1 and np.diff(offsets).min() < 0):
        raise _damaged(path, f"/sentences/offsets is not a non-decreasing sequence from 0 to the {n_rows} rows "
                             f"(it runs from {int(offsets[0])} to {int(offsets[-1])})")
    if done_ds.shape != (1,):
        raise _damaged(path, "/sentences/done must hold one number")
    done = int(done_ds[0])
    if not 0 <= done <= n_sent:
        raise _damaged(path, f"/sentences/done says {done} sentences are written, the store has {n_sent}")
    if "sentences/written" in f:
        written = _dataset(f, "sentences/written", path, 1, "iub")
        if written.shape[0] != n_sent:
            raise _damaged(path, f"/sentences/written has {written.shape[0]} entries for {n_sent} sentences")
        prefix = written_prefix(written[()])
        if done > prefix:
            raise _damaged(path, f"/sentences/done says {done} sentences are written but the rows of sentence "
                                 f"{prefix} were never written")
    if "rows/word" in f and _dataset(f, "rows/word", path, 1, "iu").shape[0] != n_rows:
        raise _damaged(path, f"/rows/word has {f['rows/word'].shape[0]} entries for {n_rows} rows")
    if not sites or not all(isinstance(s, str) for s in sites):
        raise _damaged(path, "the attribute 'sites' lists no site names")
    for site in sites:
        ds = f["sites"].get(site)
        if not isinstance(ds, h5py.Dataset):
            raise _damaged(path, f"/sites/{site} is missing (the store lists it among its sites)")
        if len(ds.shape) != 2 or ds.shape[0] != n_rows or ds.dtype.kind != "f":
            raise _damaged(path, f"/sites/{site} has shape {ds.shape} and type {ds.dtype}; expected "
                                 f"({n_rows}, n_neurons) floats")
    for name, ds in f["labels"].items():
        if name.startswith(HIDDEN_PREFIX):
            continue
        problem = label_problem(ds, n_rows, n_sent)
        if problem:
            raise _damaged(path, f"the label /labels/{name} {problem}")


def label_problem(ds, n_rows: int, n_sentences: int) -> str | None:
    """What is wrong with a label dataset (metadata only), or None."""
    import h5py

    if not isinstance(ds, h5py.Dataset) or len(ds.shape) != 1 or ds.dtype.kind not in "iu":
        return "is not a 1-D integer dataset"
    level = ds.attrs.get("level")
    level = level.decode("utf-8", "replace") if isinstance(level, bytes) else level
    expected = {"row": n_rows, "sentence": n_sentences}
    if level not in expected:
        return f"has level {level!r}, not 'row' or 'sentence'"
    if ds.shape[0] != expected[level]:
        return f"has {ds.shape[0]} values for {expected[level]} {level}s"
    raw = ds.attrs.get("vocabulary")
    try:
        vocab = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (TypeError, ValueError, UnicodeDecodeError):
        return "has no readable vocabulary (its 'vocabulary' attribute is missing or not JSON)"
    if not isinstance(vocab, list):
        return "has a vocabulary that is not a list"
    return None


def result_problem(g) -> str | None:
    """What is wrong with a result group, or None if it is whole.

    A result written by this version carries ``n_arrays`` (set last, before it is moved into place); a
    group with fewer datasets, a missing or unparsable ``config`` or ``kind``, or a dataset that cannot be
    described is damaged.
    """
    import h5py

    if not isinstance(g, h5py.Group):
        return "is not a group"
    try:
        if "kind" not in g.attrs:
            return "has no 'kind' attribute"
        raw = g.attrs.get("config")
        try:
            json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (TypeError, ValueError, UnicodeDecodeError):
            return "has no readable 'config' attribute"
        names = list(g.keys())
        for key in names:
            obj = g.get(key)
            if not isinstance(obj, h5py.Dataset):
                return f"holds {key!r}, which is not a dataset"
            obj.shape, obj.dtype  # noqa: B018 - raises on a damaged object header
        expected = g.attrs.get("n_arrays")
        if expected is not None and int(expected) != len(names):
            return f"holds {len(names)} of its {int(expected)} arrays"
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        return f"cannot be read ({exc})"
    return None
