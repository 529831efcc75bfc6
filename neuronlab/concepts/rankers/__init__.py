"""Neuron rankers that need no trained probe, and measures of agreement between rankings.

Every ranker is a scikit-learn estimator: ``fit(X, y) -> self`` learns ``ranking_`` (best-first
column indices), ``scores_``, ``class_scores_``, ``per_class_ranking_`` and ``classes_``
(see :mod:`neuronlab.concepts.rankers.base`). ``RANKERS`` maps a method name to its class.
"""
from neuronlab.concepts.rankers.agreement import (
    AgreementMatrix,
    agreement_matrix,
    rank_correlation,
    top_k_jaccard,
    top_k_overlap,
)
from neuronlab.concepts.rankers.base import BaseRanker, ranking_from_scores
from neuronlab.concepts.rankers.expert import ExpertRanker
from neuronlab.concepts.rankers.rf import RandomForestRanker
from neuronlab.concepts.rankers.iou import IoURanker
from neuronlab.concepts.rankers.linear import LinearProbeRanker
from neuronlab.concepts.rankers.ap import APRanker, column_average_precision
from neuronlab.concepts.rankers.probeless import ProbelessRanker

#: method name -> ranker class
RANKERS: dict[str, type] = {
    "linear": LinearProbeRanker,
    "rf": RandomForestRanker,
    "iou": IoURanker,
    "ap": APRanker,
    "probeless": ProbelessRanker,
    "expert": ExpertRanker,
}

__all__ = [
    "RANKERS",
    "BaseRanker",
    "ranking_from_scores",
    "LinearProbeRanker",
    "RandomForestRanker",
    "IoURanker",
    "APRanker",
    "ProbelessRanker",
    "ExpertRanker",
    "column_average_precision",
    "top_k_overlap",
    "top_k_jaccard",
    "rank_correlation",
    "agreement_matrix",
    "AgreementMatrix",
]
