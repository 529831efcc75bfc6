"""Top n-grams of a neuron: the word n-gram types of the corpus with the highest mean activation.

An occurrence of an n-gram (n consecutive words of one sentence) is scored by the neuron's activation over
its rows (``reduce="mean"``, ``"max"`` or ``"last"``, the activation at its last word, as Poerner et al. 2018
read a recurrent neuron); a type is scored by the mean over its occurrences, among types seen at least
``min_count`` times. These are the corpus n-grams that Gumbel-softmax generation
(:mod:`neuronlab.models.generation`) is compared with.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError, choices

__all__ = ["top_ngrams", "REDUCERS"]

#: name -> fn(windows (n_occurrences, n)) -> (n_occurrences,)
REDUCERS = {"mean": lambda w: w.mean(axis=1), "max": lambda w: w.max(axis=1), "last": lambda w: w[:, -1]}


def top_ngrams(x: np.ndarray, tokens: Sequence[str], offsets: np.ndarray, *, n: int = 1, k: int = 10,
               min_count: int = 1, reduce: str = "mean", lowercase: bool = True) -> list[dict]:
    """The ``k`` n-gram types with the highest mean activation.

    Parameters
    ----------
    x : array-like of shape (n_rows,)
    tokens : sequence of str of length n_rows
    offsets : array of int of shape (n_sentences + 1,)
    n : int
        Words per n-gram (never across a sentence boundary).
    k : int
    min_count : int
        Fewest occurrences of a type to be listed.
    reduce : {"mean", "max", "last"}
        Score of one occurrence from the activations over its rows.
    lowercase : bool

    Returns
    -------
    list of dict
        Best first: ``ngram`` (words joined by spaces), ``activation`` (mean over occurrences), ``max``
        (best occurrence), ``count``. Ties go to the alphabetically first n-gram.

    Examples
    --------
    >>> x = [1.0, 3.0, 0.0, 1.0, 3.0]
    >>> top_ngrams(x, ["a", "b", "c", "a", "b"], [0, 3, 5], n=2, k=2)
    [{'ngram': 'a b', 'activation': 2.0, 'max': 2.0, 'count': 2}, {'ngram': 'b c', 'activation': 1.5, 'max': 1.5, 'count': 1}]
    """
    if reduce not in REDUCERS:
        raise InvalidParameterError(f"reduce must be one of {choices(REDUCERS)}; got {reduce!r}")
    if n < 1 or k < 1 or min_count < 1:
        raise InvalidParameterError(f"top_ngrams: n, k and min_count must be >= 1; got n={n}, k={k}, "
                                    f"min_count={min_count}")
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    offsets = np.asarray(offsets, dtype=np.int64)
    if x.size != len(tokens) or int(offsets[-1]) != x.size:
        raise InvalidParameterError(f"top_ngrams: {x.size} activations, {len(tokens)} tokens and "
                                    f"{int(offsets[-1])} rows in offsets must agree")
    lengths = np.diff(offsets)
    starts = np.concatenate([np.arange(o, o + max(0, int(L) - n + 1)) for o, L in zip(offsets[:-1], lengths)]
                            or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    if starts.size == 0:
        return []
    windows = x[starts[:, None] + np.arange(n)[None, :]]
    scores = REDUCERS[reduce](windows)
    words = np.array([t.lower() if lowercase else t for t in tokens], dtype=object)
    grams = words[starts]
    for i in range(1, n):
        grams = grams + " " + words[starts + i]
    types, inverse, counts = np.unique(grams, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    mean = np.bincount(inverse, weights=scores, minlength=types.size) / counts
    best = np.full(types.size, -np.inf)
    np.maximum.at(best, inverse, scores)
    keep = np.flatnonzero(counts >= min_count)
    order = keep[np.lexsort((keep, -mean[keep]))][:k]  # types are sorted, so index order is alphabetical
    return [{"ngram": str(types[t]), "activation": float(mean[t]), "max": float(best[t]), "count": int(counts[t])}
            for t in order]
