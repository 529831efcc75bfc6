"""The activation store: one HDF5 file per extraction run, read lazily like a mapping of sites.

The layout is in :mod:`neuronlab.store.schema` and docs/store.md. Importing this module does not
import torch.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .. import __version__
from ..errors import DamagedStoreError, IncompleteStoreError, InvalidParameterError, StoreError, choices
from ..sites import expand_sites, neuron_id
from . import atomic, schema
from .files import check_member_name as _check_member_name
from .fill import fill_sentences
from .label import Label
from .rowwriter import ChunkWriter
from .files import h5py_module
from .files import looks_neurox as _looks_neurox
from .files import open_h5 as _open_h5
from .validate import check_structure, label_problem, result_problem
from .view import SiteArray, StoreView

__all__ = ["ActivationStore", "Label"]


_h5py = h5py_module


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
        self._writer: ChunkWriter | None = None  # made by the first write_rows

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike, *, mode: str = "r", allow_incomplete: bool = False) -> "ActivationStore":
        """Open an existing store.

        Opening checks the structure (:func:`~neuronlab.store.validate.check_structure`: metadata, offsets,
        counters and written markers, never the activations) and, in ``"r+"`` mode, settles leftovers of
        result or label replacements interrupted by a crash (:mod:`neuronlab.store.atomic`).

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
        StoreLockedError
            If another process holds the file (a running extraction or analysis writing to it).
        StoreReadOnlyError
            If ``mode="r+"`` and the file is not writable.
        DamagedStoreError
            If its structure is inconsistent (the message names the dataset or attribute at fault).
        IncompleteStoreError
            If the run that wrote it did not finish and ``allow_incomplete`` is False.
        """
        if mode not in ("r", "r+"):
            raise InvalidParameterError(f"mode must be 'r' or 'r+', got {mode!r}")
        path = Path(path)
        if not path.exists():
            raise StoreError(f"activation store {str(path)!r} does not exist")
        if path.is_dir():
            raise StoreError(f"activation store {str(path)!r} is a directory, not an .h5 file")
        f = _open_h5(path, mode)
        try:
            store = cls._checked(f, path, mode)
        except BaseException:
            f.close()
            raise
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
    def _checked(cls, f, path: Path, mode: str) -> "ActivationStore":
        """Format, version and structure checks of an open file; the store on success."""
        fmt = f.attrs.get("format")
        if fmt != schema.FORMAT:
            hint = " (it looks like a NeuroX activation file: use `neuronlab import-neurox`)" if _looks_neurox(path) else ""
            raise StoreError(f"{str(path)!r} is an HDF5 file but not a neuronlab activation store{hint}")
        try:
            version = int(f.attrs.get("schema_version", 0))
        except (TypeError, ValueError):
            raise DamagedStoreError(f"{str(path)!r} is a damaged neuronlab store: its schema_version "
                                    f"{f.attrs.get('schema_version')!r} is not a number") from None
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{str(path)!r} has schema version {version}; this neuronlab ({__version__}) reads up to "
                f"{schema.SCHEMA_VERSION}: upgrade neuronlab"
            )
        try:
            check_structure(f, path)
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
            if isinstance(exc, StoreError):
                raise
            raise DamagedStoreError(f"{str(path)!r} is a damaged neuronlab store: its metadata cannot be read "
                                    f"({type(exc).__name__}: {exc})") from None
        if mode == "r+":
            atomic.recover(f, f["results"])
            atomic.recover(f, f["labels"])
        return cls(f, path)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        sites: Mapping[str, int],
        offsets: np.ndarray,
        texts: Sequence[str] | None,
        tokens: Sequence[str] | None,
        granularity: str,
        dtype: str,
        model: Mapping[str, Any],
        config: Mapping[str, Any],
        row_words: np.ndarray | bool | None = None,
        compression: str | None = None,
        overwrite: bool = False,
        labels: Mapping[str, tuple[Sequence[str], str]] | None = None,
        fill: Iterable[tuple[int, int, Mapping[str, Any]]] | None = None,
    ) -> "ActivationStore":
        """Create an empty store with every dataset allocated; rows are filled in by the writer.

        For a corpus that is streamed rather than held in memory: ``texts=None`` / ``tokens=None`` /
        ``row_words=True`` allocate those datasets empty, ``labels`` (``name -> (vocabulary, level)``)
        allocates labels of -1, and ``fill`` yields ``(start, stop, {"texts", "tokens", "row_words",
        "labels"})`` for consecutive sentence ranges, written before the store is renamed into place. The
        strings are thus written once, in the temporary file: a killed run leaves no half-written store,
        and a resumed one never rewrites variable-length strings (HDF5 frees the old string of an element
        it overwrites, which fails if a kill left that string unwritten).

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
            raise StoreError(f"{str(path)!r} exists; pass overwrite=True to replace it (or resume=True to continue it)")
        if path.is_dir():
            raise StoreError(f"{str(path)!r} is a directory; give the path of an .h5 file")
        offsets = np.asarray(offsets, dtype=np.int64)
        n_rows = int(offsets[-1])
        if (texts is not None and len(texts) != len(offsets) - 1) or (tokens is not None and len(tokens) != n_rows):
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
            if texts is None:
                f.create_dataset("sentences/text", shape=(len(offsets) - 1,), dtype=str_dt)
            else:
                f.create_dataset("sentences/text", data=np.array(list(texts), dtype=object), dtype=str_dt)
            f.create_dataset("sentences/offsets", data=offsets)
            f.create_dataset("sentences/done", data=np.zeros(1, dtype=np.int64))
            f.create_dataset("sentences/written", data=np.zeros(len(offsets) - 1, dtype=np.uint8))
            if tokens is None:
                f.create_dataset("rows/tokens", shape=(n_rows,), dtype=str_dt)
            else:
                f.create_dataset("rows/tokens", data=np.array(list(tokens), dtype=object), dtype=str_dt)
            if row_words is True:
                f.create_dataset("rows/word", shape=(n_rows,), dtype=np.int32, fillvalue=-1)
            elif row_words is not None and row_words is not False:
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
            lg = f.create_group("labels")
            for name, (vocabulary, level) in (labels or {}).items():
                _check_member_name(name, "label")
                size = {"row": n_rows, "sentence": len(offsets) - 1}[level]
                ds = lg.create_dataset(name, shape=(size,), dtype=np.int32, fillvalue=-1)
                atomic.set_text_attr(ds, "vocabulary", json.dumps(list(vocabulary)))
                atomic.set_text_attr(ds, "level", level)
            f.create_group("results")
            for start, stop, meta in fill or ():
                fill_sentences(f, start, stop, **meta)
        except BaseException:
            f.close()
            tmp.unlink(missing_ok=True)
            raise
        f.close()
        os.replace(tmp, path)
        return cls(h5py.File(path, "r+"), path)

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        """Write the rows :meth:`write_rows` holds back, mark their sentences, close the file."""
        if self._f is not None and self._f.id.valid:
            try:
                self.flush()
            finally:
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
        self._settle()
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
        self._settle()
        return int(self._f["sentences/done"][0])

    @property
    def complete(self) -> bool:
        """Every sentence's rows are written.

        ``done`` only advances over sentences whose rows were written and flushed (:meth:`write_rows`
        marks each sentence in ``/sentences/written`` and sets ``done`` to the first unmarked one), and
        :meth:`open` refuses a ``done`` beyond the markers, so a store with unwritten rows never reads
        as complete.
        """
        return self.n_done >= self.n_sentences

    @property
    def n_valid_rows(self) -> int:
        """Rows belonging to finished sentences."""
        return int(self.offsets[self.n_done])

    def texts(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Sentence texts (of sentences ``[start, stop)``; all by default)."""
        ds = self._f["sentences/text"]
        data = ds[()] if start == 0 and stop is None else ds[start:stop]
        return [t.decode("utf-8") if isinstance(t, bytes) else t for t in data]

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
        return atomic.visible_names(self._f["labels"])

    def label(self, name: str) -> Label:
        """A stored concept annotation.

        Raises
        ------
        InvalidParameterError
            If the concept is not in the store (the message lists the stored ones).
        """
        ds = atomic.member(self._f["labels"], name) if not name.startswith(".") else None
        if ds is None:
            raise InvalidParameterError(
                f"concept {name!r} is not in {str(self.path)!r}; stored concepts: "
                f"{choices(self.label_names()) or '(none)'}"
            )
        problem = label_problem(ds, self.n_rows, self.n_sentences)
        values = ds[()] if problem is None else None
        vocab = json.loads(ds.attrs["vocabulary"]) if problem is None else []
        if problem is None and values.size and (values.min() < -1 or values.max() >= len(vocab)):
            problem = f"holds class indices outside -1..{len(vocab) - 1}"
        if problem is not None:
            raise DamagedStoreError(f"{str(self.path)!r}: the label {name!r} is damaged: it {problem}")
        return Label(name, values.astype(np.int32, copy=False), vocab, atomic.text_attr(ds.attrs["level"]))

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
        _check_member_name(name, "label")

        def build(grp, tmp: str) -> None:
            ds = grp.create_dataset(tmp, data=values)
            atomic.set_text_attr(ds, "vocabulary", json.dumps(list(vocabulary)))
            atomic.set_text_attr(ds, "level", level)

        atomic.replace_member(self._f, self._f["labels"], name, build)

    # ------------------------------------------------------------------ results
    def write_result(self, name: str, arrays: Mapping[str, Any], *, config: Mapping[str, Any], kind: str) -> str:
        """Write an analysis result under ``/results/<name>`` with its configuration; returns the HDF5 path.

        The write is atomic (:mod:`neuronlab.store.atomic`): the result is built under a hidden name,
        flushed, and only then moved into place; a result it replaces is deleted after that. A process
        killed at any moment leaves either the old result or the new one, never a mixture.
        """
        _check_member_name(name, "result")
        prepared = {}
        for key, value in arrays.items():
            _check_member_name(str(key), "result array")
            prepared[str(key)] = np.asarray(value)

        def build(grp, tmp: str) -> None:
            g = grp.create_group(tmp)
            atomic.set_text_attr(g, "kind", kind)
            atomic.set_text_attr(g, "config", json.dumps(dict(config), sort_keys=True, default=str))
            atomic.set_text_attr(g, "created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            atomic.set_text_attr(g, "neuronlab_version", __version__)
            for key, arr in prepared.items():
                if arr.dtype.kind in "OUS":
                    g.create_dataset(key, data=atomic.fixed_strings(arr))
                else:
                    g.create_dataset(key, data=arr)
            g.attrs["n_arrays"] = len(prepared)  # last: a group with fewer arrays is damaged

        atomic.replace_member(self._f, self._f["results"], name, build)
        return f"/results/{name}"

    def result_names(self) -> list[str]:
        """Names of the stored results that are whole (damaged ones: :meth:`damaged_results`)."""
        grp = self._f["results"]
        return [n for n in atomic.visible_names(grp) if result_problem(atomic.member(grp, n)) is None]

    def damaged_results(self) -> dict[str, str]:
        """``name -> what is wrong`` for every stored result that cannot be read."""
        grp = self._f["results"]
        out = {}
        for n in atomic.visible_names(grp):
            problem = result_problem(atomic.member(grp, n))
            if problem is not None:
                out[n] = problem
        return out

    def read_result(self, name: str) -> dict:
        """A stored result as ``{"kind", "config", <arrays>...}``.

        Raises
        ------
        InvalidParameterError
            If there is no result of that name (the message lists the stored ones).
        DamagedStoreError
            If the result is damaged (named, with what is wrong).
        """
        grp = self._f["results"]
        g = atomic.member(grp, name) if not name.startswith(".") else None
        if g is None:
            raise InvalidParameterError(
                f"result {name!r} is not in the store; stored results: {choices(self.result_names()) or '(none)'}"
            )
        problem = result_problem(g)
        try:
            if problem is None:
                out: dict[str, Any] = {"kind": atomic.text_attr(g.attrs["kind"]),
                                       "config": json.loads(g.attrs["config"])}
                for key, ds in g.items():
                    v = ds[()]
                    if isinstance(v, np.ndarray) and v.dtype.kind in "OS":
                        flat = [x.decode("utf-8") if isinstance(x, bytes) else x for x in v.ravel()]
                        v = np.array(flat, dtype=object).reshape(v.shape)
                    elif isinstance(v, bytes):
                        v = v.decode("utf-8")
                    out[key] = v
                return out
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            problem = f"cannot be read ({exc})"
        raise DamagedStoreError(
            f"{str(self.path)!r}: the result {name!r} is damaged: it {problem}; run the analysis that wrote it again")

    # ------------------------------------------------------------------ writer side
    def write_rows(self, start: int, stop: int, site_rows: Mapping[str, np.ndarray]) -> None:
        """Write the rows of sentences ``[start, stop)`` for every site and mark those sentences written.

        This is the one writer of activations (the extractor, the NeuroX import and
        :mod:`neuronlab.testing` use it). The rows are written and flushed first; then the sentences are
        marked in ``/sentences/written`` and ``/sentences/done`` becomes the first sentence not marked,
        flushed again. A process killed at any point therefore never marks unwritten rows as written,
        and ranges may be written in any order: ``done`` never passes a gap.

        Rows go to the file in whole HDF5 chunks (:mod:`neuronlab.store.rowwriter`): the rows after the
        write's last chunk boundary are held back (copied) and written with the next write when it
        continues this one, or by :meth:`flush` / :meth:`close` / any read through this object. Their
        sentences are marked written only then; a kill before leaves them unmarked (a resume recomputes
        them), exactly like a kill before the write.

        Parameters
        ----------
        start, stop : int
            Sentence range, ``0 <= start <= stop <= n_sentences``.
        site_rows : mapping of site name to ndarray of shape (offsets[stop] - offsets[start], n_neurons)
            Every site of the store, exactly once.

        Raises
        ------
        InvalidParameterError
            A range outside the store, a missing or unknown site, or rows of the wrong shape.
        """
        if self._writer is None:
            self._writer = ChunkWriter(self._f)
        self._writer.check(start, stop, site_rows, self.sites)
        self._writer.write(int(start), int(stop), site_rows)

    def flush(self) -> None:
        """Write the rows :meth:`write_rows` holds back and mark their sentences written.

        :meth:`close` does it, and so does every read through this object (:attr:`n_done`, ``store[site]``,
        :meth:`view`); call it to make a store written so far resumable without closing it.
        """
        if self._writer is not None:
            self._writer.flush()

    def _settle(self) -> None:
        """Flush held-back rows before this object answers a read (a no-op when nothing is held)."""
        if self._writer is not None and self._writer.pending is not None:
            self._writer.flush()

    def _write_rows(self, start_sentence: int, stop_sentence: int, site_rows: Mapping[str, np.ndarray]) -> None:
        """Deprecated alias of :meth:`write_rows`."""
        self.write_rows(start_sentence, stop_sentence, site_rows)

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
            "damaged_results": self.damaged_results(),
            "config": self.config,
        }
