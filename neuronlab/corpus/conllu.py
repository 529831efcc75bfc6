"""Reader for Universal Dependencies CoNLL-U files.

Format reference: https://universaldependencies.org/format.html (de Marneffe et al., 2021,
"Universal Dependencies", Computational Linguistics 47(2)).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

from neuronlab.corpus._io import fail, gc_paused, iter_lines, require_sentences
from neuronlab.corpus.base import Corpus, Record

__all__ = ["read_conllu", "iter_conllu", "SENTENCE_LABEL_PREFIX", "NO_BREAK_SPACE"]

#: comments ``# sent_<concept> = value`` carry sentence-level labels (``# sent_id`` excepted).
SENTENCE_LABEL_PREFIX = "sent_"
#: replaces a space inside a FORM, so that the word stays one word (one row, one label) in the stored
#: sentence text, which joins words with spaces
NO_BREAK_SPACE = "\u00a0"
_N_COLUMNS = 10
_COLUMN_CONCEPTS = (("upos", 3), ("xpos", 4), ("deprel", 7))


def _is_int(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts "²" or Arabic-Indic digits)."""
    return text.isascii() and text.isdigit()


def _parse_feats(feats: str, path: Path, lineno: int) -> dict[str, str]:
    out = {}
    for item in feats.split("|"):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise fail(path, lineno, f"malformed FEATS entry {item!r} in {feats!r}; expected Name=Value")
        out[name] = value
    return out


def iter_conllu(path: Path | str) -> Iterator[Record]:
    """Stream the sentences of a CoNLL-U file, one :data:`~neuronlab.corpus.base.Record` at a time.

    The file is parsed line by line (:func:`~neuronlab.corpus._io.iter_lines`); memory holds one
    sentence. Each record's word labels hold ``upos``, ``xpos``, ``deprel`` (None where the column is
    ``_``) and every feature of the sentence's FEATS (None for words without it); its sentence labels
    hold the sentence's ``# sent_<concept> = value`` comments. :func:`read_conllu` gives the rules.

    Raises
    ------
    CorpusError
        As :func:`read_conllu`, when the reader reaches the bad line (an empty file at the end).
    """
    path = Path(path)
    words: list[str] = []
    upos: list[str | None] = []
    xpos: list[str | None] = []
    deprel: list[str | None] = []
    feats: dict[str, dict[int, str]] = {}
    comments: dict[str, str] = {}
    start = None  # line where the current sentence starts
    n_sentences = 0
    lineno = 0
    for lineno, line in enumerate(itertools.chain(iter_lines(path), [""]), start=1):  # "" closes the last one
        if not line or line.isspace():
            if start is not None:
                if not words:
                    raise fail(path, start, f"sentence (lines {start}-{lineno - 1}) has no words")
                labels: dict[str, list[str | None]] = {"upos": upos, "xpos": xpos, "deprel": deprel}
                for name, values in feats.items():
                    column: list[str | None] = [None] * len(words)
                    for j, value in values.items():
                        column[j] = value
                    labels[name] = column
                yield words, labels, comments
                n_sentences += 1
                words, upos, xpos, deprel, feats, comments, start = [], [], [], [], {}, {}, None
            continue
        if start is None:
            start = lineno
        if line[0] == "#":
            key, sep, value = line[1:].partition("=")
            key = key.strip()
            if sep and key.startswith(SENTENCE_LABEL_PREFIX) and key != "sent_id":
                comments[key[len(SENTENCE_LABEL_PREFIX):]] = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != _N_COLUMNS:
            raise fail(path, lineno, f"expected {_N_COLUMNS} tab-separated columns, found {len(fields)}")
        wid = fields[0]
        if not _is_int(wid):
            head, sep, tail = wid.partition("-") if "-" in wid else wid.partition(".")
            if sep and _is_int(head) and _is_int(tail):
                continue  # multi-word token range or empty node
            raise fail(path, lineno, f"ID {wid!r} is not an integer, a range (1-2) or an empty node (1.1)")
        if int(wid) != len(words) + 1:
            expected = len(words) + 1
            raise fail(path, lineno, f"word ID {wid} where {expected} was expected: the IDs of a sentence's words "
                                     "must be 1, 2, 3, ... without gaps or repeats")
        if not fields[1].strip():
            raise fail(path, lineno, "empty FORM column")
        form = fields[1]
        if " " in form:  # UD allows spaces in FORM ("500 000"): keep one word, one row
            form = form.replace(" ", NO_BREAK_SPACE)
        if fields[5] != "_":
            for name, value in _parse_feats(fields[5], path, lineno).items():
                feats.setdefault(name, {})[len(words)] = value
        words.append(form)
        upos.append(None if fields[3] == "_" else fields[3])
        xpos.append(None if fields[4] == "_" else fields[4])
        deprel.append(None if fields[7] == "_" else fields[7])
    require_sentences(path, n_sentences)


@gc_paused
def read_conllu(path: Path | str) -> Corpus:
    """Read a CoNLL-U file into a :class:`~neuronlab.corpus.base.Corpus`.

    Words are taken from the FORM column of the syntactic words; multi-word token ranges
    (``1-2``) and empty nodes (``8.1``) are skipped. The word IDs of a sentence must run 1, 2, 3, ...
    A space inside a FORM (allowed by UD, e.g. ``500 000``) becomes a no-break space (U+00A0), so that
    the word stays one word with one row and one label, also in the stored sentence text. Word-level concepts are ``upos``,
    ``xpos`` and ``deprel`` (left out when the column is ``_`` throughout the file) and one
    concept per morphological feature seen in FEATS (``Tense``, ``Number``, ``Person``, ...),
    ``None`` for words without that feature. Comments ``# sent_<concept> = value`` (other
    than ``# sent_id``) become sentence-level concepts ``<concept>``, ``None`` for sentences
    without the comment. :func:`iter_conllu` streams the same sentences one at a time.

    Parameters
    ----------
    path : path-like
        The ``.conllu`` file (UTF-8).

    Returns
    -------
    Corpus
        One entry per sentence of the file.

    Raises
    ------
    CorpusError
        Missing or non-UTF-8 file, a word line without exactly 10 tab-separated columns, a
        malformed ID or FEATS value, word IDs that skip or repeat a number, a sentence without words, or a file without sentences.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.conllu"
    >>> _ = p.write_text("# sent_tense = Past\\n1\\tran\\trun\\tVERB\\tVBD\\tTense=Past\\t0\\troot\\t_\\t_\\n\\n")
    >>> c = read_conllu(p)
    >>> c.sentences, c.word_labels["Tense"], c.sentence_labels["tense"]
    ([['ran']], [['Past']], ['Past'])
    """
    return Corpus.from_records(iter_conllu(path), source=str(Path(path)))
