"""Atomic concepts of compositional explanations: one bit-packed row mask per concept value and per word.

An atom is a set of rows: ``upos=NOUN`` (every row whose UPOS is NOUN), ``Tense=Past``, ``polarity=neg`` (a
sentence-level concept: every row of the sentences labelled neg), and ``word=dog`` (every row whose word is
``dog``). Concept atoms are few and packed once (:attr:`Atoms.masks`); word atoms are many (one per word type)
and are packed on demand (:meth:`Atoms.word_masks`) from a row index per word, for the handful of words a
neuron's search considers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError, choices

from .bitmask import n_words, pack

__all__ = ["Atoms", "WORD"]

#: the name of the word-identity pseudo-concept in atom names (``word=dog``)
WORD = "word"


@dataclass(frozen=True)
class Atoms:
    """The atomic concepts of a corpus.

    Build with :meth:`from_arrays` or :meth:`from_store`. Atom ids are ``0..n_concept_atoms-1`` for the concept
    atoms (in :attr:`names` order) and ``n_concept_atoms + w`` for word ``w`` of :attr:`vocabulary`.

    Attributes
    ----------
    n_rows : int
    names : list of str
        Concept atoms, ``"<concept>=<value>"``.
    masks : ndarray of uint64 of shape (n_concept_atoms, ceil(n_rows / 64))
        Their packed row masks.
    vocabulary : list of str
        Word types (empty when words are not used).
    word_ids : ndarray of int64 of shape (n_rows,)
        Index into :attr:`vocabulary` of every row's word (-1: none).
    """

    n_rows: int
    names: list
    masks: np.ndarray
    vocabulary: list = field(default_factory=list)
    word_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(
        cls,
        *,
        words: Sequence[str] | None = None,
        concepts: Mapping[str, Sequence[Any]] | None = None,
        lowercase: bool = True,
    ) -> "Atoms":
        """Atoms from per-row words and per-row concept values.

        Parameters
        ----------
        words : sequence of str of length n_rows, optional
            The word of every row (word identity atoms ``word=<w>``).
        concepts : mapping of name to sequence of length n_rows, optional
            Concept values per row (``None`` = no value); one atom per distinct value, in sorted order.
        lowercase : bool, default True
            Fold words to lower case (``word=The`` and ``word=the`` are one atom), as for an uncased model.

        Examples
        --------
        >>> a = Atoms.from_arrays(words=["The", "dog", "the"], concepts={"upos": ["DET", "NOUN", "DET"]})
        >>> a.names, a.vocabulary, a.word_ids.tolist()
        (['upos=DET', 'upos=NOUN'], ['dog', 'the'], [1, 0, 1])
        """
        concepts = dict(concepts or {})
        sizes = {len(v) for v in concepts.values()} | ({len(words)} if words is not None else set())
        if len(sizes) != 1:
            raise InvalidParameterError("Atoms.from_arrays: give words and/or concepts, all with one value per row "
                                        f"(got lengths {sorted(sizes) or 'none'})")
        n_rows = sizes.pop()
        names, rows = [], []
        for concept, values in concepts.items():
            if str(concept) == WORD:
                raise InvalidParameterError(f"a concept may not be called {WORD!r}: that name is the word-identity "
                                            "atoms'; rename the label")
            arr = np.array([None if v is None else str(v) for v in values], dtype=object)
            present = arr != None  # noqa: E711 - elementwise
            vals, inv = np.unique(arr[present].astype(str), return_inverse=True)
            codes = np.full(n_rows, -1, dtype=np.int64)
            codes[present] = inv.reshape(-1)
            for i, value in enumerate(vals.tolist()):
                names.append(f"{concept}={value}")
                rows.append(pack(codes == i))  # packed at once: never n_atoms x n_rows booleans
        masks = np.array(rows, dtype=np.uint64).reshape(len(rows), n_words(n_rows))
        if words is None:
            return cls(n_rows, names, masks)
        folded = [w.lower() if lowercase else w for w in map(str, words)]
        vocabulary, word_ids = np.unique(np.array(folded, dtype=object), return_inverse=True)
        return cls(n_rows, names, masks, [str(w) for w in vocabulary], word_ids.astype(np.int64).reshape(-1))

    @classmethod
    def from_store(
        cls,
        store: Any,
        *,
        concepts: Sequence[str] | None = None,
        words: bool = True,
        lowercase: bool = True,
    ) -> "Atoms":
        """Atoms of an :class:`~neuronlab.store.ActivationStore`: its labels and (word or token stores) its words.

        Parameters
        ----------
        store : ActivationStore
        concepts : sequence of str, optional
            Labels to use (default: all). Sentence-level labels apply to every row of their sentence.
        words : bool, default True
            Add word-identity atoms (the row tokens; refused on a sentence-level store).
        lowercase : bool, default True
        """
        available = store.label_names()
        names = list(available) if concepts is None else list(concepts)
        unknown = [c for c in names if c not in available]
        if unknown:
            raise InvalidParameterError(f"concept {unknown[0]!r} is not in {str(store.path)!r}; stored concepts: "
                                        f"{choices(available) or '(none)'}")
        if words and store.granularity == "sentence":
            raise InvalidParameterError("words=True needs a word or token store: the rows of this store are "
                                        "sentences; pass words=False (concept atoms only)")
        row_sentence = store.row_sentence() if store.granularity != "sentence" else None
        values: dict[str, np.ndarray] = {}
        for name in names:
            label = store.label(name)
            per_entry = label.names()
            if label.level == "sentence" and row_sentence is not None:
                per_entry = per_entry[row_sentence]
            values[name] = per_entry
        if not values and not words:
            raise InvalidParameterError(f"no atoms: {str(store.path)!r} has no labels and words=False")
        return cls.from_arrays(words=store.tokens() if words else None, concepts=values, lowercase=lowercase)

    # ------------------------------------------------------------------ access
    @property
    def n_concept_atoms(self) -> int:
        return len(self.names)

    @property
    def n_atoms(self) -> int:
        return len(self.names) + len(self.vocabulary)

    def name(self, atom: int) -> str:
        """The name of atom id ``atom`` (``upos=NOUN`` or ``word=dog``)."""
        atom = int(atom)
        if atom < self.n_concept_atoms:
            return self.names[atom]
        return f"{WORD}={self.vocabulary[atom - self.n_concept_atoms]}"

    def word_masks(self, words: np.ndarray) -> np.ndarray:
        """Packed masks of the word atoms ``words`` (indices into :attr:`vocabulary`), shape (len(words), n_words)."""
        words = np.asarray(words, dtype=np.int64).reshape(-1)
        out = np.zeros((words.size, self.n_rows), dtype=bool)
        for i, w in enumerate(words):
            out[i] = self.word_ids == w
        return pack(out) if words.size else np.zeros((0, n_words(self.n_rows)), dtype=np.uint64)

    def masks_of(self, atoms: np.ndarray) -> np.ndarray:
        """Packed masks of any atom ids (concept or word), shape (len(atoms), n_words)."""
        atoms = np.asarray(atoms, dtype=np.int64).reshape(-1)
        is_word = atoms >= self.n_concept_atoms
        out = np.empty((atoms.size, n_words(self.n_rows)), dtype=np.uint64)
        out[~is_word] = self.masks[atoms[~is_word]]
        if is_word.any():
            out[is_word] = self.word_masks(atoms[is_word] - self.n_concept_atoms)
        return out
