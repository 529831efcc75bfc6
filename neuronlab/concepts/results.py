"""Results of a probing study: :class:`ProbeResult` (:func:`~neuronlab.concepts.study.probe_concept`) and
:class:`RankingResult` (:func:`~neuronlab.concepts.study.rank_concept`).

Both follow the :class:`neuronlab.results.Result` protocol: the fields are the JSON report (the CLI's
``--json`` output, key for key), ``to_json()`` serialises it, ``to_store(store, name)`` writes the
arrays under ``/results/<name>`` (the layout the CLI has always written, plus the JSON ``report``) and
``from_store(store, name)`` reads it back.

Examples
--------
>>> r = RankingResult(method="ap", concept="Tense", store="run.h5", n_rows=4, n_neurons=2, classes=["Past", "Pres"],
...                   ranking=["layers.0:1", "layers.0:0"], scores=[0.9, 0.4], per_class={}, top=["layers.0:1"],
...                   seconds=0.01, config={"method": "ap", "params": {}, "sites": None},
...                   neuron_ids=["layers.0:0", "layers.0:1"])
>>> r.to_json(indent=None)[:60]
'{"method": "ap", "concept": "Tense", "store": "run.h5", "n_r'
>>> sorted(r.arrays())
['neuron_ids', 'ranking', 'scores']
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuronlab.results import Result, array_field

__all__ = ["ProbeResult", "RankingResult"]


def _strings(values: Any) -> np.ndarray:
    return np.array(list(values), dtype=object)


@dataclass
class ProbeResult(Result):
    """A trained probe with its baselines, ranking and evaluations (Dalvi et al. 2019; Hewitt & Liang 2019).

    Attributes
    ----------
    concept, store, test_store : str
        What was probed, and where (``test_store`` is None for a split of ``store``).
    sites : list of str
        Sites of the columns, in model order.
    n_neurons, n_train, n_test : int
    classes : list of str
        The classes the probe knows (present in the training rows), one per row of ``coef``.
    unseen_test_classes : dict
        Test classes absent from training -> their number of test rows (scored as errors in ``accuracy``).
    accuracy, train_accuracy : float
    baselines : dict
        ``majority``, ``control_task``, ``random_init`` accuracies (None where not computed).
    selectivity : float or None
        ``accuracy - baselines["control_task"]``.
    ranking : list of str
        Every neuron id, best first.
    per_class : dict
        Class -> its top neuron ids by ``|w|``.
    layer_distribution, evaluation : dict
    probe_iterations : int
    seconds : float
    config : dict
        Everything needed to repeat the run; stored as the result's ``config`` attribute.
    result_path : str or None
        Where the result was written in the store (set by the caller that writes it).
    coef : ndarray of shape (n_classes or 1, n_neurons)
        Probe weights (stored, not in the JSON).
    intercept : ndarray
    neuron_ids : list of str
        The column order of ``coef``.
    """

    kind = "probe"

    concept: str
    store: str
    test_store: str | None
    sites: list
    n_neurons: int
    classes: list
    unseen_test_classes: dict
    n_train: int
    n_test: int
    accuracy: float
    train_accuracy: float
    baselines: dict
    selectivity: float | None
    ranking: list
    per_class: dict
    layer_distribution: dict
    evaluation: dict
    probe_iterations: int
    seconds: float
    config: dict
    result_path: str | None = None
    coef: np.ndarray = array_field(default=None)
    intercept: np.ndarray = array_field(default=None)
    neuron_ids: list = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "coef": np.asarray(self.coef, dtype=np.float32),
            "intercept": np.asarray(self.intercept, dtype=np.float32),
            "classes": _strings(self.classes),
            "ranking": _strings(self.ranking),
            "neuron_ids": _strings(self.neuron_ids),
        }

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "ProbeResult":
        out = super()._from_parts(report, arrays)
        out.neuron_ids = [str(x) for x in out.neuron_ids] if out.neuron_ids is not None else None
        return out


@dataclass
class RankingResult(Result):
    """A neuron ranking for a concept by one registered method.

    Attributes
    ----------
    method, concept, store : str
    n_rows, n_neurons : int
    classes : list of str
    ranking : list of str
        Every neuron id, best first.
    scores : list of float
        The method's score of each neuron of ``ranking`` (non-increasing).
    per_class : dict
        Class -> its top neuron ids (methods with per-class scores).
    top : list of str
        The first ``top_k`` ids of ``ranking``.
    seconds : float
    config : dict
        ``method``, ``params`` (the ranker's hyper-parameters), ``sites``.
    weight_mass : dict or None
        ``linear`` only: aligned with ``ranking``, the share of its class's weight mass at which each neuron
        entered the ordering (``entry_percentage``) and that ``class`` (``scores`` of ``linear`` are ranks).
    average_precision : dict or None
        ``ap`` only: aligned with ``ranking``, the best ``class``, ``ap_positive`` (AP of the activation),
        ``ap_negative`` (AP of its negation) and the ``direction`` ("+" or "-") that ``scores`` took.
    result_path : str or None
    neuron_ids : list of str
        Column order of ``class_scores`` (stored, not in the JSON).
    class_scores : ndarray of shape (n_classes, n_neurons) or None
    """

    kind = "ranking"

    method: str
    concept: str
    store: str
    n_rows: int
    n_neurons: int
    classes: list
    ranking: list
    scores: list
    per_class: dict
    top: list
    seconds: float
    config: dict
    weight_mass: dict | None = None
    average_precision: dict | None = None
    result_path: str | None = None
    neuron_ids: list = array_field(default=None)
    class_scores: np.ndarray | None = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"ranking": _strings(self.ranking), "scores": np.asarray(self.scores, dtype=np.float64),
               "neuron_ids": _strings(self.neuron_ids)}
        if self.class_scores is not None:
            out["class_scores"] = np.asarray(self.class_scores, dtype=np.float32)
        return out

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "RankingResult":
        out = super()._from_parts(report, arrays)
        out.neuron_ids = [str(x) for x in out.neuron_ids] if out.neuron_ids is not None else None
        return out
