"""Neuron rankers and measures of agreement between rankings.

Every ranker is a scikit-learn estimator: ``fit(X, y) -> self`` learns ``ranking_`` (best-first
column indices), ``scores_``, ``class_scores_``, ``per_class_ranking_`` and ``classes_``
(see :mod:`neuronlab.concepts.rankers.base`). :data:`RANKERS` is the registry: key -> a
:class:`RankerEntry` holding the class (module ``rankers/<key>.py``), its level, its command-line
parameters, a one-line description and the paper. ``neuronlab rank --method`` offers exactly its keys.

Importing this package does no work: the registry names its classes by import path, and the
public names below are loaded on first access.

Examples
--------
>>> RANKERS["iou"].level, RANKERS["iou"].param_names
('row', ['quantile', 'threshold', 'chunk_rows'])
>>> type(RANKERS["probeless"].build(chunk_rows=1024)).__name__
'ProbelessRanker'
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from neuronlab.errors import InvalidParameterError
from neuronlab.registry import Entry, Param, Registry

__all__ = [
    "RANKERS",
    "RankerEntry",
    "register_ranker",
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

#: how a ranker reads its labels
LEVELS = ("row", "sentence")


@dataclass(frozen=True)
class RankerEntry(Entry):
    """A registered ranker.

    ``level="row"``: ``fit(X, y)`` with one label per row. ``level="sentence"``: ``fit(X, y, groups=...)``
    with the sentence id of every row; ``y`` is per row or per sentence, so the ranker can also rank
    sentence-level concepts on a word store (:func:`neuronlab.concepts.study.rank_concept` passes it the
    per-sentence labels).
    """

    level: str = "row"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise InvalidParameterError(f"level must be one of {', '.join(LEVELS)}; got {self.level!r}")


RANKERS: Registry[RankerEntry] = Registry(
    "ranking method",
    how_to_add="add one with neuronlab.concepts.rankers.register_ranker(RankerEntry(...))",
)


def register_ranker(entry: RankerEntry, *, replace: bool = False) -> RankerEntry:
    """Add a ranker to :data:`RANKERS` (the CLI's ``rank --method`` then offers it)."""
    return RANKERS.register(entry, replace=replace)


_P = "neuronlab.concepts.rankers."
_CHUNK = Param("chunk_rows", int, "rows read at a time")
for _entry in (
    RankerEntry(
        "linear", _P + "linear:LinearProbeRanker", "probe weight mass",
        "Dalvi et al. 2019",
        params=(Param("lambda_l1", float, "L1 penalty of the probe (NeuroX parametrisation)", nullable=True),
                Param("lambda_l2", float, "L2 penalty of the probe", nullable=True),
                Param("class_weight", str, "class weighting of the loss", choices=("balanced",), nullable=True),
                Param("tol", float, "solver tolerance (the weights have settled: no weight moves by more than tol "
                      "times the largest)", nullable=True),
                Param("solver", str, "probe solver (auto: from 40,000 rows proximal Newton, or the working set when "
                      "its dense Hessian would be too large)", choices=("auto", "owlqn", "working-set", "prox-newton"),
                      nullable=True),
                Param("presolve", (str, float), "subsample warm start: auto, none or a row fraction",
                      choices=("auto",), nullable=True),
                Param("search_stride", int, "steps of the percentage grid of the ordering"))),
    RankerEntry(
        "rf", _P + "rf:RandomForestRanker", "random-forest Gini importance", "Breiman 2001",
        params=(Param("n_estimators", int, "number of trees"),
                Param("max_depth", int, "maximum tree depth", nullable=True),
                Param("max_features", (str, int, float), "features per split", choices=("sqrt", "log2"),
                      nullable=True),
                Param("class_weight", str, "class weighting", choices=("balanced", "balanced_subsample"),
                      nullable=True),
                Param("n_jobs", int, "parallel jobs", nullable=True),
                Param("random_state", int, "seed", nullable=True),
                Param("per_class", bool, "also one-vs-rest forests per class"))),
    RankerEntry(
        "iou", _P + "iou:IoURanker", "thresholded-activation IoU with the concept mask",
        "Bau et al. 2017; Mu & Andreas 2020",
        params=(Param("quantile", float, "per-neuron activation quantile used as threshold"),
                Param("threshold", float, "fixed threshold for every neuron (instead of the quantile)",
                      nullable=True),
                _CHUNK)),
    RankerEntry(
        "ap", _P + "ap:APRanker", "per-neuron average precision", "Suau et al. 2020",
        params=(Param("signed", str, "max: max(AP(a), AP(-a)); positive: AP(a)", choices=("max", "positive")),)),
    RankerEntry(
        "probeless", _P + "probeless:ProbelessRanker", "class-mean differences", "Antverg & Belinkov 2022",
        params=(_CHUNK,)),
    RankerEntry(
        "expert", _P + "expert:ExpertRanker", "sentence-level AP of max-pooled activations", "Suau et al. 2020",
        level="sentence"),
    RankerEntry(
        "gaussian", _P + "gaussian:GaussianRanker", "greedy selection order of a Gaussian probe (MI in bits or "
        "accuracy)", "Torroba Hennigen et al. 2020",
        params=(Param("criterion", str, "greedy criterion", choices=("mi", "accuracy")),
                Param("max_dims", int, "greedy steps (neurons selected; every class needs more rows)"),
                Param("nu0", float, "prior degrees of freedom (default n_neurons + 2)", nullable=True),
                Param("reg_covar", float, "added to every covariance diagonal"))),
):
    register_ranker(_entry)
del _entry

#: public name -> module that defines it (loaded on first access, PEP 562)
_LAZY = {
    "BaseRanker": "base", "ranking_from_scores": "base",
    "LinearProbeRanker": "linear", "RandomForestRanker": "rf", "IoURanker": "iou",
    "APRanker": "ap", "column_average_precision": "ap", "ProbelessRanker": "probeless", "ExpertRanker": "expert",
    "top_k_overlap": "agreement", "top_k_jaccard": "agreement", "rank_correlation": "agreement",
    "agreement_matrix": "agreement", "AgreementMatrix": "agreement",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_P + _LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
