"""Compositional explanations of a store's neurons as a typed result (JSON report + arrays in /results)."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from neuronlab.results import Result

from .atoms import Atoms
from .search import CompositionalExplainer

__all__ = ["CompositionalResult", "explain_neurons"]


@dataclasses.dataclass
class CompositionalResult(Result):
    """Per neuron: the best formula, its IoU with the neuron's mask, coverage and precision, the best single atom.

    ``neurons`` is a list of dicts with keys ``neuron``, ``formula``, ``length``, ``iou``, ``coverage`` (share of
    the neuron's mask the formula covers), ``precision`` (share of the formula's mask where the neuron fires),
    ``mask_size``, ``threshold``, ``atomic_formula``, ``atomic_iou``.
    """

    kind = "compositional"

    neurons: list
    n_rows: int
    n_concept_atoms: int
    n_words: int
    config: dict

    def arrays(self) -> dict[str, np.ndarray]:
        def col(key, dtype=None):
            return np.array([n[key] for n in self.neurons], dtype=dtype)

        return {"neuron_ids": col("neuron", object), "formula": col("formula", object), "iou": col("iou", float),
                "coverage": col("coverage", float), "precision": col("precision", float),
                "mask_size": col("mask_size", np.int64), "threshold": col("threshold", float),
                "atomic_formula": col("atomic_formula", object), "atomic_iou": col("atomic_iou", float)}

    def table(self) -> str:
        """Plain-text table, one neuron per line."""
        lines = [f"{'neuron':<22} {'IoU':>6} {'cover':>6} {'prec':>6} {'|mask|':>7}  formula (best atom, IoU)"]
        for n in self.neurons:
            lines.append(f"{n['neuron']:<22} {n['iou']:6.3f} {n['coverage']:6.3f} {n['precision']:6.3f} "
                         f"{n['mask_size']:7d}  {n['formula'] or '(neuron never fires)'}"
                         f"  ({n['atomic_formula']}, {n['atomic_iou']:.3f})")
        return "\n".join(lines)


def explain_neurons(store: Any, neurons: str | Sequence[str], *, concepts: Sequence[str] | None = None,
                    words: bool = True, lowercase: bool = True, **params: Any) -> CompositionalResult:
    """Compositional explanations (:class:`CompositionalExplainer`) of neurons of an activation store.

    Parameters
    ----------
    store : ActivationStore
    neurons : str or sequence of str
        Neuron ids ``site:index`` or site names/globs (all their neurons), see
        :func:`~neuronlab.concepts.corpus_methods.columns.resolve_neurons`.
    concepts : sequence of str, optional
        Labels to build atoms from (default: all of the store's).
    words, lowercase : bool
        Word-identity atoms, case-folded (see :meth:`Atoms.from_store`).
    **params
        Hyper-parameters of :class:`CompositionalExplainer`.
    """
    from neuronlab.concepts.corpus_methods.columns import read_neurons

    atoms = Atoms.from_store(store, concepts=concepts, words=words, lowercase=lowercase)
    X, ids = read_neurons(store, neurons)
    ex = CompositionalExplainer(**params).fit(X, atoms)
    rows = []
    for j, nid in enumerate(ids):
        f = ex.formulas_[j]
        rows.append({"neuron": nid, "formula": ex.explanations_[j], "length": 0 if f is None else len(f),
                     "iou": float(ex.iou_[j]), "coverage": float(ex.coverage_[j]),
                     "precision": float(ex.precision_[j]), "mask_size": int(ex.mask_size_[j]),
                     "threshold": float(ex.thresholds_[j]), "atomic_formula": ex.atomic_explanations_[j],
                     "atomic_iou": float(ex.atomic_iou_[j])})
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ex.get_params().items() if k != "verbose"}
    config.update(concepts=list(concepts) if concepts is not None else None, words=words, lowercase=lowercase)
    return CompositionalResult(rows, atoms.n_rows, atoms.n_concept_atoms, len(atoms.vocabulary), config)
