"""The concept corpus embedded in the repository (``data/concepts.conllu``).

It is written by ``data/make_corpus.py`` from a seeded English grammar, so its labels (UPOS,
PTB XPOS, Tense, Number, Person, ..., and the sentence-level concepts) are correct by
construction. Word types are ambiguous as in real English (``watch`` as noun and verb, ``that``
as determiner, pronoun and subordinator, ...), so that a probe and its control task (Hewitt &
Liang 2019) mean on it what they mean on real text; see ``data/README.md``.
"""
from __future__ import annotations

from pathlib import Path

from neuronlab.corpus.base import Corpus
from neuronlab.corpus.conllu import read_conllu
from neuronlab.errors import CorpusError

__all__ = ["EMBEDDED_CORPUS", "load_embedded_corpus"]

#: location of the embedded corpus in a source checkout
EMBEDDED_CORPUS: Path = Path(__file__).resolve().parents[2] / "data" / "concepts.conllu"


def load_embedded_corpus() -> Corpus:
    """Load the embedded concept corpus.

    Returns
    -------
    Corpus
        6,000 generated English sentences. Word-level concepts: ``upos``, ``xpos``,
        ``deprel`` and the FEATS (``Tense``, ``Number``, ``Person``, ``VerbForm``, ...);
        sentence-level concepts: ``polarity`` (positive/negative), ``tense`` (Past/Pres/Fut,
        the main clause's time: future by ``will``, ``going to`` or a present with a future
        adverbial), ``type`` (declarative/question), ``subject_number`` (Sing/Plur, the main
        clause's subject, often behind an attractor) and ``relative_clause`` (yes/no).

    Raises
    ------
    CorpusError
        When the file is absent (for example in an installation without the ``data/`` folder).

    Examples
    --------
    >>> corpus = load_embedded_corpus()  # doctest: +SKIP
    >>> sorted(corpus.sentence_labels)  # doctest: +SKIP
    ['polarity', 'relative_clause', 'subject_number', 'tense', 'type']
    """
    if not EMBEDDED_CORPUS.is_file():
        raise CorpusError(
            f"the embedded corpus {EMBEDDED_CORPUS} is absent; it ships with a source checkout of "
            "neuronlab (data/concepts.conllu) and can be regenerated with `python data/make_corpus.py`")
    return read_conllu(EMBEDDED_CORPUS)
