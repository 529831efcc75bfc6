"""The in-memory corpus every reader returns and every extractor consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Tuple

__all__ = ["Corpus", "MISSING", "Record"]

#: label value meaning "this word has no value for this concept" (e.g. Tense of a noun);
#: stored as -1 in the activation store and dropped by the probing helpers.
MISSING = None

#: one sentence as the streaming readers yield it: ``(words, word_labels, sentence_labels)`` with
#: ``word_labels[concept]`` one value (or None) per word and ``sentence_labels[concept]`` a value (or None);
#: a concept a record lacks has no value in that sentence
Record = Tuple[list, dict, dict]


@dataclass
class Corpus:
    """Tokenised sentences with word-level and sentence-level concept labels.

    Parameters
    ----------
    sentences : list of list of str
        Whitespace-level words of each sentence (never empty).
    word_labels : dict of str to list of list of (str or None)
        For each concept, one label per word of each sentence (same nesting as ``sentences``);
        ``None`` where the word has no value for that concept.
    sentence_labels : dict of str to list of (str or None)
        For each sentence-level concept, one label per sentence.
    source : str
        Where the corpus came from (path or description), kept as provenance.
    """

    sentences: list[list[str]]
    word_labels: dict[str, list[list[str | None]]] = field(default_factory=dict)
    sentence_labels: dict[str, list[str | None]] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def n_words(self) -> int:
        return sum(len(s) for s in self.sentences)

    def texts(self) -> list[str]:
        """Sentences joined by single spaces."""
        return [" ".join(s) for s in self.sentences]

    @classmethod
    def from_records(cls, records: Iterable[Record], *, source: str = "") -> "Corpus":
        """Collect streamed :data:`Record` s into a corpus.

        A concept is kept when at least one of the records has a value (not None) for it, in the order
        the concepts first appear; sentences whose record lacks it get None (for every word).

        Examples
        --------
        >>> c = Corpus.from_records([(["a", "b"], {"pos": ["D", None]}, {}), (["c"], {}, {"mood": "x"})])
        >>> c.word_labels, c.sentence_labels
        ({'pos': [['D', None], [None]]}, {'mood': [None, 'x']})
        """
        sentences: list[list[str]] = []
        word: dict[str, dict[int, list]] = {}
        sent: dict[str, dict[int, object]] = {}
        present: set[str] = set()
        for i, (words, word_labels, sentence_labels) in enumerate(records):
            sentences.append(words)
            for name, values in word_labels.items():
                word.setdefault(name, {})[i] = values
                if name not in present and any(v is not None for v in values):
                    present.add(name)
            for name, value in sentence_labels.items():
                sent.setdefault(name, {})[i] = value
                if value is not None:
                    present.add("\0" + name)
        n = len(sentences)
        word_labels = {name: [col[i] if i in col else [None] * len(sentences[i]) for i in range(n)]
                       for name, col in word.items() if name in present}
        sentence_labels = {name: [col.get(i) for i in range(n)]
                           for name, col in sent.items() if "\0" + name in present}
        return cls(sentences=sentences, word_labels=word_labels, sentence_labels=sentence_labels, source=source)

    def blocks(self, size: int = 1024, *, start: int = 0, stop: int | None = None):
        """Sentences ``[start, stop)`` in consecutive sub-corpora of ``size`` sentences (as
        :meth:`neuronlab.corpus.stream.CorpusStream.blocks` streams a file)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for a in range(start, stop, size):
            yield self.subset(range(a, min(a + size, stop)))

    def subset(self, indices) -> "Corpus":
        """A corpus with only the sentences at ``indices`` (in that order)."""
        idx = list(indices)
        return Corpus(
            sentences=[self.sentences[i] for i in idx],
            word_labels={k: [v[i] for i in idx] for k, v in self.word_labels.items()},
            sentence_labels={k: [v[i] for i in idx] for k, v in self.sentence_labels.items()},
            source=self.source,
        )
