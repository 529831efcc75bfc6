"""Readers for the result kinds that are written without a :class:`~neuronlab.results.Result` class.

``attribution/<method>`` (:meth:`AttributionResult.to_store <neuronlab.attribution.result.AttributionResult.to_store>`),
``ablation/greedy`` and ``ablation/neurons`` (``neuronlab ablate``) and ``attribution/head_pruning``
(:meth:`HeadPruningResult.to_store <neuronlab.attribution.head_pruning.HeadPruningResult.to_store>`) store arrays and a
configuration but no JSON report. Each class here reads one of them with ``from_store(store, name)`` (what
:class:`~neuronlab.report.data.ReportData` calls through :data:`~neuronlab.report.data.RESULT_CLASSES`) into the
few arrays the report draws, without importing torch (the attribution package imports it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuronlab.errors import InvalidParameterError

__all__ = ["StoredAttribution", "StoredAblation", "StoredHeadPruning", "ATTRIBUTION_KINDS"]

#: the kinds AttributionResult.to_store writes (``attribution/<method>`` of the registered attributors)
ATTRIBUTION_KINDS = ("attribution/layer_conductance", "attribution/neuron_conductance",
                     "attribution/layer_integrated_gradients", "attribution/layer_gradient_x_activation",
                     "attribution/self_attention_attribution")


def _read(store: Any, name: str, kinds: tuple) -> dict:
    raw = store.read_result(name)
    if raw["kind"] not in kinds:
        raise InvalidParameterError(f"result {name!r} is a {raw['kind']!r} result, not one of {', '.join(kinds)}")
    return raw


def _strings(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(values).ravel().tolist()]


@dataclass
class StoredAttribution:
    """An attribution result as the report uses it.

    Attributes
    ----------
    method, site : str
    config : dict
    tokens : list of list of str
        Subword tokens of each example.
    per_token : ndarray of shape (n_examples, max_tokens)
        Attribution of each token position summed over the units (NaN past an example's length).
    per_neuron : ndarray of shape (n_examples, n_units) or None
        Attribution of each neuron (or head) summed over token positions (layer methods, self-attention).
    neuron_ids : list of str or None
        The units' ids ``site:index``.
    relative_delta : ndarray of shape (n_examples,)
        ``|delta| / |F(input) - F(baseline)|``.
    """

    method: str
    site: str
    config: dict
    tokens: list
    per_token: np.ndarray
    per_neuron: Any = None
    neuron_ids: Any = None
    relative_delta: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_store(cls, store: Any, name: str) -> StoredAttribution:
        raw = _read(store, name, ATTRIBUTION_KINDS)
        attr = np.asarray(raw["attributions"])  # float32 as stored: no float64 copy of a large result
        lengths = np.asarray(raw["lengths"], dtype=np.int64)
        flat = _strings(raw["tokens"])
        ends = np.cumsum(lengths)
        tokens = [flat[e - n:e] for n, e in zip(lengths, ends)]
        if attr.ndim == 4:  # heads x query x key: what each key token hands to the others
            per_token = attr.sum(axis=(1, 2), dtype=np.float64)
        elif attr.ndim == 3:
            per_token = attr.sum(axis=2, dtype=np.float64)
        else:
            per_token = np.array(attr, dtype=np.float64)
        for e, n in enumerate(lengths):
            per_token[e, n:] = np.nan
        f_in, f_base = np.asarray(raw["f_input"], float), np.asarray(raw["f_baseline"], float)
        rel = np.abs(np.asarray(raw["delta"], float)) / np.maximum(np.abs(f_in - f_base), 1e-12)
        config = dict(raw["config"])
        return cls(method=str(config.get("method", raw["kind"].partition("/")[2])), site=str(config.get("site", "")),
                   config=config, tokens=tokens, per_token=per_token,
                   per_neuron=None if raw.get("per_neuron") is None else np.asarray(raw["per_neuron"], np.float64),
                   neuron_ids=None if raw.get("neuron_ids") is None else _strings(raw["neuron_ids"]),
                   relative_delta=rel)


@dataclass
class StoredAblation:
    """A ``neuronlab ablate`` result: a greedy search (``mode="greedy"``) or the effect of each neuron.

    Attributes
    ----------
    mode : {"greedy", "neurons"}
    neuron_ids : list of str
        Greedy: the chosen neurons in order; neurons: the ablated neurons.
    curve : ndarray or None
        Greedy: mean target after each step (entry 0: nothing ablated).
    per_neuron_effect : ndarray or None
        Neurons: mean target change ``F - F(ablated)`` of each neuron alone.
    config : dict
        With ``target`` and, where labels were given, ``dataset`` (accuracy before and after).
    """

    mode: str
    neuron_ids: list
    config: dict
    curve: Any = None
    per_neuron_effect: Any = None

    @classmethod
    def from_store(cls, store: Any, name: str) -> StoredAblation:
        raw = _read(store, name, ("ablation/greedy", "ablation/neurons"))
        return cls(mode=raw["kind"].partition("/")[2], neuron_ids=_strings(raw["neuron_ids"]),
                   config=dict(raw["config"]),
                   curve=None if raw.get("curve") is None else np.asarray(raw["curve"], np.float64),
                   per_neuron_effect=None if raw.get("per_neuron_effect") is None
                   else np.asarray(raw["per_neuron_effect"], np.float64))


@dataclass
class StoredHeadPruning:
    """Head importances and pruning curves (Hao et al. 2021).

    Attributes
    ----------
    sites : list of str
        ``layers.L.attn.probs`` of each row of the importances.
    attribution, attention : ndarray of shape (n_layers, heads)
        Head importance by self-attention attribution and by attention weight.
    curves : dict
        Order (``attribution``, ``attention``, ``random``) -> accuracy with ``k = 0..heads`` heads pruned per layer.
    config : dict
    """

    sites: list
    attribution: np.ndarray
    attention: np.ndarray
    curves: dict
    config: dict

    @classmethod
    def from_store(cls, store: Any, name: str) -> StoredHeadPruning:
        raw = _read(store, name, ("attribution/head_pruning",))
        curves = {k[len("curve_"):]: np.asarray(v, np.float64) for k, v in raw.items() if k.startswith("curve_")}
        return cls(sites=_strings(raw["sites"]), attribution=np.asarray(raw["attribution_importance"], np.float64),
                   attention=np.asarray(raw["attention_importance"], np.float64), curves=curves,
                   config=dict(raw["config"]))
