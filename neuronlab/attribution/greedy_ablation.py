"""Greedy multi-neuron ablation: the set of k neurons whose joint ablation moves the target most.

At step s, every remaining candidate is ablated together with the s neurons already chosen, and the one
that lowers the mean target most (or raises it, for a loss) is added. All candidates of a step run in
batched forward passes from the cached value of the site (rows = candidates x examples), so a step
costs the blocks above the site once per candidate row, not a whole forward pass per candidate.

References
----------
Durrani, Sajjad & Dalvi (2021). NAACL tutorial "Fine-grained interpretation and causation analysis in
deep NLP models" (greedy multi-neuron ablation); Dalvi et al. (2019), AAAI.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidParameterError
from ..models.live import LiveModel
from ._path import base_config, rows_per_pass
from .ablation import _baseline_name, ablation_values, evaluate_ablations

__all__ = ["GreedyAblation"]


class GreedyAblation:
    """Choose ``k`` neurons of a site greedily by the effect of ablating them together.

    Parameters
    ----------
    live : LiveModel
    site : str
    k : int
    baseline : {"zero", "mean"} or array-like of shape (width,)
    store : ActivationStore, optional
    direction : {"decrease", "increase"}, optional
        Pick the neuron whose ablation lowers or raises the mean target most. Default: ``increase`` for a
        ``loss`` target, ``decrease`` otherwise (a logit, a probability).
    memory_mb : float, default 1024
    batch_size : int, optional
        Rows (candidate x example) per forward pass.
    """

    name = "greedy_ablation"

    def __init__(self, live: LiveModel, site: str, *, k: int, baseline="zero", store=None,
                 direction: str | None = None, memory_mb: float = 1024, batch_size: int | None = None):
        if direction not in (None, "decrease", "increase"):
            raise InvalidParameterError(f"direction {direction!r}: choose decrease or increase")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidParameterError(f"k must be a positive int, got {k!r}")
        self.live = live
        self.site = live.site(site)
        self.k = k
        self.baseline = baseline
        self.store = store
        self.direction = direction
        self.memory_mb = memory_mb
        self.batch_size = batch_size

    def attribute(self, inputs, *, target, candidates=None) -> dict:
        """Run the greedy search.

        Returns
        -------
        dict
            ``neurons`` (the k chosen, in order), ``curve`` (mean target after each step; entry 0 = no
            ablation), ``effects`` (mean target change of each step's choice), ``config``.
        """
        from ..models.targets import as_target

        live = self.live
        enc = live.encode(inputs)
        resolved = live.resolve_target(enc, target)
        direction = self.direction or ("increase" if as_target(target).kind == "loss" else "decrease")
        width = live.width(self.site)
        cand = list(range(width)) if candidates is None else live.check_neurons(self.site, candidates)
        if self.k > len(cand):
            raise InvalidParameterError(f"k={self.k} is larger than the {len(cand)} candidate neurons")
        base = ablation_values(live, self.site, self.baseline, store=self.store)
        rows = rows_per_pass(live, enc, memory_mb=self.memory_mb, batch_size=self.batch_size)
        cache: dict = {}
        y = live.activations(enc, self.site)
        start = live.run_from(enc, self.site, y, None, torch.arange(enc.n_examples), resolved=resolved, cache=cache)
        curve = [float(start.double().mean())]
        chosen: list[int] = []
        remaining = list(cand)
        sign = 1.0 if direction == "decrease" else -1.0
        for _ in range(self.k):
            masks = torch.zeros(len(remaining), width, dtype=torch.bool)
            masks[:, chosen] = True
            masks[torch.arange(len(remaining)), remaining] = True
            vals = evaluate_ablations(live, enc, self.site, masks, base, resolved, rows_per=rows, cache=cache, y=y)
            means = vals.mean(1)
            best = int(torch.argmin(sign * means))
            chosen.append(remaining.pop(best))
            curve.append(float(means[best]))
        cfg = base_config(self.name, live, self.site, target, k=self.k, baseline=_baseline_name(self.baseline),
                          direction=direction, n_candidates=len(cand), rows_per_pass=rows)
        return {"neurons": chosen, "curve": np.array(curve), "effects": np.diff(np.array(curve)), "config": cfg}

