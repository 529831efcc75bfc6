"""A redundancy study on an activation store: general redundancy, and for a concept CCFS (Dalvi et al. 2020).

:func:`redundancy_study` streams the correlation of the selected sites' neurons over the store's rows
(only the ``n_neurons^2`` matrix is held; the plan is logged before any work and refused when it does not
fit ``max_memory_gb``), cuts one tree at every threshold, and, given a concept, runs CCFS and the
task-specific redundancy on a train/test split by sentence (or a separate test store).

References
----------
Dalvi, F., Sajjad, H., Durrani, N., Belinkov, Y. (2020). Analyzing Redundancy in Pretrained Transformer
Models. EMNLP.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np
from sklearn.base import clone

from neuronlab.concepts.data import align_classes, load_concept, split_by_sentence
from neuronlab.concepts.evaluation.layerwise import site_of
from neuronlab.concepts.probes.linear import LinearProbe
from neuronlab.concepts.redundancy.ccfs import CCFS, TaskRedundancy
from neuronlab.concepts.redundancy.clustering import GeneralRedundancy
from neuronlab.concepts.redundancy.correlation import GB, plan_memory
from neuronlab.concepts.redundancy.results import RedundancyResult
from neuronlab.concepts.study import check_memory
from neuronlab.errors import InvalidParameterError

__all__ = ["redundancy_study", "DEFAULT_THRESHOLDS"]

log = logging.getLogger("neuronlab.concepts")

#: the thresholds the paper's general-redundancy figures are read at, and the CLI's default
DEFAULT_THRESHOLDS = (0.3, 0.5, 0.7)


def _per_site(kept: np.ndarray, sites_of: list[str]) -> dict[str, int]:
    out: dict[str, int] = dict.fromkeys(dict.fromkeys(sites_of), 0)
    for j in kept:
        out[sites_of[int(j)]] += 1
    return out


def _ids(cols: Sequence[int], neuron_ids: Sequence[str]) -> list[str]:
    return [neuron_ids[int(j)] for j in cols]


def redundancy_study(
    store: Any,
    *,
    sites: str | Sequence[str] | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    concept: str | None = None,
    test_store: Any = None,
    train_size: float = 0.8,
    ccfs_threshold: float | None = None,
    delta: float = 0.01,
    probe: Any = None,
    task: bool = True,
    linkage: str = "average",
    max_memory_gb: float | None = None,
    random_state: int = 0,
    progress: bool = False,
    scheduler: str | None = None,
) -> RedundancyResult:
    """General redundancy of a store's neurons and, with ``concept``, CCFS and task-specific redundancy.

    Parameters
    ----------
    store : ActivationStore
    sites : str or sequence of str, optional
        Names or globs; every site when omitted.
    thresholds : sequence of float, default=(0.3, 0.5, 0.7)
        Clustering distance thresholds (``1 - |r|``) of the general redundancy.
    concept : str, optional
        A stored label: runs CCFS (LayerSelector, clustering at ``ccfs_threshold``, minimal top-k) and
        the task-specific redundancy on it.
    test_store : ActivationStore, optional
        Held-out store with the same sites; a split of ``store`` by sentence (``train_size``) otherwise.
    train_size : float, default=0.8
    ccfs_threshold : float, optional
        Clustering threshold of CCFS; ``thresholds[0]`` when omitted.
    delta : float, default=0.01
        Allowed absolute accuracy loss of the LayerSelector and of the minimal top-k.
    probe : classifier, optional
        ``LinearProbe()`` when omitted.
    task : bool, default=True
        Also compute the task-specific redundancy over every neuron (one more minimal top-k search).
    linkage : str, default="average"
    max_memory_gb : float, optional
        Budget of the correlation matrix (and of the in-memory probes for a concept).
    random_state : int, default=0
        Split, dev splits and cluster representatives.
    progress : bool, default=False
    scheduler : str, optional
        Compute the correlation matrix of the general redundancy on a ``dask.distributed`` cluster (``ADDRESS``
        or ``local:N``; :class:`~neuronlab.scale.dask_correlation.DaskCorrelationSource`) and cluster it here;
        the concept part runs in this process.

    Returns
    -------
    RedundancyResult
    """
    t0 = time.perf_counter()
    ts = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]
    if not ts:
        raise InvalidParameterError("thresholds must hold at least one distance in [0, 2]")
    if concept is not None:
        load_concept(store, concept, sites=sites)  # an absent or one-class concept fails before any work
    view = store.view(sites=sites, rows=np.arange(store.n_valid_rows))
    neuron_ids = view.neuron_ids
    sites_of = [site_of(n) for n in neuron_ids]
    n_rows, n_neurons = view.shape
    plan = plan_memory(n_neurons, itemsize=np.dtype(view.dtype).itemsize, max_memory_gb=max_memory_gb,
                       n_rows=n_rows)
    log.info("%s", plan.describe())
    general = GeneralRedundancy(ts, linkage=linkage, random_state=random_state, chunk_rows=plan.chunk_rows,
                                max_memory_gb=max_memory_gb, progress=progress)
    if scheduler is None:
        general.fit(view)
    else:  # the scatter matrix reduced on the workers, the tree built here (neuronlab.scale)
        from neuronlab.scale.dask_arrays import scheduler as dask_scheduler, view_array
        from neuronlab.scale.dask_correlation import DaskCorrelationSource

        with dask_scheduler(scheduler):
            general.fit(DaskCorrelationSource(view_array(store, sites=sites)))
    kept = np.zeros((len(ts), n_neurons), dtype=np.uint8)
    rows = []
    for i, t in enumerate(ts):
        kept[i, general.representatives_[i]] = 1
        rows.append({"threshold": t, "n_clusters": int(general.n_clusters_[i]),
                     "removable_fraction": float(general.removable_fraction_[i]),
                     "kept_per_site": _per_site(general.representatives_[i], sites_of)})
    constant = general.clustering_.constant_
    memory = {"matrix_gb": plan.matrix_bytes / GB, "chunk_rows": plan.chunk_rows, "chunk_gb": plan.chunk_bytes / GB,
              "budget_gb": None if plan.budget_bytes is None else plan.budget_bytes / GB, "text": plan.describe()}
    ccfs_report = task_report = None
    if concept is not None:
        ccfs_report, task_report = _concept_part(
            store, concept, sites=sites, test_store=test_store, train_size=train_size,
            threshold=ts[0] if ccfs_threshold is None else float(ccfs_threshold), delta=delta,
            probe=LinearProbe() if probe is None else probe, task=task, linkage=linkage,
            max_memory_gb=max_memory_gb, random_state=random_state)
    config = {"sites": sites, "thresholds": ts, "linkage": linkage, "use_abs": True, "representative": "random",
              "concept": concept, "ccfs_threshold": None if concept is None else
              (ts[0] if ccfs_threshold is None else float(ccfs_threshold)), "delta": delta,
              "split": None if test_store is None else "test store", "train_size": train_size,
              "max_memory_gb": max_memory_gb, "random_state": random_state, "scheduler": scheduler,
              "probe": None if concept is None else repr(LinearProbe() if probe is None else probe)}
    return RedundancyResult(
        store=str(store.path), sites=list(dict.fromkeys(sites_of)), n_rows=int(n_rows), n_neurons=int(n_neurons),
        memory=memory, general=rows, constant_neurons=_ids(np.flatnonzero(constant), neuron_ids), concept=concept,
        ccfs=ccfs_report, task=task_report, seconds=time.perf_counter() - t0, config=config, thresholds=ts,
        neuron_ids=neuron_ids, labels=np.stack(general.labels_).astype(np.int32), kept=kept,
    )


def _concept_part(store, concept, *, sites, test_store, train_size, threshold, delta, probe, task, linkage,
                  max_memory_gb, random_state) -> tuple[dict, dict | None]:
    """CCFS and the task-specific redundancy on a train/test split of ``concept``."""
    data = load_concept(store, concept, sites=sites)
    if test_store is not None:
        train = data
        test = align_classes(train, load_concept(test_store, concept, sites=sites))
        if test.neuron_ids != train.neuron_ids:
            raise InvalidParameterError("the test store has other sites or widths than the training store")
    else:
        train, test = split_by_sentence(data, train_size=train_size, random_state=random_state)
    check_memory(len(train) + len(test), len(train.neuron_ids), budget_gb=max_memory_gb)
    train, test = train.load(), test.load()
    layers = [site_of(n) for n in train.neuron_ids]
    log.info("CCFS for %s: %d train / %d test rows; layer selection, clustering at %s, minimal top-k (one probe "
             "per step)", concept, len(train), len(test), threshold)
    ccfs = CCFS(probe, threshold=threshold, delta=delta, linkage=linkage, random_state=random_state,
                max_memory_gb=max_memory_gb).fit(train.X, train.y, layers=layers, groups=train.groups)
    oracle = float(np.mean(clone(probe).fit(train.X, train.y).predict(test.X) == test.y))
    ls = ccfs.layer_selector_
    ccfs_report = {
        "threshold": threshold, "delta": delta, "n_train": len(train), "n_test": len(test),
        "classes": list(train.classes),
        "selected_layers": list(ls.selected_layers_),
        "layer_dev_accuracies": {str(name): (None if np.isnan(a) else float(a))
                                 for name, a in zip(ls.layers_, ls.prefix_accuracies_)},
        "n_neurons": len(layers), "n_after_layers": ccfs.n_after_layers_,
        "n_after_clustering": ccfs.n_after_clustering_, "n_kept": int(len(ccfs.neurons_)),
        "kept_fraction": float(ccfs.kept_fraction_),
        "accuracy": ccfs.score(test.X, test.y), "oracle_accuracy": oracle,
        "dev_accuracy": float(ccfs.dev_accuracy_), "dev_oracle_accuracy": float(ccfs.dev_oracle_accuracy_),
        "kept_neurons": _ids(ccfs.neurons_, train.neuron_ids),
    }
    log.info("CCFS kept %d of %d neurons (test accuracy %.4f, all neurons %.4f)", len(ccfs.neurons_), len(layers),
             ccfs_report["accuracy"], oracle)
    if not task:
        return ccfs_report, None
    log.info("task-specific redundancy over all %d neurons", len(layers))
    tr = TaskRedundancy(probe, delta=delta, random_state=random_state).fit(train.X, train.y, groups=train.groups)
    task_report = {
        "delta": delta, "n_kept": int(len(tr.neurons_)), "removable_fraction": float(tr.removable_fraction_),
        "accuracy": tr.score(test.X, test.y), "oracle_accuracy": oracle,
        "kept_neurons": _ids(tr.neurons_, train.neuron_ids),
    }
    return ccfs_report, task_report
