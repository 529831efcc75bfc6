"""A probing study of one concept on one store: the probe, its baselines, its ranking, written back.

:func:`probe_concept` trains the linear probe (Dalvi et al. 2019) train -> test and reports it with
the baselines a probe number needs (Hewitt & Liang 2019: control task and selectivity; majority
class; the same probe on a randomly initialised model). :func:`rank_concept` runs any registered
ranker. Both return typed results (:class:`~neuronlab.concepts.results.ProbeResult`,
:class:`~neuronlab.concepts.results.RankingResult`) whose ``to_dict()`` is the CLI's ``--json`` output and
whose ``to_store(store, name)`` writes them under ``/results``. No torch here: the random-init store is extracted by the caller
(:func:`neuronlab.extraction.controls.random_init_store`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
from sklearn.base import clone

from ..errors import InvalidParameterError, NeuronlabError, choices
from ..store.store import ActivationStore
from .data import ConceptData, align_classes, class_remap, load_concept, split_by_sentence
from .evaluation.layerwise import layer_distribution, site_of
from .probes._chunked import ChunkedRows
from .probes.controls import ControlTask, selectivity
from .probes.linear import LinearProbe
from .rankers import RANKERS
from .results import ProbeResult, RankingResult
from .rankers.linear import neuron_ordering, probe_weights

__all__ = ["probe_concept", "rank_concept", "compare_rankings", "check_memory"]

log = logging.getLogger("neuronlab.concepts")


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_rows: int, n_neurons: int, *, copies: float = 2.5, budget_gb: float | None = None) -> None:
    """Refuse early (with the number) when the in-memory probe would not fit.

    The full-batch solver keeps X in float32 plus about one more copy of work space.
    """
    need = n_rows * n_neurons * 4 * copies
    budget = budget_gb * (1 << 30) if budget_gb is not None else _available_memory()
    if budget is not None and need > budget:
        raise InvalidParameterError(
            f"fitting this probe needs about {need / (1 << 30):.1f} GB ({n_rows} rows x {n_neurons} neurons, float32, "
            f"with work space) but {budget / (1 << 30):.1f} GB are available; select fewer sites (sites=), probe a subset "
            "of rows, or raise max_memory_gb= on a bigger machine"
        )


def _majority_accuracy(y_train: np.ndarray, y_test: np.ndarray) -> float:
    top = np.bincount(y_train).argmax()
    return float(np.mean(y_test == top))


def _ids(indices: Sequence[int], neuron_ids: Sequence[str]) -> list[str]:
    return [neuron_ids[int(i)] for i in indices]


def _split(store, concept, sites, test_store, train_size, random_state) -> tuple[ConceptData, ConceptData]:
    data = load_concept(store, concept, sites=sites)
    if test_store is not None:
        test = load_concept(test_store, concept, sites=sites)
        if test.neuron_ids != data.neuron_ids:
            raise InvalidParameterError("the test store has other sites or widths than the training store")
        return data, align_classes(data, test)
    return split_by_sentence(data, train_size=train_size, random_state=random_state)


def probe_concept(
    store: ActivationStore,
    concept: str,
    *,
    sites: str | Sequence[str] | None = None,
    test_store: ActivationStore | None = None,
    train_size: float = 0.8,
    probe: LinearProbe | None = None,
    controls: bool = True,
    random_init_store: ActivationStore | None = None,
    random_state: int = 0,
    top_fraction: float = 0.05,
    max_memory_gb: float | None = None,
    evaluate: Sequence[str] = (),
    scheduler: str | None = None,
) -> ProbeResult:
    """Train and evaluate a linear probe for ``concept``, with baselines and the neuron ranking.

    Parameters
    ----------
    store : ActivationStore
        Training store (and test store when ``test_store`` is None: split by sentence).
    concept : str
    sites : names or globs, optional
    test_store : ActivationStore, optional
        Held-out store (same sites) for testing.
    train_size : float
        Fraction of sentences for training when splitting ``store``.
    probe : LinearProbe, optional
        The probe to clone and fit (default: ``LinearProbe()``, lambda_l1 = lambda_l2 = 1e-3).
    controls : bool
        Compute the control-task baseline and selectivity (majority is always reported).
    random_init_store : ActivationStore, optional
        Store extracted from a randomly initialised copy of the model on the same corpus(es); its
        rows must match ``store`` row for row. With ``test_store``, pass a pair ``(train, test)``.
    random_state : int
    top_fraction : float
        Fraction of neurons summarised in ``layer_distribution``.
    max_memory_gb : float, optional
        Memory budget (default: the memory available now). When the float32 matrix (with work space) does not
        fit, the probes are trained streamed from the store in row chunks (same optimum;
        :class:`~neuronlab.concepts.probes._chunked.ChunkedRows`) and ``config["streamed"]`` says so.
    evaluate : sequence of {"layerwise", "ablation", "minimal", "all"}
        Extra evaluations reported under ``evaluation``: accuracy of one probe per site; ablation curves
        (keep only / zero the top, bottom and random neurons, Dalvi et al. 2019) and retraining on the top 10%
        vs a random 10%; the minimal neuron subset within 1 point of the oracle (Durrani et al. 2020).
    scheduler : str, optional
        Train the probes on a ``dask.distributed`` cluster (``ADDRESS`` or ``local:N``): the workers hold the
        training rows and compute the loss and gradient of their chunks (:class:`~neuronlab.scale.dask_probe.DaskRows`).

    Returns
    -------
    ProbeResult
        concept, sites, classes (those the probe knows: present in the training rows), unseen_test_classes (test
        classes absent from training -> number of test rows; those rows count as errors in ``accuracy``), n_train,
        n_test, accuracy, train_accuracy, baselines, selectivity, ranking (best-first neuron ids, from
        ``|coef_ * scale_|``), per_class (top neurons per known class), layer_distribution, config; the probe's
        ``coef`` and ``intercept`` (stored by ``to_store``, not in the JSON: one row per entry of ``classes``; a
        binary sigmoid probe is written as the equivalent softmax rows ``(0, w)``).

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? Analyzing individual neurons in deep NLP models. AAAI.
    Hewitt & Liang (2019), Designing and interpreting probes with control tasks. EMNLP.
    """
    t0 = time.perf_counter()
    probe = LinearProbe() if probe is None else probe
    train, test = _split(store, concept, sites, test_store, train_size, random_state)
    if len(test) == 0:
        raise InvalidParameterError(f"no test rows for concept {concept!r}")
    with contextlib.ExitStack() as stack:
        source = _probe_source(train, len(train) + len(test), max_memory_gb, evaluate, scheduler, stack)
        if source is None:
            train, test = train.load(), test.load()
            source = train.X
        return _probe_study(probe, source, train, test, concept, store, sites, test_store, train_size, controls,
                            random_init_store, random_state, top_fraction, evaluate, max_memory_gb, scheduler, t0)


def _probe_study(probe, source, train, test, concept, store, sites, test_store, train_size, controls,
                 random_init_store, random_state, top_fraction, evaluate, max_memory_gb, scheduler, t0) -> ProbeResult:
    """The fits and the report of :func:`probe_concept` on a training source (array or row source)."""
    fitted = clone(probe).fit(source, train.y)
    acc = float(fitted.score(test.X, test.y))
    train_acc = float(fitted.score(train.X, train.y))
    baselines: dict[str, Any] = {"majority": _majority_accuracy(train.y, test.y), "control_task": None,
                                 "random_init": None}
    sel = None
    if controls:
        ct = ControlTask(random_state=random_state).fit(train.words, train.y)
        c_train, c_test = ct.transform(train.words), ct.transform(test.words)
        c_probe = clone(probe).fit(source, c_train)
        baselines["control_task"] = float(c_probe.score(test.X, c_test))
        sel = selectivity(acc, baselines["control_task"])
    if random_init_store is not None:
        baselines["random_init"] = _random_init_accuracy(random_init_store, train, test, concept, sites, probe,
                                                         test_store is not None,
                                                         None if scheduler else getattr(source, "budget_gb", None))
    # the probe knows only the classes present in the training rows (rare tags often fall into one split); its rows of
    # coef_ are those classes, and test rows of the others are scored as errors (the probe cannot predict them)
    known = [train.classes[int(c)] for c in fitted.classes_]
    test_codes, test_counts = np.unique(test.y, return_counts=True)
    unseen = {train.classes[int(c)]: int(n) for c, n in zip(test_codes, test_counts) if c not in set(fitted.classes_)}
    W = probe_weights(fitted)  # |coef_ * scale_|: the weights the penalty saw, as LinearProbeRanker ranks them
    ordering = neuron_ordering(W)
    ids = train.neuron_ids
    k = max(1, int(round(top_fraction * len(ids))))
    per_class = {str(c): _ids(np.lexsort((np.arange(len(ids)), -W[ci]))[:10], ids) for ci, c in enumerate(known)}
    evaluation = _evaluate(evaluate, probe, fitted, train, test, ordering, random_state)
    config = {
        "probe": {k2: v for k2, v in fitted.get_params().items()},
        "sites": sites if isinstance(sites, str) or sites is None else ",".join(sites),
        "split": "test_store" if test_store is not None else f"by sentence, train_size={train_size}",
        "random_state": random_state,
        "controls": bool(controls),
        "streamed": getattr(fitted, "streamed_", None) is not None,
        "max_memory_gb": max_memory_gb,
        "scheduler": scheduler,
    }
    report = {
        "concept": concept,
        "store": str(store.path),
        "test_store": str(test_store.path) if test_store is not None else None,
        "sites": list(dict.fromkeys(site_of(i) for i in ids)),  # in column (model) order
        "n_neurons": len(ids),
        "classes": list(map(str, known)),
        "unseen_test_classes": {str(c): n for c, n in unseen.items()},
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": acc,
        "train_accuracy": train_acc,
        "baselines": baselines,
        "selectivity": sel,
        "ranking": _ids(ordering, ids),
        "per_class": per_class,
        "layer_distribution": {"top_fraction": top_fraction, "k": k, "counts": layer_distribution(ordering, ids, k)},
        "evaluation": evaluation,
        "probe_iterations": int(getattr(fitted, "n_iter_", 0)),
        "seconds": round(time.perf_counter() - t0, 3),
        "config": config,
    }
    coef, intercept = np.asarray(fitted.coef_, dtype=np.float64), np.asarray(fitted.intercept_, dtype=np.float64)
    if coef.shape[0] == 1 and len(known) == 2:  # a sigmoid probe as the equivalent softmax rows (0, w): one row per class
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return ProbeResult(**report, coef=coef, intercept=intercept, neuron_ids=list(ids))


EVALUATIONS = ("layerwise", "ablation", "minimal")


def _evaluate(which, probe, fitted, train, test, ordering, random_state) -> dict:
    from .evaluation import ablation_curve, layerwise_accuracy, minimal_neuron_subset, retrain_accuracy

    which = set(EVALUATIONS) if "all" in which else set(which)
    unknown = which - set(EVALUATIONS)
    if unknown:
        raise InvalidParameterError(f"unknown evaluation {sorted(unknown)}; valid: {choices(EVALUATIONS + ('all',))}")
    out: dict[str, Any] = {}
    ids = train.neuron_ids
    if "layerwise" in which:
        sites = list(dict.fromkeys(site_of(i) for i in ids))
        cols = {s: np.array([j for j, i in enumerate(ids) if site_of(i) == s]) for s in sites}
        data = {s: (train.X[:, c], test.X[:, c]) for s, c in cols.items()}
        out["layerwise"] = layerwise_accuracy(probe, data, train.y, test.y)
    if "ablation" in which:
        curves = []
        for mode in ("keep", "zero"):
            for order in ("top", "bottom", "random"):
                c = ablation_curve(fitted, test.X, test.y, ordering, mode=mode, order=order, random_state=random_state)
                curves.append({"mode": mode, "order": order, "fractions": c.fractions.tolist(),
                               "n_neurons": c.n_neurons.tolist(), "accuracy": c.accuracy.tolist()})
        k = max(1, int(round(0.1 * len(ids))))
        rt = retrain_accuracy(probe, train.X, train.y, test.X, test.y, ordering[:k], random_state=random_state)
        out["ablation"] = {"full_accuracy": float(fitted.score(test.X, test.y)), "curves": curves,
                           "retrain_top10pct": {k2: (v.tolist() if isinstance(v, np.ndarray) else v)
                                                for k2, v in rt.items() if k2 != "random_neurons"}}
    if "minimal" in which:
        m = minimal_neuron_subset(probe, train.X, train.y, test.X, test.y, ordering, delta=0.01, groups=train.groups,
                                  random_state=random_state)
        out["minimal"] = {"k": int(m.k), "fraction": float(m.fraction), "accuracy": float(m.accuracy),
                          "oracle_accuracy": float(m.oracle_accuracy), "delta": 0.01,
                          "dev_accuracy": float(m.dev_accuracy), "dev_oracle_accuracy": float(m.dev_oracle_accuracy),
                          "n_dev": int(m.n_dev), "tried_on_dev": [[int(a), float(b)] for a, b in m.tried]}
    return out


def _random_init_accuracy(ri, train, test, concept, sites, probe, has_test_store,
                          stream_gb: float | None = None) -> float | None:
    try:
        if has_test_store:
            ri_train_store, ri_test_store = ri
            rtr = load_concept(ri_train_store, concept, sites=sites)
            rte = align_classes(rtr, load_concept(ri_test_store, concept, sites=sites))
        else:
            full = load_concept(ri, concept, sites=sites)
            pos = {int(r): i for i, r in enumerate(full.rows)}
            rtr = full.subset([pos[int(r)] for r in train.rows])
            rte = full.subset([pos[int(r)] for r in test.rows])
    except (KeyError, NeuronlabError) as exc:
        log.warning("random-init baseline skipped: the random-init store does not match (%s)", exc)
        return None
    if len(rtr) != len(train) or len(rte) != len(test):
        log.warning("random-init baseline skipped: row counts differ from the trained model's store")
        return None
    if stream_gb is None:
        rtr, rte = rtr.load(), rte.load()
    rtr = replace(rtr, y=train.y)
    X = rtr.X if stream_gb is None else ChunkedRows(rtr.X, budget_gb=stream_gb)
    return float(clone(probe).fit(X, rtr.y).score(rte.X, test.y))


def _probe_source(train: ConceptData, n_rows: int, max_memory_gb: float | None, evaluate: Sequence[str],
                  address: str | None = None, stack: contextlib.ExitStack | None = None):
    """A row source that streams the training rows when the float32 matrix does not fit the budget (or on the dask
    cluster at ``address``), else None (the rows are then loaded)."""
    from .rankers.streaming import GIB

    if address is not None:
        from ..scale.dask_arrays import scheduler
        from ..scale.dask_probe import DaskRows

        if evaluate:
            raise InvalidParameterError("the extra evaluations (evaluate=) run in one process; drop scheduler=")
        client = stack.enter_context(scheduler(address))
        avail = _available_memory()
        budget_gb = max_memory_gb if max_memory_gb is not None else (avail / GIB if avail else None)
        return DaskRows(train.X, client, budget_gb=budget_gb)  # the budget decides if the warm start is gathered
    try:
        check_memory(n_rows, len(train.neuron_ids), budget_gb=max_memory_gb)
        return None
    except InvalidParameterError:
        budget = max_memory_gb * GIB if max_memory_gb is not None else _available_memory()
    if evaluate:
        raise InvalidParameterError(
            f"the activations ({n_rows} rows x {len(train.neuron_ids)} neurons) do not fit the memory budget, so the "
            "probe is trained streamed, but the extra evaluations (evaluate=) need them in memory; drop evaluate=, "
            "select fewer sites (sites=), or raise max_memory_gb=")
    source = ChunkedRows(train.X, budget_gb=budget / GIB)
    log.info("probing %d rows x %d neurons streamed from the store in chunks of %d rows (budget %.3g GB)",
             len(train), len(train.neuron_ids), source.chunk_rows, budget / GIB)
    return source


def rank_concept(
    store: ActivationStore,
    concept: str,
    method: str,
    *,
    sites: str | Sequence[str] | None = None,
    params: dict | None = None,
    top_k: int = 10,
    max_memory_gb: float | None = None,
    scheduler: str | None = None,
) -> RankingResult:
    """Rank neurons for ``concept`` with a registered method (:data:`~neuronlab.concepts.rankers.RANKERS`).

    A ranker registered with ``level="sentence"`` is fitted with the sentence id of every row (``groups``);
    for a sentence-level concept on a word or token store it gets one label per sentence.

    Parameters
    ----------
    method : str
        A key of ``RANKERS``.
    params : dict, optional
        Hyper-parameters of the ranker (unknown names are refused with the list of valid ones).
    top_k : int
        Top neurons listed (overall and per class).
    max_memory_gb : float, optional
        Memory budget; a ranker that streams reads the store in blocks when the matrix does not fit.
    scheduler : str, optional
        Run the ranker as a dask map-reduce on a ``dask.distributed`` scheduler (``ADDRESS`` or ``local:N``;
        :mod:`neuronlab.scale.dask_arrays`): ``probeless``, ``iou`` and ``ap`` as map-reduce, ``linear`` and
        ``gaussian`` with their probes on the workers' row chunks (:mod:`neuronlab.scale.dask_probe`); same result
        as one process.

    Returns
    -------
    RankingResult
        method, concept, ranking (best-first ids), scores (aligned with ranking), per_class top neurons, config;
        ``class_scores`` (stored by ``to_store``, not in the JSON).
    """
    entry = RANKERS[method]  # UnknownKeyError lists the registered methods
    ranker = entry.build(**(params or {}))  # unknown parameters fail here, before any data is read
    t0 = time.perf_counter()
    label = store.label(concept)
    sentence_y = None
    if entry.level == "sentence" and label.level == "sentence" and store.granularity != "sentence":
        data, sentence_y = _sentence_concept_rows(store, concept, sites)
    else:
        data = load_concept(store, concept, sites=sites)
    if top_k < 1 or top_k > len(data.neuron_ids):
        raise InvalidParameterError(f"top_k must lie in 1..{len(data.neuron_ids)} (the number of neurons), got {top_k}")
    streamed = scheduler is None and sentence_y is None and entry.level == "row" and _stream_ranker(
        ranker, len(data), len(data.neuron_ids), max_memory_gb, n_classes=data.n_classes)
    if scheduler is not None:
        _fit_distributed(ranker, store, concept, method, sites, data, scheduler)
    else:
        if not streamed:
            check_memory(len(data), len(data.neuron_ids), copies=1.5, budget_gb=max_memory_gb)
            data = data.load()
        if sentence_y is not None:
            ranker.fit(data.X, sentence_y, groups=data.groups)
        elif entry.level == "sentence":
            ranker.fit(data.X, data.y, groups=data.groups)
        else:
            ranker.fit(data.X, data.y)
    ids = data.neuron_ids
    ranking = np.asarray(ranker.ranking_)
    scores = np.asarray(ranker.scores_, dtype=np.float64)
    per_class = {}
    pcr = getattr(ranker, "per_class_ranking_", None) or {}
    for key, order in pcr.items():
        name = data.classes[int(key)] if isinstance(key, (int, np.integer)) else str(key)
        per_class[str(name)] = _ids(np.asarray(order)[:top_k], ids)
    report = {
        "method": method,
        "concept": concept,
        "store": str(store.path),
        "n_rows": len(data),
        "n_neurons": len(ids),
        "classes": list(map(str, data.classes)),
        "ranking": _ids(ranking, ids),
        "scores": [float(s) for s in scores[ranking]],
        "per_class": per_class,
        "top": _ids(ranking[:top_k], ids),
        "seconds": round(time.perf_counter() - t0, 3),
        "config": {"method": method, "params": ranker.get_params(), "sites": sites if isinstance(sites, str) or
                   sites is None else ",".join(sites), "streamed": bool(streamed), "max_memory_gb": max_memory_gb,
                   "scheduler": scheduler},
    }
    report.update(_score_details(ranker, ranking, data.classes))
    cs = getattr(ranker, "class_scores_", None)
    return RankingResult(**report, neuron_ids=list(ids), class_scores=None if cs is None else np.asarray(cs))


def _fit_distributed(ranker: Any, store: ActivationStore, concept: str, method: str, sites: Any, data: ConceptData,
                     address: str) -> None:
    """Fit ``ranker`` from the class scores of the dask map-reduce (:func:`neuronlab.scale.dask_arrays.rank_distributed`)."""
    from ..scale.dask_arrays import DISTRIBUTED_RANKERS, rank_distributed, scheduler
    from ..scale.dask_probe import SOURCE_RANKERS, DaskRows

    if method in SOURCE_RANKERS:  # the probe's loss and gradient as a map-reduce over the workers' row chunks
        with scheduler(address) as client:
            ranker.fit(DaskRows(data.X, client), data.y)
        return
    if method not in DISTRIBUTED_RANKERS:
        names = ", ".join([*DISTRIBUTED_RANKERS, *SOURCE_RANKERS])
        raise InvalidParameterError(f"a dask scheduler runs the rankers {names}; {method!r} runs in one process "
                                    "(drop scheduler=)")
    with scheduler(address):
        class_scores, scores, _, _, attrs = rank_distributed(store, concept, method, sites=sites,
                                                             params=ranker.get_params())
    ranker._set_scores(np.unique(data.y), scores, class_scores)
    for key, value in attrs.items():
        setattr(ranker, key, value)


def _stream_ranker(ranker: Any, n_rows: int, n_neurons: int, max_memory_gb: float | None, *,
                   n_classes: int = 2) -> bool:
    """Decide whether a ranker reads the store in blocks instead of loading it, and size its blocks.

    A ranker streams when its class says so (``streams = True``: it accepts a lazy store view) and its
    in-memory fit would not fit the budget (``max_memory_gb``, or the memory the system reports available):
    the ranker's own ``in_memory_bytes(n_rows, n_neurons, n_classes)`` where it has one (the Gaussian ranker's
    per-class residuals are many times the matrix), else the float32 matrix with work space. Its ``max_memory_gb`` / ``chunk_rows`` parameters are then set from
    the budget; the scores are the same as in memory (tests check it).
    """
    from .rankers.streaming import GIB, rows_for_budget

    if not getattr(type(ranker), "streams", False):
        return False
    budget = max_memory_gb * GIB if max_memory_gb is not None else _available_memory()
    need_of = getattr(ranker, "in_memory_bytes", None)
    need = need_of(n_rows, n_neurons, n_classes) if need_of is not None else n_rows * n_neurons * 4 * 1.5
    if budget is None or need <= budget:
        return False
    budget_gb = budget / GIB
    # refuse before saying anything when not even one row of every neuron (or one neuron over every row) fits
    rows_for_budget(max(n_neurons, n_rows), budget_gb, copies=4.0)
    params = ranker.get_params()
    if "max_memory_gb" in params and params["max_memory_gb"] is None:
        ranker.set_params(max_memory_gb=budget_gb)
    if "chunk_rows" in params:
        ranker.set_params(chunk_rows=min(int(params["chunk_rows"]), rows_for_budget(n_neurons, budget_gb, copies=4.0)))
    log.info("ranking %d rows x %d neurons streamed from the store (budget %.3g GB)", n_rows, n_neurons, budget_gb)
    return True


def _class_name(classes_, index: int, names: Sequence[str]) -> str:
    label = classes_[int(index)]
    return str(names[int(label)]) if isinstance(label, (int, np.integer)) and 0 <= int(label) < len(names) else str(label)


def _score_details(ranker, ranking: np.ndarray, names: Sequence[str]) -> dict:
    """What actually ranked the neurons, aligned with ``ranking``, for methods whose ``scores_`` alone mislead.

    linear: ``scores_`` is a rank; report the share of its class's weight mass at which each neuron entered the
    ordering and that class. ap: ``scores_`` is max(AP(a), AP(-a)); report the best class, both APs and the direction.
    """
    out: dict[str, Any] = {}
    if hasattr(ranker, "entry_percentage_"):
        pct = np.asarray(ranker.entry_percentage_)[ranking]
        via = np.asarray(ranker.entry_class_)[ranking]
        out["weight_mass"] = {"entry_percentage": [None if not np.isfinite(p) else float(p) for p in pct],
                              "class": [None if c < 0 else _class_name(ranker.classes_, c, names) for c in via]}
    if getattr(ranker, "ap_positive_", None) is not None:
        best = np.asarray(ranker.class_scores_)[:, ranking].argmax(axis=0)
        pos = np.asarray(ranker.ap_positive_)[best, ranking]
        neg = None if ranker.ap_negative_ is None else np.asarray(ranker.ap_negative_)[best, ranking]
        sign = np.asarray(ranker.sign_)[best, ranking]
        out["average_precision"] = {
            "class": [_class_name(ranker.classes_, c, names) for c in best],
            "ap_positive": pos.tolist(), "ap_negative": None if neg is None else neg.tolist(),
            "direction": ["+" if s > 0 else "-" for s in sign]}
    return out


def _sentence_concept_rows(store: ActivationStore, concept: str, sites) -> tuple[ConceptData, np.ndarray]:
    """Every row of the labelled sentences, with the per-sentence labels (for rankers of level "sentence")."""
    label = store.label(concept)
    values = label.values.astype(np.int64)[: store.n_done]
    remap, present = class_remap(values, label.vocabulary, concept)
    sent_ok = np.flatnonzero(values >= 0)
    row_sent = store.row_sentence()
    rows = np.flatnonzero(np.isin(row_sent, sent_ok))
    view = store.view(sites=sites, rows=rows)
    groups = row_sent[rows]
    sentence_y = remap[values[np.unique(groups)]]
    data = ConceptData(X=view, y=np.zeros(rows.size, dtype=np.int64), classes=[label.vocabulary[i] for i in present],
                       groups=groups, words=np.array(store.tokens(), dtype=object)[rows], neuron_ids=view.neuron_ids,
                       rows=rows, concept=concept)
    return data, sentence_y


def compare_rankings(
    store: ActivationStore,
    concept: str,
    methods: Sequence[str],
    *,
    sites: str | Sequence[str] | None = None,
    k: int = 50,
    params: dict | None = None,
    max_memory_gb: float | None = None,
) -> dict:
    """Agreement between the rankings of several methods: top-k overlap and Spearman correlation of ranks.

    Parameters
    ----------
    methods : sequence of str
        Registered ranker names (at least two).
    k : int
        Size of the top sets compared.
    params : dict, optional
        ``method -> hyper-parameters``.

    Returns
    -------
    dict
        ``methods``, ``k``, ``overlap`` and ``spearman`` (lists of lists, in ``methods`` order), ``top`` per method.
    """
    from .rankers.agreement import agreement_matrix, rank_correlation

    methods = list(dict.fromkeys(methods))
    if len(methods) < 2:
        raise InvalidParameterError(f"compare needs at least two methods, got {methods}")
    reports = {m: rank_concept(store, concept, m, sites=sites, params=(params or {}).get(m), top_k=min(k, 10),
                               max_memory_gb=max_memory_gb).to_dict() for m in methods}
    ids = reports[methods[0]]["ranking"]
    index = {nid: i for i, nid in enumerate(sorted(ids))}
    if k < 1 or k > len(ids):
        raise InvalidParameterError(f"k must lie in 1..{len(ids)} (the number of neurons), got {k}")
    rankings = {m: np.array([index[n] for n in r["ranking"]]) for m, r in reports.items()}
    overlap = agreement_matrix(rankings, k).values
    # rank positions as scores (higher = better) so that every method is compared on the same footing
    pos = {}
    for m, r in rankings.items():
        p = np.empty(r.size)
        p[r] = np.arange(r.size, 0, -1)
        pos[m] = p
    spearman = [[1.0 if a == b else float(rank_correlation(pos[a], pos[b])) for b in methods] for a in methods]
    return {
        "concept": concept,
        "methods": methods,
        "k": k,
        "overlap": np.round(overlap, 6).tolist(),
        "spearman": spearman,
        "top": {m: r["ranking"][:k] for m, r in reports.items()},
        "seconds": {m: r["seconds"] for m, r in reports.items()},
    }
