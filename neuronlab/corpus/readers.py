"""Corpus readers (plain text, NeuroX ``.in``/``.label``, TSV, CoNLL-U) and their registry.

Every reader takes a path and keyword options and returns a
:class:`~neuronlab.corpus.base.Corpus`; :func:`read_corpus` picks one by name or by suffix.
Bad input raises :class:`~neuronlab.errors.CorpusError` naming the file, the 1-based line and
what is wrong.
"""
from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path
from typing import Callable, Iterator

from neuronlab.corpus._io import fail, gc_paused, iter_lines, require_sentences
from neuronlab.corpus.base import Corpus, Record
from neuronlab.corpus.conllu import iter_conllu, read_conllu
from neuronlab.errors import InvalidParameterError, choices

log = logging.getLogger("neuronlab.corpus")

__all__ = ["READERS", "SUFFIX_FORMATS", "STREAMS", "read_corpus", "read_text", "read_neurox", "read_tsv",
           "read_conllu", "iter_text", "iter_neurox", "iter_tsv", "iter_conllu", "reader_options"]

_NO_LABELS: dict = {}


def _tokenised_lines(path: Path, what: str = "sentence") -> Iterator[list[str]]:
    """Split each line of ``path`` on whitespace, streamed; an empty (or blank) line is an error."""
    for lineno, line in enumerate(iter_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            raise fail(path, lineno, f"empty line (expected one {what} per line)")
        yield tokens


def iter_text(path: Path | str) -> Iterator[Record]:
    """Stream :func:`read_text`'s sentences one record at a time (no labels)."""
    path = Path(path)
    n = 0
    for words in _tokenised_lines(path):
        n += 1
        yield words, _NO_LABELS, _NO_LABELS
    require_sentences(path, n)


@gc_paused
def read_text(path: Path | str) -> Corpus:
    """Read one sentence per line, words separated by whitespace, no labels.

    Parameters
    ----------
    path : path-like
        UTF-8 text file.

    Returns
    -------
    Corpus
        Sentences only (``word_labels`` and ``sentence_labels`` empty).

    Raises
    ------
    CorpusError
        Missing or non-UTF-8 file, an empty line (with its number), an empty file.
    """
    return Corpus.from_records(iter_text(path), source=str(Path(path)))


def _label_path(path: Path, labels: Path | str | None) -> Path:
    return Path(labels) if labels is not None else path.with_suffix(".label")


def iter_neurox(path: Path | str, *, labels: Path | str | None = None, label_name: str = "label") -> Iterator[Record]:
    """Stream :func:`read_neurox`'s sentences: both files are read line by line, in step.

    Raises
    ------
    CorpusError
        As :func:`read_neurox`, when the reader reaches the bad line; files of different line counts
        when the shorter one ends (the longer one is then counted to the end, to give both counts).
    """
    path = Path(path)
    label_path = _label_path(path, labels)
    sentences = _tokenised_lines(path)
    tags = _tokenised_lines(label_path, what="line of labels")
    n = 0
    end = object()
    for words, row in itertools.zip_longest(sentences, tags, fillvalue=end):
        if words is end or row is end:
            n_in = n + (0 if words is end else 1 + sum(1 for _ in sentences))
            n_tags = n + (0 if row is end else 1 + sum(1 for _ in tags))
            raise fail(label_path, None, f"has {n_tags} lines but the sentence file {path} has {n_in} lines")
        n += 1
        if len(words) != len(row):
            raise fail(label_path, n, f"{len(row)} labels for {len(words)} tokens (line {n} of {path})")
        yield words, {label_name: row}, _NO_LABELS
    require_sentences(path, n)


@gc_paused
def read_neurox(path: Path | str, *, labels: Path | str | None = None, label_name: str = "label") -> Corpus:
    """Read NeuroX's parallel files: ``.in`` sentences and ``.label`` word labels.

    Both files have one sentence per line with whitespace-separated items; line ``i`` of the
    label file holds one label per word of line ``i`` of the sentence file (Dalvi et al., 2019,
    "NeuroX: A Toolkit for Analyzing Individual Neurons in Neural Networks", AAAI demo).

    Parameters
    ----------
    path : path-like
        The sentence file (usually ``*.in``).
    labels : path-like, optional
        The label file; default: ``path`` with the suffix replaced by ``.label``.
    label_name : str, default="label"
        Concept name under which the labels are stored in ``word_labels``.

    Returns
    -------
    Corpus
        Sentences with ``word_labels[label_name]``.

    Raises
    ------
    CorpusError
        A missing file, empty lines, files with different line counts (both counts given), a
        line whose label count differs from its word count (both counts given), an empty corpus.
    """
    path = Path(path)
    corpus = Corpus.from_records(iter_neurox(path, labels=labels, label_name=label_name),
                                 source=f"{path} + {_label_path(path, labels)}")
    corpus.word_labels.setdefault(label_name, [[None] * len(s) for s in corpus.sentences])
    return corpus


#: column names that mark the text column of a TSV header (the other column holds the label)
TEXT_COLUMN_NAMES = frozenset({"sentence", "sentences", "text", "content", "review", "document", "tweet",
                               "utterance", "question", "input", "phrase"})
#: column names that mark the label column of a TSV header
LABEL_COLUMN_NAMES = frozenset({"label", "labels", "class", "category", "target", "sentiment", "polarity", "gold",
                                "y"})
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _header_label_column(fields: list[str], label_name: str, *, forced: bool = False) -> int | None:
    """Index of the label column if ``fields`` is a header line, else None.

    A header has two single-word column names, one of them a known text column name (``sentence``,
    ``text``, ``content``, ...; the other column is the label) or a known label column name (``label``,
    ``sentiment``, ``class``, ... or ``label_name``). ``forced`` (``header=True``): the line is a header
    whatever its names; the label column is then the first unless the names say otherwise.
    """
    names = [f.strip().lower() for f in fields]
    if len(names) != 2:
        return 0 if forced else None
    labels = LABEL_COLUMN_NAMES | {label_name.lower()}
    for idx, name in enumerate(names):
        if name in TEXT_COLUMN_NAMES and names[1 - idx] not in TEXT_COLUMN_NAMES:
            return 1 - idx
    for idx, name in enumerate(names):
        if name in labels and names[1 - idx] not in labels:
            return idx
    if forced:
        return 0
    return None


@gc_paused
def read_tsv(path: Path | str, *, label_name: str = "label", header: bool | None = None) -> Corpus:
    """Read sentence classification data: ``label<TAB>sentence`` per line (SST-2 style).

    An optional header line names the columns (``label<TAB>sentence``, ``sentence<TAB>label``,
    ``sentiment<TAB>text``, GLUE's ``label<TAB>content``); it fixes which column holds the label.
    Without a header the label comes first. The sentence is split on whitespace.

    Parameters
    ----------
    path : path-like
        UTF-8 tab-separated file with exactly two columns.
    label_name : str, default="label"
        Concept name under which the labels are stored in ``sentence_labels``.
    header : bool, optional
        True: the first line is a header; False: it is data; None (default): it is a header when both
        fields are single-word column names and one of them is a known text column name
        (:data:`TEXT_COLUMN_NAMES`) or label column name (:data:`LABEL_COLUMN_NAMES`, ``label_name``); a
        detected header is reported on the ``neuronlab.corpus`` logger.

    Returns
    -------
    Corpus
        Sentences with ``sentence_labels[label_name]``.

    Raises
    ------
    CorpusError
        Missing or non-UTF-8 file, empty lines, a line without exactly two tab-separated
        columns, an empty label or sentence, an empty corpus.
    """
    return Corpus.from_records(iter_tsv(path, label_name=label_name, header=header), source=str(Path(path)))


def iter_tsv(path: Path | str, *, label_name: str = "label", header: bool | None = None) -> Iterator[Record]:
    """Stream :func:`read_tsv`'s sentences one record at a time (the header is read from the first line)."""
    path = Path(path)
    lines = iter_lines(path)
    label_col, first = 0, 0
    line1 = next(lines, None)
    if line1 is not None:
        lines = itertools.chain([line1], lines)
        if header is not False:
            fields = line1.split("\t")
            plausible = len(fields) == 2 and all(_COLUMN_NAME.match(f.strip()) for f in fields)
            found = _header_label_column(fields, label_name, forced=bool(header)) if plausible or header else None
            if found is not None:
                label_col, first = found, 1
                next(lines)
                if header is None:
                    log.info("%s: line 1 (%s) read as a header, labels in column %r; pass header=False "
                             "(--no-header) if it is data", path, " | ".join(fields), fields[found].strip())
    text_col = 1 - label_col
    n = 0
    for lineno, line in enumerate(lines, start=first + 1):
        if not line.strip():
            raise fail(path, lineno, "empty line (expected label<TAB>sentence)")
        fields = line.split("\t")
        if len(fields) != 2:
            raise fail(path, lineno, f"expected 2 tab-separated columns (label, sentence), found {len(fields)}")
        label, words = fields[label_col].strip(), fields[text_col].split()
        if not label:
            raise fail(path, lineno, "empty label")
        if not words:
            raise fail(path, lineno, "empty sentence")
        n += 1
        yield words, _NO_LABELS, {label_name: label}
    require_sentences(path, n)


#: format name -> reader; every reader takes the path and the keyword options it declares.
READERS: dict[str, Callable[..., Corpus]] = {
    "text": read_text,
    "neurox": read_neurox,
    "tsv": read_tsv,
    "conllu": read_conllu,
}

#: format name -> streaming reader (same options as the reader; yields one record per sentence)
STREAMS: dict[str, Callable[..., Iterator[Record]]] = {
    "text": iter_text,
    "neurox": iter_neurox,
    "tsv": iter_tsv,
    "conllu": iter_conllu,
}

#: file suffix -> format used by :func:`read_corpus` when ``format`` is None (anything else: text).
SUFFIX_FORMATS: dict[str, str] = {".conllu": "conllu", ".tsv": "tsv", ".in": "neurox"}

# which keyword options each reader accepts (others are rejected with a clear message)
_OPTIONS: dict[str, frozenset[str]] = {
    "text": frozenset(),
    "neurox": frozenset({"labels", "label_name"}),
    "tsv": frozenset({"label_name", "header"}),
    "conllu": frozenset(),
}


def reader_options(path: Path | str, *, format: str | None = None, labels: Path | str | None = None,
                   label_name: str = "label", header: bool | None = None) -> tuple[str, dict]:
    """The format (inferred from the suffix when None) and the keyword options its reader takes.

    Raises
    ------
    InvalidParameterError
        As :func:`read_corpus`.
    """
    path = Path(path)
    if format is None:
        format = SUFFIX_FORMATS.get(path.suffix.lower(), "text")
    if format not in READERS:
        raise InvalidParameterError(
            f"format must be one of {choices(sorted(READERS))} (or None to infer it from the suffix); got {format!r}")
    if not isinstance(label_name, str) or not label_name:
        raise InvalidParameterError(f"label_name must be a non-empty string; got {label_name!r}")
    options = {"labels": labels, "label_name": label_name, "header": header}
    for name in ("labels", "header"):
        if options[name] is not None and name not in _OPTIONS[format]:
            raise InvalidParameterError(
                f"{name}= is only used by the formats {choices(k for k, v in _OPTIONS.items() if name in v)}; "
                f"got {name}={options[name]!r} with format={format!r}")
    return format, {k: v for k, v in options.items() if k in _OPTIONS[format]}


def read_corpus(path: Path | str, *, format: str | None = None, labels: Path | str | None = None,
                label_name: str = "label", header: bool | None = None) -> Corpus:
    """Read a corpus file in any registered format.

    Parameters
    ----------
    path : path-like
        The corpus file.
    format : {"text", "neurox", "tsv", "conllu"}, optional
        Reader to use; when None it is inferred from the suffix (``.conllu`` -> conllu,
        ``.tsv`` -> tsv, ``.in`` -> neurox, anything else -> text).
    labels : path-like, optional
        Label file of the ``neurox`` format (default: ``path`` with suffix ``.label``).
    label_name : str, default="label"
        Concept name for the labels of the ``neurox`` and ``tsv`` formats.
    header : bool, optional
        ``tsv`` only: whether the first line is a header (None: detect it; see :func:`read_tsv`).

    Returns
    -------
    Corpus

    Raises
    ------
    InvalidParameterError
        Unknown ``format`` (the message lists the valid ones), or ``labels`` given to a
        format that has no label file.
    CorpusError
        The file cannot be read; see the individual readers.

    See Also
    --------
    read_text, read_neurox, read_tsv, read_conllu

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.txt"
    >>> _ = p.write_text("the cat sat\\n")
    >>> read_corpus(p).sentences
    [['the', 'cat', 'sat']]
    """
    format, kwargs = reader_options(path, format=format, labels=labels, label_name=label_name, header=header)
    return READERS[format](Path(path), **kwargs)
