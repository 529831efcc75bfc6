"""Corpora read as a stream: sentence blocks from the file, never the whole corpus in memory.

A :class:`CorpusStream` reads a corpus file (any format of :data:`~neuronlab.corpus.readers.READERS`)
with the streaming reader of its format (:data:`~neuronlab.corpus.readers.STREAMS`), which parses one
line and builds one sentence at a time. :meth:`CorpusStream.blocks` groups the sentences into small
:class:`~neuronlab.corpus.base.Corpus` blocks; each pass over the stream re-reads the file, so a corpus
of ten million sentences is never a Python list. An in-memory :class:`~neuronlab.corpus.base.Corpus`
has the same :meth:`~neuronlab.corpus.base.Corpus.blocks` method, so consumers (the extractor) take
either.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

from neuronlab.corpus.base import Corpus, Record
from neuronlab.corpus.readers import STREAMS, _label_path, reader_options

__all__ = ["CorpusStream", "stream_corpus", "BLOCK_SENTENCES"]

#: sentences per block: enough to amortise per-block work, few enough that a block is a few hundred KB
BLOCK_SENTENCES = 1024


class CorpusStream:
    """A corpus file read sentence by sentence, in blocks, each time it is iterated.

    Parameters
    ----------
    path : path-like
        The corpus file.
    format, labels, label_name, header
        As :func:`~neuronlab.corpus.readers.read_corpus` (checked here, before any reading).

    Attributes
    ----------
    format : str
        The format used (inferred from the suffix when not given).
    source : str
        Provenance, as the in-memory reader records it (``path``, or ``path + labels`` for neurox).

    Notes
    -----
    A block holds the concepts that have a value in its sentences; a concept absent from a block has
    no value there. A block of the stream equals the same sentences of
    :func:`~neuronlab.corpus.readers.read_corpus`'s corpus up to those absent concepts.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.tsv"
    >>> _ = p.write_text("pos\\tgood film\\nneg\\tbad\\npos\\tfine\\n")
    >>> [b.sentences for b in CorpusStream(p).blocks(2)]
    [[['good', 'film'], ['bad']], [['fine']]]
    >>> next(CorpusStream(p).blocks(2, start=1)).sentence_labels
    {'label': ['neg', 'pos']}
    """

    def __init__(self, path: Path | str, *, format: str | None = None, labels: Path | str | None = None,
                 label_name: str = "label", header: bool | None = None):
        self.path = Path(path)
        self.format, self.options = reader_options(self.path, format=format, labels=labels, label_name=label_name,
                                                   header=header)
        self.source = (f"{self.path} + {_label_path(self.path, labels)}" if self.format == "neurox"
                       else str(self.path))

    def __repr__(self) -> str:
        return f"CorpusStream({str(self.path)!r}, format={self.format!r})"

    def records(self) -> Iterator[Record]:
        """Every sentence of the file, in order, as ``(words, word_labels, sentence_labels)`` records."""
        return STREAMS[self.format](self.path, **self.options)

    def blocks(self, size: int = BLOCK_SENTENCES, *, start: int = 0, stop: int | None = None) -> Iterator[Corpus]:
        """Sentences ``[start, stop)`` in consecutive blocks of ``size`` (the last may be shorter).

        Reading stops at ``stop``; the sentences before ``start`` are parsed (and checked) but not kept.
        """
        records = itertools.islice(self.records(), start, stop)
        while True:
            block = list(itertools.islice(records, size))
            if not block:
                return
            yield Corpus.from_records(block, source=self.source)

    def read(self) -> Corpus:
        """The whole corpus in memory (what :func:`~neuronlab.corpus.readers.read_corpus` returns)."""
        return Corpus.from_records(self.records(), source=self.source)


def stream_corpus(path: Path | str, *, format: str | None = None, labels: Path | str | None = None,
                  label_name: str = "label", header: bool | None = None) -> CorpusStream:
    """The streaming counterpart of :func:`~neuronlab.corpus.readers.read_corpus` (same options).

    Returns
    -------
    CorpusStream
        Nothing is read until it is iterated.
    """
    return CorpusStream(path, format=format, labels=labels, label_name=label_name, header=header)
