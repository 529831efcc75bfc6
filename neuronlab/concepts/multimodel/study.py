"""Run one multi-model method on store files: the driver of ``neuronlab crossmodel``.

:data:`CROSSMODEL_METHODS` is a :class:`~neuronlab.registry.Registry`: key -> the estimator (by import
path), how its result is reported (``kind``: neurons, directions or layers), a description and the paper.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from neuronlab.concepts.multimodel.results import CrossModelResult
from neuronlab.concepts.multimodel.stores import model_labels, open_aligned
from neuronlab.errors import InvalidParameterError
from neuronlab.registry import Entry, Param, Registry
from neuronlab.sites import expand_sites

__all__ = ["CROSSMODEL_METHODS", "CrossModelEntry", "cross_model", "memory_needed"]

REPORTS = ("neurons", "directions", "layers")


@dataclass(frozen=True)
class CrossModelEntry(Entry):
    """A registered multi-model method; ``report`` says what it ranks (neurons, directions, layers)."""

    report: str = "neurons"

    def __post_init__(self) -> None:
        if self.report not in REPORTS:
            raise InvalidParameterError(f"report must be one of {', '.join(REPORTS)}; got {self.report!r}")


CROSSMODEL_METHODS: Registry[CrossModelEntry] = Registry(
    "multi-model method", how_to_add="add one with CROSSMODEL_METHODS.register(CrossModelEntry(...))")
_P = "neuronlab.concepts.multimodel."
for _e in (
    CrossModelEntry("maxcorr", _P + "correlation:MaxCorr", "neurons with a highly correlated neuron in another model "
                    "(max over models of max |r|)", "Bau et al. 2019"),
    CrossModelEntry("mincorr", _P + "correlation:MinCorr", "neurons with a correlated neuron in every other model "
                    "(min over models of max |r|)", "Bau et al. 2019"),
    CrossModelEntry("linreg", _P + "linreg:LinReg", "neurons linearly predictable from every other model's whole "
                    "layer (lowest worst-case error first)", "Bau et al. 2019"),
    CrossModelEntry("svcca", _P + "svcca:SVCCA", "shared directions by SVD + CCA, ranked by canonical correlation",
                    "Raghu et al. 2017; Bau et al. 2019", report="directions",
                    params=(Param("variance", float, "share of variance kept by the SVD step"),)),
    CrossModelEntry("cka", _P + "cka:LinearCKA", "layer-to-layer linear CKA (a site x site matrix over all models)",
                    "Kornblith et al. 2019", report="layers"),
):
    CROSSMODEL_METHODS.register(_e)
del _e


def memory_needed(n_columns: int) -> int:
    """Bytes the joint covariance of ``n_columns`` neurons takes (plus one copy for the method's algebra)."""
    from neuronlab.concepts.multimodel.moments import covariance_bytes  # pulls scikit-learn: not at CLI start

    return 2 * covariance_bytes(n_columns)


def cross_model(
    paths: Sequence[str | os.PathLike],
    method: str,
    *,
    sites: str | Sequence[str] | None = None,
    params: dict | None = None,
    top_k: int = 10,
    max_memory_gb: float | None = None,
    progress: Callable[[Any], Any] | None = None,
) -> CrossModelResult:
    """Run a registered multi-model method on stores of the same corpus.

    Parameters
    ----------
    paths : sequence of path-like
        Two or more stores (one for ``cka``: its own layers); their rows must match.
    method : str
        A key of :data:`CROSSMODEL_METHODS`.
    sites : str or sequence of str, optional
        Names or globs, resolved in every store; all sites when omitted.
    params : dict, optional
        Hyper-parameters of the method.
    top_k : int
        Neurons (or directions) listed in the report.
    max_memory_gb : float, optional
        Refuse before reading anything if the joint covariance needs more.
    progress : callable, optional
        Wraps the row-chunk iterator (e.g. ``tqdm``).

    Returns
    -------
    CrossModelResult
    """
    entry = CROSSMODEL_METHODS[method]
    estimator = entry.build(**(params or {}))
    if len(paths) < estimator.min_models:
        raise InvalidParameterError(f"{method} compares models: give at least {estimator.min_models} stores "
                                    f"(got {len(paths)})")
    if top_k < 1:
        raise InvalidParameterError(f"top_k must be >= 1; got {top_k}")
    labels = model_labels(paths)
    t0 = time.perf_counter()
    with open_aligned(paths) as stores:
        site_lists = [expand_sites(sites, st.sites) for st in stores]
        n_cols = sum(st.view(s).shape[1] for st, s in zip(stores, site_lists))
        need = memory_needed(n_cols)
        if max_memory_gb is not None and need > max_memory_gb * 2 ** 30:
            raise InvalidParameterError(
                f"{method} on {n_cols} neurons holds their joint covariance: {need / 2 ** 30:.3g} GB, more than the "
                f"budget of {max_memory_gb:g} GB; compare fewer sites (sites=) or raise max_memory_gb=")
        if entry.report == "layers":
            blocks = [st.view(s) for st, sl in zip(stores, site_lists) for s in sl]
            names = [f"{lab}:{s}" for lab, sl in zip(labels, site_lists) for s in sl]
        else:
            blocks = [st.view(sl) for st, sl in zip(stores, site_lists)]
        ids = [st.neuron_ids(sl) for st, sl in zip(stores, site_lists)]
        estimator.fit(blocks, progress=progress)
        n_rows = stores[0].n_valid_rows
    common = dict(method=method, stores=[str(p) for p in paths], models=labels,
                  sites=site_lists[0],
                  n_rows=int(n_rows), seconds=round(time.perf_counter() - t0, 3),
                  config={"method": method, "params": estimator.get_params(), "sites": sites,
                          "sites_per_model": site_lists})
    report = {"neurons": _neurons, "directions": _directions, "layers": _layers}[entry.report]
    return report(estimator, common, ids, labels, top_k, names if entry.report == "layers" else None)


def _neurons(est, common, ids, labels, top_k, _names) -> CrossModelResult:
    ranking = est.ranking_[0]
    top = []
    for i in ranking[:top_k]:
        item: dict = {"neuron": ids[0][i], "score": float(est.scores_[0][i])}
        if hasattr(est, "best_match_"):
            item["matches"] = {labels[f]: {"neuron": ids[f][int(est.best_match_[0][f][i])],
                                           "r": float(est.best_correlation_[0][f][i])}
                               for f in est.best_match_[0]}
        if hasattr(est, "errors_"):
            item["errors"] = {labels[f]: _num(est.errors_[0][f][i]) for f in est.errors_[0]}
        top.append(item)
    other = {labels[m]: [ids[m][i] for i in est.ranking_[m][:top_k]] for m in range(1, len(labels))}
    return CrossModelResult(**common, ranking=[ids[0][i] for i in ranking],
                            scores=[_num(est.scores_[0][i]) for i in ranking], top=top, other_top=other)


def _directions(est, common, ids, labels, top_k, _names) -> CrossModelResult:
    pairs = []
    for f in range(1, len(labels)):
        res = est.pairs_[0, f]
        dirs = []
        for k in range(min(top_k, res["correlations"].shape[0])):
            load = res["directions_a"][:, k]
            order = np.argsort(-np.abs(load), kind="stable")[:5]
            dirs.append({"rho": float(res["correlations"][k]),
                         "neurons": [ids[0][i] for i in order], "loadings": [float(load[i]) for i in order]})
        pairs.append({"models": [labels[0], labels[f]], "similarity": res["similarity"], "kept": list(res["kept"]),
                      "correlations": [float(v) for v in res["correlations"]], "top_directions": dirs})
    return CrossModelResult(**common, pairs=pairs, similarity=est.similarity_.tolist(),
                            correlations=est.pairs_[0, 1]["correlations"])


def _layers(est, common, ids, labels, top_k, names) -> CrossModelResult:
    return CrossModelResult(**common, blocks=names, similarity=est.similarity_.tolist())


def _num(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v
