"""A concept annotation stored with the activations (``/labels/<concept>``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Label"]


@dataclass(frozen=True)
class Label:
    """A concept annotation stored with the activations.

    Attributes
    ----------
    name : str
        Concept name (``upos``, ``Tense``, ``polarity``, ...).
    values : ndarray of int32
        Class index per row (``level == "row"``) or per sentence (``level == "sentence"``); -1 = no value.
    vocabulary : list of str
        Class names; ``values == i`` means ``vocabulary[i]``.
    level : {"row", "sentence"}
    """

    name: str
    values: np.ndarray
    vocabulary: list
    level: str

    @property
    def n_classes(self) -> int:
        return len(self.vocabulary)

    def names(self) -> np.ndarray:
        """Class names per entry (``None`` where the value is missing)."""
        vocab = np.array(list(self.vocabulary) + [None], dtype=object)
        return vocab[self.values]
