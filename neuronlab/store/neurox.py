"""Import and export of NeuroX activation files (``.hdf5`` and ``.json``).

NeuroX (Dalvi et al., 2019, "NeuroX: A Toolkit for Analyzing Individual Neurons in Neural
Networks", AAAI demo track; github.com/fdalvi/NeuroX) writes the activations of a corpus one
sentence at a time, in one of two layouts:

``hdf5``
    One dataset per sentence, named by the sentence index as a string (``"0"``, ``"1"``, ...), of
    shape ``(n_layers, n_tokens, hidden)``; plus a dataset ``sentence_to_index`` of shape ``(1,)``
    whose only element is a JSON object mapping the sentence text (its tokens joined by single
    spaces) to that index string. A sentence seen before gets the key
    ``"<text> (Occurrence k)"`` with k = 2, 3, ... so that every sentence keeps its own entry.
``json``
    JSON lines: ``{"linex_index": i, "features": [{"token": t, "layers": [{"index": l,
    "values": [...]}, ...]}, ...]}``, one line per sentence.

Layer 0 is the embedding layer and layer ``l + 1`` is the output of block ``l`` (NeuroX's
extractor keeps ``hidden_states`` of Hugging Face models), so the imported sites are
``embeddings``, ``layers.0``, ..., ``layers.{n_layers - 2}``. NeuroX's loader
(``neurox.data.loader.load_activations``) flattens every token to one vector of
``n_layers * hidden`` values, layer-major; :meth:`ActivationStore.view` over the same sites gives
the same matrix, row for row.

Import and export stream sentence by sentence: neither holds a whole file in memory.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import CorpusError, InvalidParameterError, NonFiniteError, StoreError, choices
from ..sites import expand_sites, parse_site
from .neurox_readers import INDEX_DATASET, HDF5Reader as _HDF5Reader, JSONReader as _JSONReader
from .store import ActivationStore

__all__ = ["import_neurox", "export_neurox", "neurox_sites", "FORMATS"]

log = logging.getLogger("neuronlab.store")

#: file formats and the suffixes they are recognised by
FORMATS = {"hdf5": (".hdf5", ".h5"), "json": (".json", ".jsonl")}
#: rows buffered before they are written to the store (bounded memory)
_BUFFER_VALUES = 1 << 24  # 16 M values = 64 MiB of float32


def neurox_sites(n_layers: int) -> list[str]:
    """Site names of NeuroX's layers: ``embeddings``, then ``layers.0`` ... ``layers.{n_layers - 2}``.

    >>> neurox_sites(3)
    ['embeddings', 'layers.0', 'layers.1']
    """
    return ["embeddings"] + [f"layers.{i}" for i in range(n_layers - 1)]


def _resolve_format(path: Path, format: str | None, what: str) -> str:
    if format is not None:
        if format not in FORMATS:
            raise InvalidParameterError(f"format must be one of {choices(FORMATS)}, got {format!r}")
        return format
    suffix = path.suffix.lower()
    for name, suffixes in FORMATS.items():
        if suffix in suffixes:
            return name
    known = [s for suffixes in FORMATS.values() for s in suffixes]
    raise InvalidParameterError(
        f"cannot tell the NeuroX format of {what} {str(path)!r} from its suffix {suffix!r} "
        f"(known: {choices(known)}); pass format='hdf5' or format='json'"
    )


# ====================================================================== import
def import_neurox(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str | None = None,
    model_name: str = "neurox-import",
    sentences: Sequence[Sequence[str]] | None = None,
    labels: str | os.PathLike | None = None,
    sites: Sequence[str] | None = None,
    overwrite: bool = False,
    granularity: str | None = None,
    allow_nonfinite: bool = False,
) -> ActivationStore:
    """Convert a NeuroX activation file into an activation store.

    The file is read twice, sentence by sentence: once for its shapes and tokens (checked for
    consistency before anything is written), once for the values. The store is built under a
    temporary name next to ``out`` and renamed to ``out`` only when it is complete, so a failed import
    leaves an existing ``out`` as it was.

    Parameters
    ----------
    path : path-like
        NeuroX ``.hdf5`` or ``.json`` activation file (Dalvi et al., 2019).
    out : path-like
        The ``.h5`` store to create.
    format : {"hdf5", "json"}, optional
        Default: from the suffix (``.hdf5``/``.h5`` -> hdf5, ``.json``/``.jsonl`` -> json).
    model_name : str, default "neurox-import"
        Model name recorded in the store's provenance.
    sentences : sequence of sequence of str, optional
        The words of every sentence (e.g. the ``.in`` file split on whitespace). By default the words
        are the file's tokens (json) or the ``sentence_to_index`` text split on spaces (hdf5).
    labels : path-like, optional
        NeuroX ``.label`` file (one line per sentence, one label per row, or one label per line for
        sentence labels), stored as the concept ``"label"``.
    sites : sequence of str, optional
        Site names of the file's layers, in order; default :func:`neurox_sites` (layer 0 =
        ``embeddings``). Needed for files written with ``--ignore_embeddings``/``--filter_layers``.
    overwrite : bool, default False
        Replace ``out`` if it exists.
    granularity : {"word", "token"}, optional
        What a row is. Default: ``"word"`` when every sentence has as many rows as words, ``"token"``
        when no sentence has (a file of subword rows); a file where some sentences match and others do
        not is refused, naming the first that does not.
    allow_nonfinite : bool, default False
        Import NaN or infinite values (with a warning) instead of refusing them. NaN also fills rows
        not yet written, so by default such a file is an error naming the sentence and layer.

    Returns
    -------
    ActivationStore
        The new store, open for reading and writing. Token rows whose text is unknown are stored as
        ``"#j"``, j their position. Provenance: ``model["imported_from"]``,
        ``model["format"]`` (``"neurox-hdf5"`` or ``"neurox-json"``), the same in ``config``.

    Raises
    ------
    StoreError
        A file that is not a NeuroX file (naming what is missing), sentences with different layer
        counts or widths, json lines that do not parse (with the line number), ``out`` existing.
    InvalidParameterError
        Unknown format, ``sentences`` or ``sites`` of the wrong length, a sentence whose row count
        does not match its words (named) when the others match.
    NonFiniteError
        NaN or infinite values (sentence and layer named), unless ``allow_nonfinite``.
    CorpusError
        A label file that does not match the sentences (line and counts given).

    See Also
    --------
    export_neurox : the inverse.
    """
    path, out = Path(path), Path(out)
    fmt = _resolve_format(path, format, "the NeuroX file")
    if not path.exists():
        raise StoreError(f"NeuroX activation file {str(path)!r} does not exist")
    if out.exists() and not overwrite:
        raise StoreError(f"{str(out)!r} exists; pass overwrite=True to replace it")
    if out.resolve() == path.resolve():
        raise InvalidParameterError(f"out must differ from the NeuroX file, both are {str(path)!r}")
    if granularity not in (None, "word", "token"):
        raise InvalidParameterError(f"granularity must be 'word', 'token' or None, got {granularity!r}")
    reader = _HDF5Reader(path) if fmt == "hdf5" else _JSONReader(path)
    tmp = out.with_name(f".{out.name}.importing-{os.getpid()}")
    try:
        store = _import(reader, path, tmp, fmt, model_name, sentences, labels, sites, granularity, allow_nonfinite)
        store.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    return ActivationStore.open(out, mode="r+")


def _row_words(sents, sentences, path, granularity) -> tuple[list[str], list[str], bool]:
    """Sentence texts, row tokens and whether rows are words; a mixture of matching and non-matching
    sentences is refused (it means a damaged file, or sentences that do not belong to it)."""
    texts, tokens, matches = [], [], []
    words_of = []
    for i, s in enumerate(sents):
        words = [str(w) for w in sentences[i]] if sentences is not None else (s.tokens if s.tokens is not None else None)
        if words is None:  # hdf5 whose key does not split into n_tokens words
            words = s.text.split(" ") if s.text else []
        texts.append(" ".join(words))
        words_of.append(words)
        matches.append(len(words) == s.n_tokens)
    if granularity is None:
        if all(matches):
            granularity = "word"
        elif not any(matches):
            granularity = "token"
        else:
            i = matches.index(False)
            raise InvalidParameterError(
                f"{str(path)!r}: sentence {i} ({texts[i][:60]!r}) has {sents[i].n_tokens} rows for "
                f"{len(words_of[i])} words, while sentence {matches.index(True)} has one row per word; fix the file "
                "(or the sentences given), or pass granularity='token' if its rows are subword tokens")
    if granularity == "word" and not all(matches):
        i = matches.index(False)
        raise InvalidParameterError(
            f"{str(path)!r}: sentence {i} ({texts[i][:60]!r}) has {sents[i].n_tokens} rows for {len(words_of[i])} "
            "words; granularity='word' needs one row per word")
    for s, words, match in zip(sents, words_of, matches):
        if granularity == "word" or (match and sentences is None):
            tokens.extend(words)
        else:
            tokens.extend(s.tokens if s.tokens is not None else [f"#{j}" for j in range(s.n_tokens)])
    return texts, tokens, granularity == "word"


def _import(reader, path, out, fmt, model_name, sentences, labels, sites, granularity,
            allow_nonfinite) -> ActivationStore:
    sents = reader.sentences
    n_layers, width = int(reader.n_layers), int(reader.width)
    names = list(sites) if sites is not None else neurox_sites(n_layers)
    if len(names) != n_layers:
        raise InvalidParameterError(f"sites names {len(names)} sites but the file has {n_layers} layers: {names}")
    for name in names:
        parse_site(name)
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"sites must be distinct, got {names}")
    if sentences is not None and len(sentences) != len(sents):
        raise InvalidParameterError(
            f"sentences has {len(sentences)} sentences but {str(path)!r} holds {len(sents)}"
        )
    texts, tokens, word_level = _row_words(sents, sentences, path, granularity)
    offsets = np.concatenate([[0], np.cumsum([s.n_tokens for s in sents])]).astype(np.int64)
    dtype = "float16" if np.dtype(reader.dtype) == np.float16 else "float32"
    provenance = {"imported_from": str(path), "format": reader.fmt}
    store = ActivationStore.create(
        out, sites={n: width for n in names}, offsets=offsets, texts=texts, tokens=tokens,
        granularity="word" if word_level else "token", dtype=dtype,
        model=dict(provenance, name=model_name),
        config=dict(provenance, n_layers=n_layers, layer_sites=names, sentences_given=sentences is not None),
        overwrite=True,
    )
    try:
        _copy_values(store, reader, names, n_layers * width, allow_nonfinite)
        if labels is not None:
            _attach_labels(store, Path(labels), offsets)
    except BaseException:
        store.close()
        raise
    return store


def _copy_values(store: ActivationStore, reader, names: list[str], row_values: int, allow_nonfinite: bool) -> None:
    """Second pass: read sentence by sentence, write in bounded batches of sentences."""
    max_rows = max(1, _BUFFER_VALUES // max(1, row_values))
    buf: list[np.ndarray] = []
    start = n_rows = 0
    nonfinite = 0
    expected = iter(reader.sentences)
    for i, arr in enumerate(reader.arrays()):
        s = next(expected)
        if arr.shape[1] != s.n_tokens:  # the file changed between the two passes
            raise StoreError(f"{str(reader.path)!r}: sentence {i} changed while it was read")
        finite = np.isfinite(arr)
        if not finite.all():
            if not allow_nonfinite:
                layer, tok, neuron = (int(x[0]) for x in np.nonzero(~finite))
                raise NonFiniteError(
                    f"{str(reader.path)!r}: sentence {i} ({s.text[:60]!r}) holds a non-finite value "
                    f"({arr[layer, tok, neuron]}) at layer {layer} ({names[layer]}), row {tok}, neuron {neuron}; "
                    "NaN also marks unwritten rows in a store, so such values are refused: fix the file, or pass "
                    "allow_nonfinite=True to import them anyway")
            nonfinite += int((~finite).sum())
        buf.append(arr)
        n_rows += arr.shape[1]
        if n_rows >= max_rows:
            _flush(store, start, i + 1, buf, names)
            buf, start, n_rows = [], i + 1, 0
    if buf or start < len(reader.sentences):
        _flush(store, start, len(reader.sentences), buf, names)
    if nonfinite:
        log.warning("%s: imported %d non-finite values (NaN or inf) as they are (allow_nonfinite=True)",
                    reader.path, nonfinite)


def _flush(store: ActivationStore, start: int, stop: int, buf: list[np.ndarray], names: list[str]) -> None:
    dtype = np.dtype(store.dtype)
    rows = {}
    for l, name in enumerate(names):
        parts = [a[l] for a in buf]
        rows[name] = (np.concatenate(parts, axis=0) if parts else np.empty((0, store[name].shape[1]))).astype(dtype, copy=False)
    store.write_rows(start, stop, rows)


def _attach_labels(store: ActivationStore, path: Path, offsets: np.ndarray) -> None:
    """Store a NeuroX ``.label`` file as the concept ``"label"`` (row or sentence level)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"{path}: label file not found") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = [ln.split() for ln in lines]
    sizes = np.diff(offsets)
    if len(rows) != len(sizes):
        raise CorpusError(f"{path}: {len(rows)} lines of labels for {len(sizes)} sentences")
    if all(len(r) == 1 for r in rows) and any(n != 1 for n in sizes):
        level, flat = "sentence", [r[0] for r in rows]
    else:
        for lineno, (r, n) in enumerate(zip(rows, sizes), start=1):
            if len(r) != n:
                raise CorpusError(f"{path}, line {lineno}: {len(r)} labels for {n} rows of sentence {lineno - 1}")
        level, flat = "row", [x for r in rows for x in r]
    vocabulary = sorted(set(flat))
    index = {v: k for k, v in enumerate(vocabulary)}
    store.write_label("label", np.array([index[x] for x in flat], dtype=np.int32), vocabulary, level=level)


# ====================================================================== export
def export_neurox(
    store: ActivationStore | str | os.PathLike,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    sites: str | Sequence[str] | None = None,
    decimals: int | None = None,
) -> Path:
    """Write a store in NeuroX's activation format, readable by ``neurox.data.loader.load_activations``.

    The selected sites become NeuroX's layers in model order, each sentence's rows its tokens, and
    its row tokens the ``extracted_words`` (Dalvi et al., 2019): the hdf5 ``sentence_to_index`` key of
    a sentence is its tokens joined by spaces, ``" (Occurrence k)"`` appended (k = 2, 3, ...) to
    repeated sentences exactly as NeuroX's writer does.

    Parameters
    ----------
    store : ActivationStore or path-like
        A complete store (or the path of one).
    path : path-like
        Output file; NeuroX's loader needs the suffix ``.hdf5`` or ``.json``.
    format : {"hdf5", "json"}, optional
        Default: from the suffix of ``path``.
    sites : str or sequence of str, optional
        Sites (names or globs) to export, all of the same width; default all sites.
    decimals : int, optional
        json only: round values to this many decimals (NeuroX's writer uses 8). Default: exact
        values, so that a round trip gives back the same float32 numbers.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        Sites of different widths (the widths are named), an unknown format.
    StoreError
        An incomplete store.

    See Also
    --------
    import_neurox : the inverse.
    """
    if not isinstance(store, ActivationStore):
        with ActivationStore.open(store) as opened:
            return export_neurox(opened, path, format=format, sites=sites, decimals=decimals)
    path = Path(path)
    fmt = _resolve_format(path, format, "the output")
    if not store.complete:
        raise StoreError(f"{str(store.path)!r} is incomplete ({store.n_done} of {store.n_sentences} sentences): "
                         "finish its extraction before exporting it")
    names = expand_sites(sites, store.sites)
    widths = {n: store[n].shape[1] for n in names}
    if len(set(widths.values())) > 1:
        raise InvalidParameterError(
            "NeuroX stores layers of one width; the selected sites have widths "
            + ", ".join(f"{n}={w}" for n, w in widths.items())
            + ": select sites of the same width with sites=..."
        )
    if decimals is not None and (not isinstance(decimals, (int, np.integer)) or decimals < 0):
        raise InvalidParameterError(f"decimals must be a non-negative int or None, got {decimals!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if fmt == "hdf5":
            _write_hdf5(tmp, _sentence_arrays(store, names))
        else:
            _write_json(tmp, _sentence_arrays(store, names), decimals)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


def _sentence_arrays(store: ActivationStore, names: list[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield ``(tokens, array (n_layers, n_tokens, width))`` per sentence, reading batches of rows."""
    offsets = store.offsets
    tokens = store.tokens()
    arrays = [store[n] for n in names]
    width = arrays[0].shape[1]
    batch = max(1, _BUFFER_VALUES // max(1, width * len(names)))
    i, n = 0, len(offsets) - 1
    while i < n:
        j = i + 1  # sentences [i, j) whose rows fit in one batch (at least one sentence)
        while j < n and offsets[j + 1] - offsets[i] <= batch:
            j += 1
        r0, r1 = int(offsets[i]), int(offsets[j])
        block = np.stack([a[r0:r1] for a in arrays]).astype(np.float32, copy=False)  # (L, rows, H)
        for k in range(i, j):
            a, b = int(offsets[k]) - r0, int(offsets[k + 1]) - r0
            yield tokens[a + r0: b + r0], block[:, a:b]
        i = j


def _write_hdf5(path: Path, items) -> None:
    import h5py

    index: dict[str, str] = {}
    with h5py.File(path, "w") as f:
        for i, (tokens, arr) in enumerate(items):
            f.create_dataset(str(i), data=arr, dtype="float32")
            key = base = " ".join(tokens)
            k = 1
            while key in index:  # NeuroX's rule for repeated sentences
                k += 1
                key = f"{base} (Occurrence {k})"
            index[key] = str(i)
        ds = f.create_dataset(INDEX_DATASET, (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps(index)


def _write_json(path: Path, items, decimals: int | None) -> None:
    with open(path, "w", encoding="utf-8") as fp:
        for i, (tokens, arr) in enumerate(items):
            values = arr.astype(np.float64)
            if decimals is not None:
                values = np.round(values, decimals)
            features = [
                {"token": tok, "layers": [{"index": l, "values": values[l, t].tolist()} for l in range(arr.shape[0])]}
                for t, tok in enumerate(tokens)
            ]
            fp.write(json.dumps({"linex_index": i, "features": features}) + "\n")
