"""Reader for Universal Dependencies CoNLL-U files.

Format reference: https://universaldependencies.org/format.html (de Marneffe et al., 2021,
"Universal Dependencies", Computational Linguistics 47(2)).
"""
from __future__ import annotations

from pathlib import Path

from neuronlab.corpus._io import fail, gc_paused, read_lines, require_sentences
from neuronlab.corpus.base import Corpus

__all__ = ["read_conllu", "SENTENCE_LABEL_PREFIX"]

#: comments ``# sent_<concept> = value`` carry sentence-level labels (``# sent_id`` excepted).
SENTENCE_LABEL_PREFIX = "sent_"
_N_COLUMNS = 10
_COLUMN_CONCEPTS = (("upos", 3), ("xpos", 4), ("deprel", 7))


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
    (``1-2``) and empty nodes (``8.1``) are skipped. Word-level concepts are ``upos``,
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
        malformed ID or FEATS value, a sentence without words, or a file without sentences.

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
        if not wid.isdigit():
            head, sep, tail = wid.partition("-") if "-" in wid else wid.partition(".")
            if sep and head.isdigit() and tail.isdigit():
                continue  # multi-word token range or empty node
            raise fail(path, lineno, f"ID {wid!r} is not an integer, a range (1-2) or an empty node (1.1)")
        if not fields[1]:
            raise fail(path, lineno, "empty FORM column")
        if fields[5] != "_":
            where = (len(sentences), len(words))
            for name, value in _parse_feats(fields[5], path, lineno).items():
                features.setdefault(name, []).append((*where, value))
        words.append(fields[1])
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
