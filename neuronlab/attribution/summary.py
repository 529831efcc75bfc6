"""Per-token and per-layer summaries of attributions: attribution per token per layer, its distribution, its entropy.

As in the NAACL 2021 tutorial's layer-wise views: for each attributed site (usually every block output
``layers.0 .. layers.N``), the attribution of each token position summed over the site's neurons, the
distribution of its absolute value over the tokens of the sentence, and that distribution's entropy
(low entropy: a few tokens carry the prediction at that layer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .result import AttributionResult

__all__ = ["LayerSummary", "layer_summary"]


@dataclass
class LayerSummary:
    """Attribution per token per layer.

    Attributes
    ----------
    sites : list of str
    per_token : ndarray of shape (n_sites, n_examples, n_tokens)
        Attribution of each token position summed over the site's neurons (0 at padding).
    distribution : ndarray of the same shape
        ``|per_token|`` normalised to sum to one over the real tokens of each example.
    entropy : ndarray of shape (n_sites, n_examples)
        Shannon entropy (nats) of ``distribution``.
    """

    sites: list
    per_token: np.ndarray
    distribution: np.ndarray
    entropy: np.ndarray

    def to_dict(self) -> dict:
        return {"sites": self.sites, "per_token": self.per_token.tolist(),
                "distribution": self.distribution.tolist(), "entropy": self.entropy.tolist()}


def layer_summary(results: Sequence[AttributionResult]) -> LayerSummary:
    """Summarise layer attributions of the same inputs at several sites.

    Raises
    ------
    ValueError
        If the results do not come from the same inputs (different token counts).
    """
    results = list(results)
    if not results:
        raise ValueError("layer_summary: no results given")
    shapes = {r.per_token().shape for r in results}
    if len(shapes) != 1:
        raise ValueError(f"layer_summary: results are for different inputs (shapes {sorted(shapes)})")
    per_token = np.stack([r.per_token() for r in results])
    mag = np.abs(per_token)
    total = mag.sum(axis=2, keepdims=True)
    dist = np.divide(mag, total, out=np.zeros_like(mag), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(dist > 0, dist * np.log(dist), 0.0).sum(axis=2)
    return LayerSummary([r.site for r in results], per_token, dist, ent)
