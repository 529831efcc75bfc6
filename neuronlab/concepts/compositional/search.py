"""Compositional explanations of neurons: beam search over formulas of atomic concepts, maximising IoU.

Mu & Andreas (2020) explain a neuron by the logical formula over atomic concepts whose row mask best matches
the neuron's mask (the rows where it fires), measured by intersection over union. The search is a beam search:
every atom is scored, the best ``beam_size`` formulas are kept, and each round extends every kept formula on the
right by one atom with AND, OR or AND NOT; the new formulas join the old ones and the best ``beam_size`` are
kept again, up to ``max_length`` atoms.

Everything is bit-packed (:mod:`.bitmask`). For a kept formula F, the neuron mask N and all candidate atoms A
at once, two popcounts, ``|F & A|`` and ``|F & A & N|``, give the size and the overlap with N of all three
extensions, since with ``|F|``, ``|F & N|``, ``|A|`` and ``|A & N|`` known::

    F AND A      size |FA|               overlap |FAN|
    F OR A       size |F| + |A| - |FA|   overlap |FN| + |AN| - |FAN|
    F AND NOT A  size |F| - |FA|         overlap |FN| - |FAN|

and ``IoU = overlap / (size + |N| - overlap)``. No mask is built except for the formulas the beam keeps.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from neuronlab.concepts.rankers.base import DEFAULT_CHUNK_ROWS, check_activations
from neuronlab.concepts.validation import Interval, ValidatedEstimator
from neuronlab.errors import InvalidParameterError

from .atoms import Atoms
from .bitmask import pack, popcount
from .formula import OPERATORS, Formula, check_operators

__all__ = ["CompositionalExplainer", "neuron_thresholds"]


def neuron_thresholds(X: np.ndarray, *, quantile: float, threshold: Any = None) -> np.ndarray:
    """Per-neuron activation thresholds: a fixed ``threshold`` (one, or one per neuron) or the ``quantile``.

    A neuron's mask is ``X[:, j] > thresholds[j]`` (strictly), as :class:`~neuronlab.concepts.rankers.iou.IoURanker`.
    """
    n_neurons = X.shape[1]
    if threshold is None:
        return np.quantile(X, quantile, axis=0).astype(np.float64).reshape(n_neurons)
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n_neurons, float(t))
    if t.shape != (n_neurons,):
        raise InvalidParameterError(f"threshold must be a number or an array of shape (n_neurons,)=({n_neurons},); "
                                    f"got shape {t.shape}.")
    if not np.isfinite(t).all():
        raise InvalidParameterError("threshold contains NaN or infinity.")
    return t


class _Beam:
    """Kept formulas of one neuron: packed masks, sizes, overlaps with the neuron mask, IoUs."""

    def __init__(self, formulas, masks, sizes, inters, ious):
        self.formulas = formulas
        self.masks = masks
        self.sizes = sizes
        self.inters = inters
        self.ious = ious


class CompositionalExplainer(ValidatedEstimator, BaseEstimator):
    """Explain each neuron by the formula of atomic concepts whose mask best matches its activation mask (IoU).

    A neuron's mask is the set of rows where its activation is strictly above a threshold: by default its
    ``quantile`` over all rows (0.995, the top 0.5% of Bau et al. 2017 that Mu & Andreas use for vision; their
    NLI code thresholds ReLU outputs at 0 instead: pass ``threshold=0.0`` for that), or a fixed ``threshold``.
    The atoms are concept values and words (:class:`~neuronlab.concepts.compositional.atoms.Atoms`). Each
    neuron's candidates are all concept atoms plus, as in the authors' code (which takes a few words of the
    neuron's top rows), the ``n_word_atoms`` words with most rows inside the neuron's mask (``None``: every
    word). The search is the authors' beam search (module docstring): formulas grow on the right, old formulas
    stay in the beam, formulas with the same mask as a kept one are skipped, and ties go to the shorter formula,
    then to the earlier one (beam order, then the order of ``operators``, then candidate order).

    Parameters
    ----------
    quantile : float, default=0.995
        Per-neuron activation quantile used as threshold (ignored when ``threshold`` is given).
    threshold : float or array-like of shape (n_neurons,), optional
        Fixed threshold(s).
    max_length : int, default=3
        Most atoms in a formula (1: the best single atom, network dissection).
    beam_size : int, default=10
        Formulas kept per round (the authors' default); 1 is greedy search.
    n_word_atoms : int or None, default=10
        Word atoms per neuron (the words most frequent inside its mask); 0 for concept atoms only, None for all.
    operators : tuple of str, default=("or", "and", "and_not")
        Operators to combine with (keys of :data:`~neuronlab.concepts.compositional.formula.OPERATORS`).
    verbose : bool, default=False
        A progress bar over neurons (tqdm, on stderr).

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_neurons,)
    formulas_ : list of Formula or None
        Best formula per neuron (None when the neuron's mask is empty).
    explanations_ : list of str
        The formulas as text (``""`` for an empty mask).
    iou_ : ndarray of shape (n_neurons,)
        IoU of the best formula with the neuron mask.
    coverage_ : ndarray of shape (n_neurons,)
        Fraction of the neuron's mask inside the formula's mask, ``|F ∩ N| / |N|``.
    precision_ : ndarray of shape (n_neurons,)
        Fraction of the formula's mask inside the neuron's mask, ``|F ∩ N| / |F|``.
    mask_size_ : ndarray of int64 of shape (n_neurons,)
        ``|N|``.
    atomic_explanations_, atomic_iou_ : list of str, ndarray
        The best single atom and its IoU (the non-compositional explanation, for comparison).

    References
    ----------
    J. Mu, J. Andreas. "Compositional Explanations of Neurons". NeurIPS 2020
    (code: github.com/jayelm/compexp, ``nli/code/analyze.py``).

    See Also
    --------
    neuronlab.concepts.rankers.iou.IoURanker : the IoU of single concepts, for ranking neurons.

    Examples
    --------
    >>> words = ["a", "b", "a", "c", "b", "c", "a", "d"]
    >>> upos = ["N", "N", "V", "N", "A", "V", "N", "A"]
    >>> X = np.array([[1.0], [1.0], [0.0], [0.0], [1.0], [0.0], [1.0], [0.0]])   # a or b, except as V
    >>> atoms = Atoms.from_arrays(words=words, concepts={"upos": upos})
    >>> ex = CompositionalExplainer(threshold=0.5).fit(X, atoms)
    >>> ex.explanations_, ex.iou_.tolist(), ex.atomic_explanations_, ex.atomic_iou_.tolist()
    (['(word=b OR word=a) AND NOT upos=V'], [1.0], ['upos=N'], [0.6])
    """

    _parameter_constraints: dict = {
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "threshold": [Real, "array-like", None],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "beam_size": [Interval(Integral, 1, None, closed="left")],
        "n_word_atoms": [Interval(Integral, 0, None, closed="left"), None],
        "operators": ["array-like"],
        "verbose": ["boolean"],
    }

    def __init__(self, *, quantile: float = 0.995, threshold: Any = None, max_length: int = 3, beam_size: int = 10,
                 n_word_atoms: int | None = 10, operators: tuple = ("or", "and", "and_not"),
                 verbose: bool = False) -> None:
        self.quantile = quantile
        self.threshold = threshold
        self.max_length = max_length
        self.beam_size = beam_size
        self.n_word_atoms = n_word_atoms
        self.operators = operators
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Atoms) -> "CompositionalExplainer":
        """Search the best formula of every neuron (column of ``X``).

        Parameters
        ----------
        X : array-like of shape (n_rows, n_neurons)
            Activations (an array or a lazy store view).
        y : Atoms
            The atomic concepts of the same rows.

        Returns
        -------
        self
        """
        self._validate_params()
        ops = check_operators(self.operators)
        if not isinstance(y, Atoms):
            raise InvalidParameterError("y must be an Atoms object (Atoms.from_store(store) or Atoms.from_arrays"
                                        f"(words=..., concepts=...)); got {type(y).__name__}")
        X = check_activations(X, chunk_rows=DEFAULT_CHUNK_ROWS)
        if X.shape[0] != y.n_rows:
            raise InvalidParameterError(f"X has {X.shape[0]} rows but the atoms describe {y.n_rows}; build them from "
                                        "the same store or rows")
        if y.n_atoms == 0:
            raise InvalidParameterError("no atoms to explain with: give words and/or concepts")
        self.thresholds_ = neuron_thresholds(X, quantile=self.quantile, threshold=self.threshold)
        n = X.shape[1]
        self.formulas_: list = [None] * n
        self.explanations_ = [""] * n
        self.atomic_explanations_ = [""] * n
        self.iou_ = np.zeros(n)
        self.atomic_iou_ = np.zeros(n)
        self.coverage_ = np.zeros(n)
        self.precision_ = np.zeros(n)
        self.mask_size_ = np.zeros(n, dtype=np.int64)
        for j in _progress(range(n), self.verbose):
            mask = X[:, j] > self.thresholds_[j]
            self.mask_size_[j] = int(mask.sum())
            if not self.mask_size_[j]:
                continue
            self._explain(j, mask, y, ops)
        return self

    # ------------------------------------------------------------------ one neuron
    def candidates(self, mask: np.ndarray, atoms: Atoms) -> np.ndarray:
        """Candidate atom ids for a neuron with row mask ``mask``: all concept atoms, then its word atoms."""
        concept = np.arange(atoms.n_concept_atoms, dtype=np.int64)
        if not atoms.vocabulary or self.n_word_atoms == 0:
            return concept
        if self.n_word_atoms is None:
            words = np.arange(len(atoms.vocabulary), dtype=np.int64)
        else:
            ids = atoms.word_ids[mask]
            counts = np.bincount(ids[ids >= 0], minlength=len(atoms.vocabulary))
            present = np.flatnonzero(counts)
            order = np.lexsort((present, -counts[present]))  # most rows in the mask first, ties by word index
            words = present[order][: self.n_word_atoms]
        return np.concatenate([concept, atoms.n_concept_atoms + words])

    def _explain(self, j: int, mask: np.ndarray, atoms: Atoms, ops: tuple) -> None:
        N = pack(mask)
        n_mask = int(self.mask_size_[j])
        cand = self.candidates(mask, atoms)
        A = atoms.masks_of(cand)
        size_a = popcount(A)
        inter_a = popcount(A & N)
        ious = _iou(inter_a, size_a, n_mask)
        order = np.lexsort((np.arange(cand.size), -ious))
        beam = self._select(order, lambda k: (Formula(int(cand[k])), A[k], size_a[k], inter_a[k], ious[k]))
        self.atomic_explanations_[j] = beam.formulas[0].render(atoms.name)
        self.atomic_iou_[j] = beam.ious[0]
        for _ in range(self.max_length - 1):
            beam = self._extend(beam, cand, A, size_a, inter_a, N, n_mask, ops)
        best = beam.formulas[0]
        self.formulas_[j] = best
        self.explanations_[j] = best.render(atoms.name)
        self.iou_[j] = beam.ious[0]
        self.coverage_[j] = beam.inters[0] / n_mask
        self.precision_[j] = beam.inters[0] / beam.sizes[0] if beam.sizes[0] else 0.0

    def _extend(self, beam: _Beam, cand, A, size_a, inter_a, N, n_mask: int, ops: tuple) -> _Beam:
        B = len(beam.formulas)
        FA = beam.masks[:, None, :] & A[None, :, :]                  # (B, C, W)
        size_fa = popcount(FA)
        FA &= N                                                      # in place: no second (B, C, W) array
        inter_fa = popcount(FA)
        size_f, inter_f = beam.sizes[:, None], beam.inters[:, None]
        parts = {
            "and": (size_fa, inter_fa),
            "or": (size_f + size_a[None] - size_fa, inter_f + inter_a[None] - inter_fa),
            "and_not": (size_f - size_fa, inter_f - inter_fa),
        }
        sizes = np.stack([parts[o][0] for o in ops], axis=1)         # (B, n_ops, C)
        inters = np.stack([parts[o][1] for o in ops], axis=1)
        ious = _iou(inters, sizes, n_mask)
        position = {int(c): i for i, c in enumerate(cand)}
        used = np.zeros((B, cand.size), dtype=bool)
        for b, f in enumerate(beam.formulas):
            used[b, [position[a] for a in f.atoms if a in position]] = True
        ious[np.broadcast_to(used[:, None, :], ious.shape)] = -1.0  # an atom twice adds nothing
        lengths = np.array([len(f) for f in beam.formulas])
        all_ious = np.concatenate([beam.ious, ious.ravel()])
        all_len = np.concatenate([lengths, np.repeat(lengths + 1, len(ops) * cand.size)])
        order = np.lexsort((np.arange(all_ious.size), all_len, -all_ious))
        order = order[all_ious[order] >= 0]

        def item(k: int):
            if k < B:
                return beam.formulas[k], beam.masks[k], beam.sizes[k], beam.inters[k], beam.ious[k]
            b, o, c = np.unravel_index(k - B, ious.shape)
            op = ops[o]
            m = OPERATORS[op][1](beam.masks[b], A[c])
            return beam.formulas[b].extend(op, int(cand[c])), m, sizes[b, o, c], inters[b, o, c], ious[b, o, c]

        return self._select(order, item)

    def _select(self, order: np.ndarray, item) -> _Beam:
        """The first ``beam_size`` candidates in ``order`` with distinct masks."""
        seen: set = set()
        kept = []
        for k in order:
            entry = item(int(k))
            key = entry[1].tobytes()
            if key in seen:
                continue
            seen.add(key)
            kept.append(entry)
            if len(kept) == self.beam_size:
                break
        formulas, masks, sizes, inters, ious = zip(*kept)
        return _Beam(list(formulas), np.stack(masks), np.array(sizes, dtype=np.int64),
                     np.array(inters, dtype=np.int64), np.array(ious, dtype=np.float64))


def _iou(inter: np.ndarray, size: np.ndarray, n_mask: int) -> np.ndarray:
    union = size + n_mask - inter
    return np.divide(inter, union, out=np.zeros(np.shape(inter), dtype=np.float64), where=union > 0)


def _progress(it, enabled: bool):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, unit="neuron", dynamic_ncols=True, leave=False, desc="compositional")
