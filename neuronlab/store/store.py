"""The activation store: one HDF5 file per extraction run, read lazily like a mapping of sites.

The layout is in :mod:`neuronlab.store.schema` and docs/store.md. Importing this module does not
import torch.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .. import __version__
from ..errors import IncompleteStoreError, InvalidParameterError, StoreError, choices
from ..sites import expand_sites, neuron_id
from . import schema
from .view import SiteArray, StoreView

__all__ = ["ActivationStore", "Label"]


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a hard dependency
        raise ImportError("neuronlab's activation store needs h5py: pip install h5py") from exc
    return h5py


@dataclass(frozen=True)
class Label:
    """A concept annotation stored with the activations.

    Attributes
    ----------
    name : str
        Concept name (``upos``, ``Tense``, ``polarity``, ...).
    values : ndarray of int32
        Class index per row (``level == "row"``) or per sentence (``level == "sentence"``); -1 = no value.
    vocabulary : list of str
        Class names; ``values == i`` means ``vocabulary[i]``.
    level : {"row", "sentence"}
    """

    name: str
    values: np.ndarray
    vocabulary: list
    level: str

    @property
    def n_classes(self) -> int:
        return len(self.vocabulary)

    def names(self) -> np.ndarray:
        """Class names per entry (``None`` where the value is missing)."""
        vocab = np.array(list(self.vocabulary) + [None], dtype=object)
        return vocab[self.values]


class ActivationStore(Mapping):
    """Activations of one extraction run, as a read-only mapping ``site name -> lazy array``.

    Use :meth:`open` to read an existing store and :meth:`create` (used by the extractor) to
    write one. ``store["layers.3"]`` returns a :class:`SiteArray` that reads rows on demand;
    :meth:`view` selects several sites and a subset of rows as one lazy matrix whose columns
    are the global neuron ids ``site:index``.

    Examples
    --------
    >>> with ActivationStore.open("minilm.h5") as store:          # doctest: +SKIP
    ...     X = store.view(sites="layers.*").to_numpy()
    ...     y = store.label("upos").values
    """

    def __init__(self, h5file, path: Path):
        self._f = h5file
        self.path = Path(path)

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike, *, mode: str = "r", allow_incomplete: bool = False) -> "ActivationStore":
        """Open an existing store.

        Parameters
        ----------
        path : path-like
            The ``.h5`` file.
        mode : {"r", "r+"}
            ``"r+"`` allows writing labels and results back.
        allow_incomplete : bool, default False
            Open a store from an interrupted run (only its finished sentences are valid).

        Raises
        ------
        StoreError
            If the file is missing, not HDF5, not a neuronlab store, or of a newer schema.
        IncompleteStoreError
            If the run that wrote it did not finish and ``allow_incomplete`` is False.
        """
        if mode not in ("r", "r+"):
            raise InvalidParameterError(f"mode must be 'r' or 'r+', got {mode!r}")
        path = Path(path)
        if not path.exists():
            raise StoreError(f"activation store {str(path)!r} does not exist")
        h5py = _h5py()
        try:
            f = h5py.File(path, mode)
        except OSError as exc:
            raise StoreError(
                f"{str(path)!r} is not a readable HDF5 file (corrupted or not HDF5): {exc}. "
                "If it comes from an interrupted extraction, run it again with --overwrite."
            ) from None
        fmt = f.attrs.get("format")
        if fmt != schema.FORMAT:
            f.close()
            hint = " (it looks like a NeuroX activation file: use `neuronlab import-neurox`)" if _looks_neurox(path) else ""
            raise StoreError(f"{str(path)!r} is an HDF5 file but not a neuronlab activation store{hint}")
        version = int(f.attrs.get("schema_version", 0))
        if version > schema.SCHEMA_VERSION:
            f.close()
            raise StoreError(
                f"{str(path)!r} has schema version {version}; this neuronlab ({__version__}) reads up to "
                f"{schema.SCHEMA_VERSION}: upgrade neuronlab"
            )
        for required in ("sentences/offsets", "sentences/done", "rows/tokens", "sites"):
            if required not in f:
                f.close()
                raise StoreError(f"{str(path)!r} is a damaged neuronlab store: /{required} is missing")
        store = cls(f, path)
        if not allow_incomplete and not store.complete:
            n_done, n = store.n_done, store.n_sentences
            f.close()
            raise IncompleteStoreError(
                f"{str(path)!r} is incomplete: its extraction stopped after {n_done} of {n} sentences. "
                "Resume it with `neuronlab extract ... --resume`, or open it with allow_incomplete=True "
                "to read the finished sentences only."
            )
        return store

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        sites: Mapping[str, int],
        offsets: np.ndarray,
        texts: Sequence[str],
        tokens: Sequence[str],
        granularity: str,
        dtype: str,
        model: Mapping[str, Any],
        config: Mapping[str, Any],
        row_words: np.ndarray | None = None,
        compression: str | None = None,
        overwrite: bool = False,
    ) -> "ActivationStore":
        """Create an empty store with every dataset allocated; rows are filled in by the writer.

        Raises
        ------
        StoreError
            If ``path`` exists and ``overwrite`` is False.
        """
        h5py = _h5py()
        path = Path(path)
        if granularity not in schema.GRANULARITIES:
            raise InvalidParameterError(
                f"granularity must be one of {choices(schema.GRANULARITIES)}, got {granularity!r}"
            )
        if dtype not in schema.DTYPES:
            raise InvalidParameterError(f"dtype must be one of {choices(schema.DTYPES)}, got {dtype!r}")
        if path.exists() and not overwrite:
            raise StoreError(f"{str(path)!r} exists; pass --overwrite to replace it or --resume to continue it")
        offsets = np.asarray(offsets, dtype=np.int64)
        n_rows = int(offsets[-1])
        if len(texts) != len(offsets) - 1 or len(tokens) != n_rows:
            raise InvalidParameterError("texts/tokens do not match offsets")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        f = h5py.File(tmp, "w")
        try:
            f.attrs["format"] = schema.FORMAT
            f.attrs["schema_version"] = schema.SCHEMA_VERSION
            f.attrs["neuronlab_version"] = __version__
            f.attrs["model"] = json.dumps(dict(model), sort_keys=True)
            f.attrs["config"] = json.dumps(dict(config), sort_keys=True)
            f.attrs["granularity"] = granularity
            f.attrs["dtype"] = dtype
            f.attrs["sites"] = json.dumps(list(sites))
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            str_dt = h5py.string_dtype("utf-8")
            f.create_dataset("sentences/text", data=np.array(list(texts), dtype=object), dtype=str_dt)
            f.create_dataset("sentences/offsets", data=offsets)
            f.create_dataset("sentences/done", data=np.zeros(1, dtype=np.int64))
            f.create_dataset("rows/tokens", data=np.array(list(tokens), dtype=object), dtype=str_dt)
            if row_words is not None:
                f.create_dataset("rows/word", data=np.asarray(row_words, dtype=np.int32))
            sg = f.create_group("sites")
            for name, width in sites.items():
                itemsize = np.dtype(dtype).itemsize
                ds = sg.create_dataset(
                    name,
                    shape=(n_rows, int(width)),
                    dtype=dtype,
                    chunks=(schema.chunk_rows(int(width), itemsize, max(1, n_rows)), int(width)) if n_rows else None,
                    compression=compression,
                    fillvalue=np.nan,
                )
                ds.attrs["n_neurons"] = int(width)
            f.create_group("labels")
            f.create_group("results")
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
        f.close()
        os.replace(tmp, path)
        return cls(h5py.File(path, "r+"), path)

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        if self._f is not None and self._f.id.valid:
            self._f.close()

    def __enter__(self) -> "ActivationStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"incomplete {self.n_done}/{self.n_sentences}"
        return (
            f"<ActivationStore {str(self.path)!r}: {self.model.get('name', '?')}, {len(self.sites)} sites, "
            f"{self.n_rows} {self.granularity} rows, {self.n_sentences} sentences, {state}>"
        )

    # Mapping interface: site name -> lazy array
    def __getitem__(self, site: str) -> SiteArray:
        if site not in self._f["sites"]:
            from ..errors import UnknownSiteError

            raise UnknownSiteError(f"site {site!r} is not in this store; stored sites: {choices(self.sites)}")
        return SiteArray(self._f["sites"][site], site)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    # ------------------------------------------------------------------ metadata
    @property
    def sites(self) -> list[str]:
        """Site names in model order."""
        return json.loads(self._f.attrs["sites"])

    @property
    def model(self) -> dict:
        """Model provenance: name, resolved path, architecture, revision or weight fingerprint."""
        return json.loads(self._f.attrs["model"])

    @property
    def config(self) -> dict:
        """The extraction configuration the store was written with."""
        return json.loads(self._f.attrs["config"])

    @property
    def granularity(self) -> str:
        return str(self._f.attrs["granularity"])

    @property
    def dtype(self) -> str:
        return str(self._f.attrs["dtype"])

    @property
    def attrs(self) -> dict:
        return dict(self._f.attrs)

    @property
    def offsets(self) -> np.ndarray:
        """int64 array of shape (n_sentences + 1,): rows of sentence i are ``offsets[i]:offsets[i+1]``."""
        return self._f["sentences/offsets"][()]

    @property
    def n_sentences(self) -> int:
        return int(self._f["sentences/offsets"].shape[0] - 1)

    @property
    def n_rows(self) -> int:
        return int(self._f["rows/tokens"].shape[0])

    @property
    def n_done(self) -> int:
        """Sentences whose rows are written (a prefix of the corpus)."""
        return int(self._f["sentences/done"][0])

    @property
    def complete(self) -> bool:
        return self.n_done >= self.n_sentences

    @property
    def n_valid_rows(self) -> int:
        """Rows belonging to finished sentences."""
        return int(self.offsets[self.n_done])

    def texts(self) -> list[str]:
        """Sentence texts."""
        return [t.decode("utf-8") if isinstance(t, bytes) else t for t in self._f["sentences/text"][()]]

    def tokens(self) -> list[str]:
        """The word / subword / sentence each row stands for."""
        return [t.decode("utf-8") if isinstance(t, bytes) else t for t in self._f["rows/tokens"][()]]

    def row_sentence(self) -> np.ndarray:
        """Sentence index of every row (int64, shape (n_rows,))."""
        offs = self.offsets
        return np.repeat(np.arange(len(offs) - 1, dtype=np.int64), np.diff(offs))

    def row_words(self) -> np.ndarray | None:
        """Word index within its sentence of every row (token granularity only; -1 for special tokens)."""
        return self._f["rows/word"][()] if "rows/word" in self._f else None

    def neuron_ids(self, sites: str | Sequence[str] | None = None) -> list[str]:
        """Global neuron ids ``site:index`` of the selected sites, in column order."""
        out: list[str] = []
        for s in expand_sites(sites, self.sites):
            out.extend(neuron_id(s, i) for i in range(self._f["sites"][s].shape[1]))
        return out

    # ------------------------------------------------------------------ views
    def view(self, sites: str | Sequence[str] | None = None, rows=None) -> StoreView:
        """A lazy matrix over several sites (columns concatenated in model order) and a row subset.

        Parameters
        ----------
        sites : str or sequence of str, optional
            Names or globs (``"layers.*.mlp"``); all sites when omitted.
        rows : slice, array of int or bool mask, optional
            Row subset; all rows when omitted.
        """
        names = expand_sites(sites, self.sites)
        return StoreView([self[s] for s in names], rows=rows, n_rows=self.n_rows)

    # ------------------------------------------------------------------ labels
    def label_names(self) -> list[str]:
        return sorted(self._f["labels"].keys())

    def label(self, name: str) -> Label:
        """A stored concept annotation.

        Raises
        ------
        InvalidParameterError
            If the concept is not in the store (the message lists the stored ones).
        """
        if name not in self._f["labels"]:
            raise InvalidParameterError(
                f"concept {name!r} is not in {str(self.path)!r}; stored concepts: "
                f"{choices(self.label_names()) or '(none)'}"
            )
        ds = self._f["labels"][name]
        return Label(name, ds[()], json.loads(ds.attrs["vocabulary"]), str(ds.attrs["level"]))

    @property
    def labels(self) -> dict[str, Label]:
        return {n: self.label(n) for n in self.label_names()}

    def write_label(self, name: str, values, vocabulary: Sequence[str], *, level: str = "row") -> None:
        """Store (or replace) a concept annotation; values are class indices, -1 for no value."""
        values = np.asarray(values, dtype=np.int32)
        expected = {"row": self.n_rows, "sentence": self.n_sentences}
        if level not in expected:
            raise InvalidParameterError(f"level must be 'row' or 'sentence', got {level!r}")
        if values.shape != (expected[level],):
            raise InvalidParameterError(
                f"label {name!r}: expected {expected[level]} values (one per {level}), got {values.shape[0]}"
            )
        if values.size and (values.max() >= len(vocabulary) or values.min() < -1):
            raise InvalidParameterError(f"label {name!r}: values must lie in -1..{len(vocabulary) - 1}")
        grp = self._f["labels"]
        if name in grp:
            del grp[name]
        ds = grp.create_dataset(name, data=values)
        ds.attrs["vocabulary"] = json.dumps(list(vocabulary))
        ds.attrs["level"] = level

    # ------------------------------------------------------------------ results
    def write_result(self, name: str, arrays: Mapping[str, Any], *, config: Mapping[str, Any], kind: str) -> str:
        """Write an analysis result under ``/results/<name>`` with its configuration; returns the HDF5 path."""
        h5py = _h5py()
        grp = self._f["results"]
        if name in grp:
            del grp[name]
        g = grp.create_group(name)
        g.attrs["kind"] = kind
        g.attrs["config"] = json.dumps(dict(config), sort_keys=True, default=str)
        g.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        g.attrs["neuronlab_version"] = __version__
        for key, value in arrays.items():
            arr = np.asarray(value)
            if arr.dtype.kind in "OU":
                g.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype("utf-8"))
            else:
                g.create_dataset(key, data=arr)
        return f"/results/{name}"

    def result_names(self) -> list[str]:
        return sorted(self._f["results"].keys())

    def read_result(self, name: str) -> dict:
        """A stored result as ``{"kind", "config", <arrays>...}``."""
        if name not in self._f["results"]:
            raise InvalidParameterError(
                f"result {name!r} is not in the store; stored results: {choices(self.result_names()) or '(none)'}"
            )
        g = self._f["results"][name]
        out: dict[str, Any] = {"kind": g.attrs["kind"], "config": json.loads(g.attrs["config"])}
        for key, ds in g.items():
            v = ds[()]
            if isinstance(v, np.ndarray) and v.dtype == object:
                v = np.array([x.decode("utf-8") if isinstance(x, bytes) else x for x in v], dtype=object)
            out[key] = v
        return out

    # ------------------------------------------------------------------ writer side
    def _write_rows(self, start_sentence: int, stop_sentence: int, site_rows: Mapping[str, np.ndarray]) -> None:
        """Write the rows of sentences [start, stop) for every site and mark them done (extractor only)."""
        offs = self._f["sentences/offsets"]
        r0, r1 = int(offs[start_sentence]), int(offs[stop_sentence])
        for site, arr in site_rows.items():
            ds = self._f["sites"][site]
            if arr.shape != (r1 - r0, ds.shape[1]):
                raise StoreError(f"internal: site {site} got rows of shape {arr.shape}, expected {(r1 - r0, ds.shape[1])}")
            if r1 > r0:
                ds[r0:r1] = arr
        self._f.flush()  # data first, then the progress counter: a kill never marks unwritten rows done
        self._f["sentences/done"][0] = stop_sentence
        self._f.flush()

    def summary(self) -> dict:
        """Everything ``neuronlab info`` shows, as plain JSON-able data."""
        return {
            "path": str(self.path),
            "format": schema.FORMAT,
            "schema_version": int(self._f.attrs["schema_version"]),
            "neuronlab_version": str(self._f.attrs["neuronlab_version"]),
            "created": str(self._f.attrs.get("created", "")),
            "model": self.model,
            "granularity": self.granularity,
            "dtype": self.dtype,
            "n_sentences": self.n_sentences,
            "n_rows": self.n_rows,
            "complete": self.complete,
            "sentences_done": self.n_done,
            "sites": {s: list(self._f["sites"][s].shape) for s in self.sites},
            "n_neurons": int(sum(self._f["sites"][s].shape[1] for s in self.sites)),
            "labels": {
                n: {"level": lab.level, "n_classes": lab.n_classes, "vocabulary": list(lab.vocabulary)[:50],
                    "n_labelled": int((lab.values >= 0).sum())}
                for n, lab in self.labels.items()
            },
            "results": self.result_names(),
            "config": self.config,
        }


def _looks_neurox(path: Path) -> bool:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "sentence_to_index" in f
    except OSError:
        return False
