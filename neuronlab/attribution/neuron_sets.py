"""Neuron sets for the concept bridge: ids ``site:index``, a concept's top neurons from a stored ranking, random
sets of the same size and site distribution, and the empirical p-value against them.

Examples
--------
>>> parse_neuron_ids(["layers.1:3", "layers.0:7", "layers.1:0"])
{'layers.1': [3, 0], 'layers.0': [7]}
>>> empirical_p_value(0.5, [0.1, 0.6, 0.2, 0.5])
0.6
>>> sets = random_like({"layers.0": [1, 2], "layers.1": [5]}, {"layers.0": 4, "layers.1": 8}, 3, random_state=0)
>>> [{s: len(v) for s, v in d.items()} for d in sets]
[{'layers.0': 2, 'layers.1': 1}, {'layers.0': 2, 'layers.1': 1}, {'layers.0': 2, 'layers.1': 1}]
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices

__all__ = ["parse_neuron_ids", "concept_neurons", "random_like", "empirical_p_value", "RANKED_RESULTS"]


def _ranked_results() -> dict:
    from ..concepts.results import ProbeResult, RankingResult

    return {RankingResult.kind: RankingResult, ProbeResult.kind: ProbeResult}


#: stored result kinds that carry a best-first ``ranking`` of neuron ids (kind -> result class, imported lazily)
RANKED_RESULTS = ("ranking", "probe")


def parse_neuron_ids(ids: Sequence[str]) -> dict[str, list[int]]:
    """Group global neuron ids ``site:index`` by site (sites in order of first appearance, indices in given order).

    Raises
    ------
    InvalidParameterError
        If an id is not ``site:index`` with a non-negative integer index, or an id is repeated.
    """
    if isinstance(ids, str):
        ids = [ids]
    out: dict[str, list[int]] = {}
    seen = set()
    for nid in ids:
        site, sep, idx = str(nid).rpartition(":")
        if not sep or not site or not idx.isdigit():
            raise InvalidParameterError(f"neuron id {nid!r} is not of the form site:index (e.g. layers.3.mlp:1021)")
        if nid in seen:
            raise InvalidParameterError(f"neuron id {nid!r} is given twice")
        seen.add(nid)
        out.setdefault(site, []).append(int(idx))
    if not out:
        raise InvalidParameterError("neurons: no neuron ids given")
    return out


def concept_neurons(source: Any, name: str | None = None, *, top_k: int | None = None,
                    top_fraction: float | None = None) -> tuple[list[str], dict]:
    """The top neurons a ranking selected for a concept, and a description of where they come from.

    Parameters
    ----------
    source : ActivationStore, RankingResult, ProbeResult or sequence of str
        A store (then ``name`` is the result under ``/results``), a ranking/probe result, or neuron ids.
    name : str, optional
        The stored result's name (with a store).
    top_k : int, optional
        The first ``top_k`` ids of the ranking.
    top_fraction : float in (0, 1], optional
        The first ``ceil(top_fraction * n_ranked)`` ids. Neither: every given id (neuron ids only).

    Returns
    -------
    ids : list of str
    source_info : dict
        ``kind`` (ranking, probe or ids), ``name``, ``method``, ``concept``, ``n_ranked``, ``top_k``, ``top_fraction``.
    """
    info: dict = {"kind": "ids", "name": name, "method": None, "concept": None}
    if hasattr(source, "read_result"):
        if name is None:
            raise InvalidParameterError("concept_neurons: give name= (the result under /results) with a store; "
                                        f"stored results: {choices(source.result_names()) or '(none)'}")
        kind = source.read_result(name)["kind"]
        classes = _ranked_results()
        if kind not in classes:
            raise InvalidParameterError(f"result {name!r} is a {kind!r} result; the bridge needs one of "
                                        f"{choices(RANKED_RESULTS)} (from `neuronlab probe` or `neuronlab rank`)")
        source = classes[kind].from_store(source, name)
    if hasattr(source, "ranking") and not isinstance(source, (list, tuple, np.ndarray)):
        info.update(kind=type(source).kind, method=getattr(source, "method", "probe"),
                    concept=getattr(source, "concept", None))
        ranked = [str(x) for x in source.ranking]
    else:
        ranked = [str(x) for x in source]
    info["n_ranked"] = len(ranked)
    if top_k is not None and top_fraction is not None:
        raise InvalidParameterError("give top_k or top_fraction, not both")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= len(ranked):
            raise InvalidParameterError(f"top_k must be an int in 1..{len(ranked)} (the ranked neurons), got {top_k!r}")
        ranked = ranked[: int(top_k)]
    elif top_fraction is not None:
        if not isinstance(top_fraction, (int, float)) or not 0 < top_fraction <= 1:
            raise InvalidParameterError(f"top_fraction must be in (0, 1], got {top_fraction!r}")
        ranked = ranked[: max(1, int(np.ceil(top_fraction * len(ranked) - 1e-9)))]
    elif info["kind"] != "ids":
        raise InvalidParameterError("give top_k or top_fraction to select the concept's neurons from a ranking")
    info.update(top_k=top_k, top_fraction=top_fraction)
    parse_neuron_ids(ranked)
    return ranked, info


def random_like(selected: Mapping[str, Sequence[int]], widths: Mapping[str, int], n_sets: int, *,
                random_state: int | None = 0) -> list[dict[str, np.ndarray]]:
    """``n_sets`` random neuron sets with as many neurons at each site as ``selected`` has.

    Each set draws, at every site, ``len(selected[site])`` distinct neurons uniformly from ``0..width-1``
    (the selected ones may be drawn too: the null is "any neurons of the same size and site distribution").
    """
    if isinstance(n_sets, bool) or not isinstance(n_sets, (int, np.integer)) or n_sets < 1:
        raise InvalidParameterError(f"n_random must be a positive int, got {n_sets!r}")
    rng = np.random.default_rng(random_state)
    out = []
    for _ in range(int(n_sets)):
        out.append({s: np.sort(rng.choice(int(widths[s]), size=len(idx), replace=False))
                    for s, idx in selected.items()})
    return out


def empirical_p_value(observed: float, random_values: Sequence[float]) -> float:
    """``(1 + #{random >= observed}) / (1 + n_random)`` (Phipson & Smyth 2010: never zero, exact under the null).

    Phipson & Smyth (2010). Permutation p-values should never be zero. Stat. Appl. Genet. Mol. Biol. 9(1).
    """
    r = np.asarray(random_values, dtype=np.float64)
    # a tolerance so that sets equal to the observed one (same value up to rounding) count as >=
    ge = int(np.sum(r >= observed - 1e-12 * max(1.0, abs(observed))))
    return (1 + ge) / (1 + r.size)
