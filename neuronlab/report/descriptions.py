"""One-line descriptions of neurons from their best concept classes, scored by detection AUC on held-out sentences.

The score follows the simulation scoring of Bills et al. (2023), "Language models can explain neurons in language
models", with a predicate instead of a simulator: how well the description ("word is NOUN and Number=Plur") ranks
the rows of sentences it was not made from by the neuron's activation (ROC AUC; 0.5 = chance, 1 = perfect). Used by
:mod:`neuronlab.report.neurons` and the neuron dossiers.

Examples
--------
>>> detection_auc([0.1, 0.9, 0.4, 0.8], [False, True, False, True])
1.0
>>> int(heldout_sentences(10, fraction=0.2, seed=0).sum())
2
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError

__all__ = ["Description", "describe_neurons", "detection_auc", "heldout_sentences", "average_ranks"]


def heldout_sentences(n_sentences: int, *, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean mask of held-out sentences: ``round(fraction n)`` of them (at least 1 when n > 1), drawn with
    ``numpy.random.default_rng(seed)``."""
    if not 0 < fraction < 1:
        raise InvalidParameterError(f"heldout fraction must lie in (0, 1), got {fraction}")
    k = min(n_sentences - 1, max(1, int(round(fraction * n_sentences)))) if n_sentences > 1 else 0
    mask = np.zeros(n_sentences, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n_sentences)[:k]] = True
    return mask


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (``scipy.stats.rankdata``'s default, without importing
    scipy.stats).

    >>> average_ranks([3.0, 1.0, 3.0, 2.0]).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    dense = np.empty(x.size, dtype=np.int64)
    dense[order] = np.cumsum(first)
    bounds = np.r_[np.flatnonzero(first), x.size]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def detection_auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """ROC AUC of ``scores`` for the binary ``positive`` (Mann-Whitney U with average ranks for ties); None if
    one class is empty. Equals :func:`sklearn.metrics.roc_auc_score`."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return None
    ranks = average_ranks(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass
class Description:
    """A neuron's one-line description and its score.

    Attributes
    ----------
    text : str
    parts : list of dict
        ``concept``, ``cls``, ``positive`` (the neuron is higher on the class) and ``d`` (standardised mean
        difference of the class against every other row, on the training sentences).
    strong : bool
        At least one class passed the threshold (otherwise ``parts`` holds the closest one and the text says so).
    auc : float or None
        Detection AUC of the predicate (the conjunction of the parts) on the held-out rows.
    n_heldout, n_positive : int
        Held-out rows and those where the predicate holds.
    """

    text: str
    parts: list
    strong: bool
    auc: float | None
    n_heldout: int
    n_positive: int


def _class_effects(X: np.ndarray, XX: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised mean difference of each class against every other row (unlabelled rows included: the
    predicate "word is C" is false there), shape (n_classes, n_neurons), and the class counts.

    ``X`` holds the activations centred per neuron (against cancellation) and ``XX = X * X``; both are computed
    once for every concept."""
    from scipy.sparse import csr_matrix

    ok = np.flatnonzero(y >= 0)
    onehot = csr_matrix((np.ones(ok.size), (y[ok], ok)), shape=(n_classes, y.size))
    n_c = np.asarray(onehot.sum(axis=1)).ravel()
    S, Q = onehot @ X, onehot @ XX
    N, T, QT = float(y.size), X.sum(axis=0), XX.sum(axis=0)
    n_r = N - n_c
    with np.errstate(divide="ignore", invalid="ignore"):
        m_c = S / n_c[:, None]
        m_r = (T - S) / n_r[:, None]
        ss = (Q - S ** 2 / n_c[:, None]) + ((QT - Q) - (T - S) ** 2 / n_r[:, None])
        sd = np.sqrt(np.maximum(ss, 0.0) / max(N - 2, 1.0))
        d = np.where(sd > 1e-12, (m_c - m_r) / sd, np.sign(m_c - m_r) * 1e6)
    return np.nan_to_num(d, nan=0.0), n_c


def _phrase(parts: list, strong: bool) -> str:
    """The description's text.

    >>> _phrase([{"cls": "NOUN", "concept": "upos", "positive": True, "d": 2.0},
    ...          {"cls": "Sing", "concept": "Number", "positive": False, "d": -1.0}], True)
    'fires on NOUN (upos), except on Sing (Number)'
    >>> _phrase([{"cls": "PUNCT", "concept": "upos", "positive": False, "d": -0.3}], False)
    'no clear concept (closest: low on PUNCT (upos), d=-0.30)'
    """
    pos = [f"{p['cls']} ({p['concept']})" for p in parts if p["positive"]]
    neg = [f"{p['cls']} ({p['concept']})" for p in parts if not p["positive"]]
    text = "fires on " + ", ".join(pos) + (", except on " + ", ".join(neg) if neg else "") if pos else \
        "low on " + ", ".join(neg)
    return text if strong else f"no clear concept (closest: {text}, d={parts[0]['d']:+.2f})"


def _predicate(parts: list, labels: dict, rows: np.ndarray) -> np.ndarray:
    """The conjunction of the parts on the selected rows."""
    pred = np.ones(int(rows.sum()), dtype=bool)
    for p in parts:
        y = labels[p["concept"]][0][rows]
        pred &= (y == p["index"]) if p["positive"] else (y != p["index"])
    return pred


def _greedy(values: np.ndarray, firsts: list, cands: list, labels: dict, rows: np.ndarray, max_parts: int,
            min_gain: float) -> list:
    """Parts chosen greedily by the detection AUC of their conjunction on ``rows`` (the training rows): the best of
    ``firsts``, then the best of ``cands`` while the AUC rises by ``min_gain``."""
    ranks = average_ranks(values)

    def auc(parts):
        pred = _predicate(parts, labels, rows)
        n1 = int(pred.sum())
        n0 = pred.size - n1
        return -1.0 if n1 == 0 or n0 == 0 else (ranks[pred].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)

    best_auc, first = max(((auc([p]), i) for i, p in enumerate(firsts)), key=lambda t: (t[0], -t[1]))
    parts = [firsts[first]]
    while len(parts) < max_parts:
        used = {p["concept"] for p in parts}
        trials = [(auc(parts + [p]), i) for i, p in enumerate(cands) if p["concept"] not in used]
        if not trials:
            break
        a, i = max(trials, key=lambda t: (t[0], -t[1]))
        if a < best_auc + min_gain:
            break
        parts, best_auc = parts + [cands[i]], a
    return parts


def describe_neurons(columns: np.ndarray, labels: dict, row_sentence: np.ndarray, *,
                     formulas: dict | None = None, threshold: float = 0.8, max_parts: int = 2, min_count: int = 5,
                     min_gain: float = 0.02, heldout: float = 0.2, seed: int = 0) -> list[Description]:
    """One-line descriptions of neurons from their best concept classes, scored by detection AUC on held-out rows.

    For each concept, on the training sentences (all but a seeded ``heldout`` share), the class with the largest
    ``|d|`` (standardised mean difference of the neuron's activation on the class against every other row,
    unlabelled ones included; classes with fewer than ``min_count`` rows on either side are skipped) is a candidate
    part (``class`` for a positive ``d``, ``not class`` for a negative one). Parts are chosen greedily: first, among
    the candidates with ``|d| >= threshold`` (0.8: a "large" effect, Cohen 1988), the one whose predicate has the
    best detection AUC on the training rows; then, while fewer than ``max_parts``, the candidate (of the 8 largest
    ``|d|``) whose conjunction with the parts chosen raises that AUC most, if by at least ``min_gain`` (so that
    "NOUN" is not narrowed to "NOUN and Plur" for a neuron of every noun, and "VERB" is narrowed to "VERB in a
    past-tense sentence" for a neuron of those only). With no candidate above the threshold, the closest one is
    named as weak. The score is :func:`detection_auc` of the activations on the held-out rows for the conjunction
    of the parts.

    Parameters
    ----------
    columns : ndarray of shape (n_rows, n_neurons)
    labels : dict
        Concept -> ``(class index per row, vocabulary)`` (:func:`row_labels`).
    row_sentence : ndarray of shape (n_rows,)
    formulas : dict, optional
        Neuron position -> a compositional formula, appended to the text.
    threshold : float, default=0.8
        Smallest ``|d|`` of a first part.
    max_parts : int, default=2
    min_count : int, default=5
        Fewest training rows of a class (and of the rest).
    min_gain : float, default=0.02
        Rise of the training AUC that another part must bring.
    heldout : float, default=0.2
        Share of the sentences held out for the score (:func:`heldout_sentences`).
    seed : int, default=0
        Seed of the split.

    Returns
    -------
    list of Description
        One per column.
    """
    cols = np.asarray(columns, dtype=np.float64)
    n_neurons = cols.shape[1]
    held_s = heldout_sentences(int(row_sentence.max()) + 1 if row_sentence.size else 0, fraction=heldout, seed=seed)
    held = held_s[row_sentence] if row_sentence.size else np.zeros(0, bool)
    train = ~held
    cands: list[list] = [[] for _ in range(n_neurons)]
    X = cols[train]
    if X.size:
        X -= X.mean(axis=0)
    XX = X * X
    for concept, (y, vocab) in labels.items():
        d, n_c = _class_effects(X, XX, y[train], len(vocab))
        valid = (n_c >= min_count) & (train.sum() - n_c >= min_count)
        if not valid.any():
            continue
        d = np.where(valid[:, None], d, 0.0)
        best = (np.abs(d) + 1e-9 * (d > 0)).argmax(axis=0)  # a tie (two classes) goes to the positive class
        for j in range(n_neurons):
            dj = float(d[best[j], j])
            if dj != 0.0:
                cands[j].append({"concept": concept, "cls": str(vocab[best[j]]), "index": int(best[j]),
                                 "positive": dj > 0, "d": dj})
    out = []
    for j in range(n_neurons):
        ranked = sorted(cands[j], key=lambda p: -abs(p["d"]))
        firsts = [p for p in ranked if abs(p["d"]) >= threshold][:8]
        parts = _greedy(cols[train, j], firsts, ranked[:8], labels, train, max_parts, min_gain) if firsts else []
        strong = bool(parts)
        parts = parts or ranked[:1]
        if not parts:
            out.append(Description("no concept to describe it (the store has no usable labels)", [], False, None,
                                   int(held.sum()), 0))
            continue
        pred = _predicate(parts, labels, held)
        text = _phrase(parts, strong)
        if formulas and formulas.get(j):
            text += f"; formula: {formulas[j]}"
        out.append(Description(text, [{k: v for k, v in p.items() if k != "index"} for p in parts], strong,
                               detection_auc(cols[held, j], pred), int(held.sum()), int(pred.sum())))
    return out
