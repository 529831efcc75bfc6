"""Reader for Universal Dependencies CoNLL-U files.

Format reference: https://universaldependencies.org/format.html (de Marneffe et al., 2021,
"Universal Dependencies", Computational Linguistics 47(2)).
"""
from __future__ import annotations

from pathlib import Path

from neuronlab.corpus._io import fail, gc_paused, read_lines, require_sentences
from neuronlab.corpus.base import Corpus

__all__ = ["read_conllu", "SENTENCE_LABEL_PREFIX", "NO_BREAK_SPACE"]

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
    without the comment.

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
    path = Path(path)
    lines = read_lines(path)
    sentences: list[list[str]] = []
    columns: dict[str, list[list[str | None]]] = {name: [] for name, _ in _COLUMN_CONCEPTS}
    # sparse feature values: name -> [(sentence index, word index, value), ...]
    features: dict[str, list[tuple[int, int, str]]] = {}
    sentence_comments: list[dict[str, str]] = []

    words: list[str] = []
    upos: list[str | None] = []
    xpos: list[str | None] = []
    deprel: list[str | None] = []
    comments: dict[str, str] = {}
    start = None  # line where the current sentence starts
    for lineno, line in enumerate(lines + [""], start=1):  # the sentinel closes the last sentence
        if not line or line.isspace():
            if start is not None:
                if not words:
                    raise fail(path, start, f"sentence (lines {start}-{lineno - 1}) has no words")
                sentences.append(words)
                columns["upos"].append(upos)
                columns["xpos"].append(xpos)
                columns["deprel"].append(deprel)
                sentence_comments.append(comments)
                words, upos, xpos, deprel, comments, start = [], [], [], [], {}, None
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
            where = (len(sentences), len(words))
            for name, value in _parse_feats(fields[5], path, lineno).items():
                features.setdefault(name, []).append((*where, value))
        words.append(form)
        upos.append(None if fields[3] == "_" else fields[3])
        xpos.append(None if fields[4] == "_" else fields[4])
        deprel.append(None if fields[7] == "_" else fields[7])
    require_sentences(path, len(sentences))

    word_labels: dict[str, list[list[str | None]]] = {}
    for name, values in columns.items():
        if any(v is not None for sent in values for v in sent):
            word_labels[name] = values
    for name, entries in features.items():
        table: list[list[str | None]] = [[None] * len(s) for s in sentences]
        for i, j, value in entries:
            table[i][j] = value
        word_labels[name] = table
    concepts = dict.fromkeys(k for c in sentence_comments for k in c)
    sentence_labels = {k: [c.get(k) for c in sentence_comments] for k in concepts}
    return Corpus(sentences=sentences, word_labels=word_labels,
                  sentence_labels=sentence_labels, source=str(path))
