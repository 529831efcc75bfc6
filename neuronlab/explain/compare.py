"""Rank the explainers of a model on a set of inputs by how faithful they are (as ferret does for classifiers).

:func:`compare_explainers` runs each registered explainer (or explanations computed elsewhere: Captum, inseq, a
neuron ablation turned into word scores) on the same inputs and target, and scores each with
:func:`~neuronlab.explain.faithfulness.faithfulness` (comprehensiveness, sufficiency, AOPC, insertion, each
against a random order) and, optionally, the model-randomisation sanity check; with its run time and forward
passes. The rows come sorted by comprehensiveness minus sufficiency (higher is better).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..results import Result
from .base import Explanation
from .faithfulness import faithfulness, randomization_check
from .registry import EXPLAINERS

__all__ = ["ExplainerComparison", "compare_explainers", "explanation_from_arrays"]

_METRICS = ("comprehensiveness", "sufficiency", "aopc", "insertion")


@dataclass
class ExplainerComparison(Result):
    """One row per explainer: faithfulness means, their random baselines, sanity correlation, time.

    Attributes
    ----------
    rows : list of dict
        ``method``, ``comprehensiveness``, ``sufficiency``, ``aopc``, ``insertion`` and their ``random_*``,
        ``sanity_spearman`` (after randomising the head and the top block; None when not run), ``seconds``
        (explanation time), ``forward_passes``, ``source`` (``neuronlab`` or ``external``).
    config : dict
    """

    kind = "explain_compare"

    rows: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {m: np.asarray([r[m] for r in self.rows], dtype=np.float64) for m in _METRICS}

    def table(self) -> str:
        """A plain-text table, best first."""
        head = f"{'method':<18} {'compr.':>7} {'suff.':>7} {'AOPC':>7} {'insert.':>7} {'rand.compr':>10} " \
               f"{'sanity':>7} {'time s':>8} {'passes':>7}"
        lines = [head]
        for r in self.rows:
            sanity = "   n/a" if r.get("sanity_spearman") is None else f"{r['sanity_spearman']:7.3f}"
            lines.append(f"{r['method']:<18} {r['comprehensiveness']:7.3f} {r['sufficiency']:7.3f} {r['aopc']:7.3f} "
                         f"{r['insertion']:7.3f} {r['random_comprehensiveness']:10.3f} {sanity} "
                         f"{r['seconds']:8.2f} {r['forward_passes']:7d}")
        return "\n".join(lines)


def explanation_from_arrays(method: str, words: Sequence[Sequence[str]], scores: Sequence[Sequence[float]],
                            target: Mapping[str, Any]) -> Explanation:
    """Wrap word scores computed elsewhere (a Captum or inseq result summed to words) as an Explanation."""
    if len(words) != len(scores):
        raise InvalidParameterError(f"{len(words)} inputs but {len(scores)} score vectors")
    for i, (w, s) in enumerate(zip(words, scores)):
        if len(w) != len(s):
            raise InvalidParameterError(f"input {i}: {len(w)} words but {len(s)} scores")
    return Explanation(method=method, target=dict(target), words=[list(w) for w in words],
                       word_scores=[[float(x) for x in s] for s in scores])


def compare_explainers(live: Any, inputs: Sequence[Sequence[str]], methods: Sequence[str] = (), *,
                       target: Any = "predicted", params: Mapping[str, Mapping[str, Any]] | None = None,
                       external: Sequence[Explanation] = (), sanity: bool = False, mode: str = "drop",
                       seed: int = 0, batch_size: int = 64) -> ExplainerComparison:
    """Explain ``inputs`` (lists of words) with each method and rank the methods by faithfulness.

    Parameters
    ----------
    methods : sequence of str
        Keys of :data:`~neuronlab.explain.registry.EXPLAINERS`.
    target : target, default="predicted"
        The same for every method (the predicted class of each input by default, fixed once so that every
        method explains the same class).
    params : mapping, optional
        Method -> its parameters.
    external : sequence of Explanation
        Explanations computed elsewhere (see :func:`explanation_from_arrays`), scored alike.
    sanity : bool, default=False
        Also run the model-randomisation check (head and top block re-initialised) for registered methods.
    """
    from .base import Explainer

    if not methods and not external:
        raise InvalidParameterError("give at least one method (or an external explanation) to compare")
    params = dict(params or {})
    unknown = [m for m in methods if m not in EXPLAINERS]
    if unknown:
        EXPLAINERS[unknown[0]]  # raises the registry's error with the valid names
    probe = Explainer(live, target=target)
    enc = live.encode(inputs)
    fixed, _ = probe.resolve(enc, target)
    fixed_target = fixed.to_dict()
    rows = []
    for name in methods:
        explainer = EXPLAINERS[name](live, target=fixed, **dict(params.get(name, {})))
        t = time.perf_counter()
        ex = explainer.explain(inputs)
        seconds = time.perf_counter() - t
        rows.append(_row(live, ex, inputs, "neuronlab", seconds, ex.forward_passes, mode, seed, batch_size))
        if sanity:
            check = randomization_check(lambda m, n=name: EXPLAINERS[n](m, target=fixed, **dict(params.get(n, {}))),
                                        live, inputs, seed=seed, steps=2)
            rows[-1]["sanity_spearman"] = check.spearman[-1]
    for ex in external:
        rows.append(_row(live, ex, inputs, "external", float(ex.seconds), int(ex.forward_passes), mode, seed,
                         batch_size))
    rows.sort(key=lambda r: -(r["comprehensiveness"] - r["sufficiency"]))
    return ExplainerComparison(rows=rows, config={"methods": list(methods), "target": fixed_target, "mode": mode,
                                                  "seed": seed, "sanity": sanity, "n_inputs": len(inputs)})


def _row(live, ex, inputs, source, seconds, passes, mode, seed, batch_size) -> dict:
    f = faithfulness(live, ex, inputs, mode=mode, seed=seed, batch_size=batch_size)
    row = {"method": ex.method, "source": source}
    for m in _METRICS:
        row[m] = getattr(f, m)
        row["random_" + m] = getattr(f, "random_" + m)
    row.update(sanity_spearman=None, seconds=round(seconds, 4), forward_passes=int(passes))
    return row
