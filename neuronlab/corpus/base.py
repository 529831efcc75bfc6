"""The in-memory corpus every reader returns and every extractor consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Corpus", "MISSING"]

#: label value meaning "this word has no value for this concept" (e.g. Tense of a noun);
#: stored as -1 in the activation store and dropped by the probing helpers.
MISSING = None


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

    def subset(self, indices) -> "Corpus":
        """A corpus with only the sentences at ``indices`` (in that order)."""
        idx = list(indices)
        return Corpus(
            sentences=[self.sentences[i] for i in idx],
            word_labels={k: [v[i] for i in idx] for k, v in self.word_labels.items()},
            sentence_labels={k: [v[i] for i in idx] for k, v in self.sentence_labels.items()},
            source=self.source,
        )
