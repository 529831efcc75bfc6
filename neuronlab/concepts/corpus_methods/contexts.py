"""Top-k activating contexts of a neuron: the rows where it fires most, each with its sentence window.

The oldest way to look at a neuron (Karpathy et al. 2015; Dalvi et al. 2019, NeuroX's top words): sort the
corpus by the neuron's activation and read the words at the top, each in its sentence.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError

__all__ = ["top_contexts", "row_positions"]


def row_positions(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sentence index and position within the sentence of every row (int64 arrays of shape (n_rows,))."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    sentence = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    position = np.arange(int(offsets[-1]), dtype=np.int64) - offsets[sentence]
    return sentence, position


def top_contexts(x: np.ndarray, tokens: Sequence[str], offsets: np.ndarray, *, k: int = 10, window: int = 5,
                 largest: bool = True) -> list[dict]:
    """The ``k`` rows with the highest (``largest=False``: lowest) activation, with their context.

    Parameters
    ----------
    x : array-like of shape (n_rows,)
        One neuron's activation per row.
    tokens : sequence of str of length n_rows
        The word (or subword) of every row.
    offsets : array of int of shape (n_sentences + 1,)
        Rows of sentence i are ``offsets[i]:offsets[i+1]`` (the store's ``offsets``).
    k : int
    window : int
        Words shown on each side, within the sentence.
    largest : bool

    Returns
    -------
    list of dict
        Best first: ``row``, ``sentence``, ``position``, ``word``, ``activation``, ``left``, ``right`` (lists of
        words) and ``context`` (``"left [word] right"``). Ties go to the earlier row.

    Examples
    --------
    >>> top_contexts([0.1, 2.0, 0.3, 1.0], ["a", "b", "c", "d"], [0, 3, 4], k=2, window=1)[0]["context"]
    'a [b] c'
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    offsets = np.asarray(offsets, dtype=np.int64)
    if x.size != len(tokens) or int(offsets[-1]) != x.size:
        raise InvalidParameterError(f"top_contexts: {x.size} activations, {len(tokens)} tokens and "
                                    f"{int(offsets[-1])} rows in offsets must agree")
    if k < 1 or window < 0:
        raise InvalidParameterError(f"top_contexts: k must be >= 1 and window >= 0; got k={k}, window={window}")
    key = -x if largest else x
    order = np.lexsort((np.arange(x.size), key))[:k]
    sentence, position = row_positions(offsets)
    out = []
    for r in order.tolist():
        s, p = int(sentence[r]), int(position[r])
        start, stop = int(offsets[s]), int(offsets[s + 1])
        left = list(tokens[max(start, r - window):r])
        right = list(tokens[r + 1:min(stop, r + 1 + window)])
        out.append({"row": r, "sentence": s, "position": p, "word": tokens[r], "activation": float(x[r]),
                    "left": left, "right": right,
                    "context": " ".join(left + [f"[{tokens[r]}]"] + right)})
    return out
