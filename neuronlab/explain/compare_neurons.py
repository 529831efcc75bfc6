"""Rank *neuron* attribution methods by ablation: ERASER for neurons (issue 15; ferret cannot: its issue #50).

:func:`compare_neuron_attributors` attributes the target to every neuron of one site with each registered layer
attribution method (:data:`~neuronlab.attribution.methods.METHODS`: layer conductance, layer integrated
gradients, gradient x activation, single-neuron ablation) or with attributions computed elsewhere, ranks the
site's neurons per example by their attribution summed over the token positions (signed, best first, as ERASER
ranks tokens), and ablates them through the live model's scoped hooks (the site's value set to the ablation
value at every token position: zero, or the neuron's mean; ``rank="abs"`` orders by magnitude). Layer integrated
gradients start their path at the ablation value (``baselines="zero"`` or the mean), so that their completeness
splits the drop of ablating every neuron; conductance keeps its path on the input (from the ``[PAD]`` input by
default; ``params={"conductance": {"baselines": ...}}``):

- **comprehensiveness** ``mean_b f(x) - f(x with the top k_b neurons ablated)``, ``k_b = ceil(b n)``;
- **sufficiency** ``mean_b f(x) - f(x with all but the top k_b neurons ablated)``;
- **AOPC** ``mean_k f(x) - f(x with the top k ablated)`` over ``k = 0 .. n`` (Samek et al. 2017), or over
  ``aopc_points + 1`` evenly spaced ``k`` from 0 to ``n`` on wide sites;

each also for a seeded random order of the neurons (``random_*``, one permutation per example, the same for every
method), averaged over the examples. ``f`` is the explained target (the predicted class of each input, fixed once,
so that every method and every ablation reads the same class). An ablation evaluated once is cached and shared
by the methods; rows run ``batch_size`` per pass from the cached value of the blocks below the site
(:meth:`~neuronlab.models.live.LiveModel.run_from`).

The result is an :class:`~neuronlab.explain.compare.ExplainerComparison` with ``config["level"] = "neurons"``:
the same table, plot, store kind and report section as the word-level comparison.

References
----------
DeYoung et al. (2020), "ERASER", ACL. Samek et al. (2017), "Evaluating the visualization of what a deep neural
network has learned", IEEE TNNLS. Dalvi et al. (2019), "What is one grain of sand in the desert?", AAAI (neuron
ablation). Dhamdhere, Sundararajan & Yan (2018), "How important is a neuron?" (conductance).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from .compare_generation import check_bins
from .faithfulness import ERASER_BINS

__all__ = ["compare_neuron_attributors", "neuron_faithfulness", "NeuronFaithfulness", "NEURON_METHODS",
           "ABLATIONS", "RANKS"]

#: registered attribution methods whose result has one value per token position and neuron of the site
NEURON_METHODS = ("layer_gradient_x_activation", "layer_integrated_gradients", "layer_conductance",
                  "neuron_ablation")
#: what an ablated neuron is set to
ABLATIONS = ("zero", "mean")
#: how neurons are ranked by their attribution: signed (ERASER's order: the largest positive contribution first)
#: or by magnitude (a neuron that pulls the target down counts as important too)
RANKS = ("signed", "abs")
_METRICS = ("comprehensiveness", "sufficiency", "aopc")


@dataclass
class NeuronFaithfulness:
    """Ablation faithfulness of one neuron attribution (means over examples, and per example).

    Attributes
    ----------
    per_example : list of dict
        ``order`` and ``random_order`` (neurons, best first), ``f_x``, ``ks`` (the AOPC grid), ``deletion`` /
        ``random_deletion`` (``f`` with the top ``k`` ablated, on the grid), ``comprehensiveness_curve`` ...,
        and the metrics with their ``random_*``.
    """

    method: str = ""
    comprehensiveness: float = float("nan")
    sufficiency: float = float("nan")
    aopc: float = float("nan")
    random_comprehensiveness: float = float("nan")
    random_sufficiency: float = float("nan")
    random_aopc: float = float("nan")
    per_example: list = field(default_factory=list)
    forward_rows: int = 0


class _Ablator:
    """Target values of (example, ablated neuron set), cached; rows from the cached value below the site."""

    def __init__(self, live: Any, enc: Any, site: str, resolved: Any, base: Any, batch_size: int) -> None:
        self.live, self.enc, self.site, self.resolved = live, enc, site, resolved
        self.y = live.activations(enc, site)
        self.base = base.to(self.y.device, self.y.dtype)
        self.batch_size = int(batch_size)
        self.cache: dict = {}
        self._run_cache: dict = {}

    def run(self, requests: Sequence[tuple[int, bytes]]) -> int:
        import torch

        todo = [r for r in dict.fromkeys(requests) if r not in self.cache]
        width = self.y.shape[-1]
        for a in range(0, len(todo), self.batch_size):
            chunk = todo[a:a + self.batch_size]
            ex = torch.as_tensor([i for i, _ in chunk], dtype=torch.long)
            masks = torch.as_tensor(np.stack([np.frombuffer(m, dtype=bool, count=width) for _, m in chunk]),
                                    device=self.y.device)
            vals = torch.where(masks[:, None, :], self.base, self.y[ex.to(self.y.device)])
            out = self.live.run_from(self.enc, self.site, vals, None, ex, resolved=self.resolved,
                                     cache=self._run_cache)
            for key, v in zip(chunk, out.double().cpu().numpy()):
                self.cache[key] = float(v)
        return len(todo)


def _mask(width: int, ablated) -> bytes:
    m = np.zeros(width, dtype=bool)
    m[list(ablated)] = True
    return m.tobytes()


def _grid(n: int, aopc_points: int | None) -> list[int]:
    if aopc_points is None or aopc_points >= n:
        return list(range(n + 1))
    return sorted({int(round(v)) for v in np.linspace(0, n, int(aopc_points) + 1)})


def neuron_faithfulness(ablator: _Ablator, scores: np.ndarray, *, method: str = "", bins: Sequence[float] =
                        ERASER_BINS, seed: int = 0, aopc_points: int | None = None,
                        rank: str = "signed") -> NeuronFaithfulness:
    """Comprehensiveness, sufficiency and AOPC of per-example neuron scores ``(n_examples, width)``."""
    n_ex, width = ablator.y.shape[0], ablator.y.shape[-1]
    scores = np.asarray(scores, dtype=np.float64)
    if rank == "abs":
        scores = np.abs(scores)
    if scores.shape != (n_ex, width):
        raise InvalidParameterError(f"{method}: neuron scores of shape {scores.shape}; expected {(n_ex, width)} "
                                    "(examples x neurons of the site)")
    rng = np.random.default_rng(seed)
    ks = sorted({min(width, max(1, math.ceil(b * width))) for b in bins})
    kb = [min(width, max(1, math.ceil(b * width))) for b in bins]
    grid = _grid(width, aopc_points)
    plans, requests = [], []
    everyone = set(range(width))
    for i in range(n_ex):
        sc = np.where(np.isnan(scores[i]), -np.inf, scores[i])
        order = np.argsort(-sc, kind="stable")
        rand = rng.permutation(width)
        plan = {}
        for name, o in (("", order), ("random_", rand)):
            dele = {k: (i, _mask(width, o[:k])) for k in set(grid) | set(ks)}
            suff = {k: (i, _mask(width, everyone - set(o[:k].tolist()))) for k in ks}
            plan[name] = (o, dele, suff)
            requests += list(dele.values()) + list(suff.values())
        plans.append(plan)
    rows = ablator.run(requests)
    per, out = [], {}
    for i, plan in enumerate(plans):
        rec: dict[str, Any] = {"example": i, "ks": grid}
        f_x = ablator.cache[(i, _mask(width, []))]
        rec["f_x"] = f_x
        for name, (o, dele, suff) in plan.items():
            d = {k: ablator.cache[v] for k, v in dele.items()}
            s = {k: ablator.cache[v] for k, v in suff.items()}
            rec[name + "order"] = o.tolist()
            rec[name + "deletion"] = [d[k] for k in grid]
            rec[name + "comprehensiveness"] = float(np.mean([f_x - d[k] for k in kb]))
            rec[name + "sufficiency"] = float(np.mean([f_x - s[k] for k in kb]))
            rec[name + "aopc"] = float(np.mean([f_x - d[k] for k in grid]))
        per.append(rec)
    for name in ("", "random_"):
        for m in _METRICS:
            out[name + m] = float(np.mean([r[name + m] for r in per]))
    return NeuronFaithfulness(method=method, per_example=per, forward_rows=rows, **out)


class _RowCounter:
    """Counts the rows of every forward pass of a model (a forward pre-hook), while in use."""

    def __init__(self, model: Any) -> None:
        self.model, self.rows, self._h = model, 0, None

    def __enter__(self) -> _RowCounter:
        def hook(module, args, kwargs):
            x = kwargs.get("attention_mask")
            if x is None:
                x = kwargs.get("input_ids", kwargs.get("inputs_embeds", args[0] if args else None))
            self.rows += 0 if x is None else int(x.shape[0])

        self._h = self.model.register_forward_pre_hook(hook, with_kwargs=True)
        return self

    def __exit__(self, *exc) -> None:
        self._h.remove()


def _method_key(name: str) -> str:
    from ..attribution.methods import METHODS

    try:
        key = METHODS.by_short(name).name
    except Exception:  # noqa: BLE001 - the one-line message below lists the valid names
        key = None
    if key not in NEURON_METHODS:
        shorts = [METHODS[k].short for k in NEURON_METHODS]
        raise InvalidParameterError(f"neuron attribution method {name!r} cannot be compared by ablation; choose "
                                    f"among {choices(shorts)}")
    return key


def _ablation_base(live: Any, enc: Any, site: str, ablation: Any, store: Any):
    import torch

    from ..attribution.ablation import ablation_values

    if isinstance(ablation, str) and ablation not in ABLATIONS:
        raise InvalidParameterError(f"ablation {ablation!r} is unknown; choose {choices(ABLATIONS)} (or give values)")
    if isinstance(ablation, str) and ablation == "mean" and (store is None or site not in store.sites):
        y = live.activations(enc, site)
        keep = enc.attention_mask.to(y.device).bool()
        return y[keep].double().mean(0).float().cpu()
    return torch.as_tensor(ablation_values(live, site, ablation, store=store))


def compare_neuron_attributors(live: Any, inputs: Sequence, methods: Sequence[str] = NEURON_METHODS[:3], *,
                               site: str, target: Any = "predicted", ablation: Any = "zero", store: Any = None,
                               bins: Sequence[float] = ERASER_BINS, seed: int = 0, aopc_points: int | None = 20,
                               batch_size: int = 64, rank: str = "signed", params: Mapping[str, Mapping[str, Any]] | None = None,
                               external: Mapping[str, Any] | None = None, progress: bool = False):
    """Attribute the target to the neurons of ``site`` with each method and rank the methods by ablation.

    Parameters
    ----------
    live : LiveModel
    inputs : sequence of str or of lists of words
    methods : sequence of str
        Keys or command-line names of :data:`~neuronlab.attribution.methods.METHODS` among
        :data:`NEURON_METHODS` (``grad-x-act``, ``ig``, ``conductance``, ``ablation``).
    site : str
        A site of neurons (``layers.3``, ``layers.3.mlp``, ...).
    target : target, default="predicted"
        Fixed once (each input's predicted class) and used by every method and ablation.
    ablation : {"zero", "mean"} or array-like of shape (width,)
        The value of an ablated neuron; ``mean``: its mean in ``store`` when the store has the site, else over
        the inputs' tokens.
    bins : sequence of float
        Shares of the site's neurons for comprehensiveness and sufficiency.
    aopc_points : int or None, default=20
        AOPC over this many + 1 evenly spaced ``k`` (None: every ``k`` from 0 to the width).
    rank : {"signed", "abs"}, default="signed"
        Order the neurons by their attribution (largest first, as ERASER orders tokens) or by its magnitude.
    batch_size : int, default=64
        Ablation rows (example x ablated set) per forward pass.
    params : mapping, optional
        Method -> its hyper-parameters (e.g. ``{"layer_integrated_gradients": {"steps": 16}}``).
    external : mapping, optional
        Name -> attributions computed elsewhere, ``(n_examples, width)`` or ``(n_examples, tokens, width)``.

    Returns
    -------
    ExplainerComparison
        One row per method, best first (comprehensiveness minus sufficiency), with ``seconds`` (attribution),
        ``metric_seconds``, ``forward_passes`` (model rows of the attribution), ``eval_rows``.
    """
    import torch

    from ..attribution.methods import METHODS
    from .base import Explainer
    from .compare import ExplainerComparison

    if not methods and not external:
        raise InvalidParameterError("give at least one neuron attribution method (or external attributions)")
    keys = [_method_key(m) for m in methods]
    params = {(_method_key(k) if k not in NEURON_METHODS else k): dict(v) for k, v in (params or {}).items()}
    stray = [k for k in params if k not in keys]
    if stray:
        raise InvalidParameterError(f"parameters for {stray[0]!r}, which is not among the methods compared")
    bins = check_bins(bins)
    if rank not in RANKS:
        raise InvalidParameterError(f"rank {rank!r} is unknown; choose {choices(RANKS)}")
    if aopc_points is not None and (isinstance(aopc_points, bool) or int(aopc_points) < 1):
        raise InvalidParameterError(f"aopc_points must be a positive int or None; got {aopc_points!r}")
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise InvalidParameterError(f"batch_size must be a positive int; got {batch_size!r}")
    site = live.site(site)
    inputs = list(inputs)
    enc = live.encode(inputs)
    fixed, resolved = Explainer(live, target=target).resolve(enc, target)
    base = _ablation_base(live, enc, site, ablation, store)
    ablator = _Ablator(live, enc, site, resolved, base, batch_size)
    width = int(ablator.y.shape[-1])
    attributions = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(keys) + len(external or {}), desc="compare neuron attributors", unit="method",
                   leave=False)
    try:
        for key in keys:
            kw = dict(params.get(key, {}))
            call = {}
            if "baselines" in kw:
                call["baselines"] = kw.pop("baselines")
            elif key == "layer_integrated_gradients":  # the path starts where the ablation puts the site
                call["baselines"] = "zero" if isinstance(ablation, str) and ablation == "zero" else \
                    base[None, None, :].clone()
            if key == "neuron_ablation":
                kw.setdefault("baseline", ablation if not isinstance(ablation, str) or ablation == "zero"
                              else base.numpy())
            t0 = time.perf_counter()
            with _RowCounter(live.model) as counter:
                res = METHODS[key](live, site, **kw).attribute(inputs, target=fixed, **call)
            seconds = time.perf_counter() - t0
            scores = res["effects"] if key == "neuron_ablation" else res.per_neuron()
            attributions.append((METHODS[key].short, "neuronlab", scores, seconds, counter.rows))
            if bar is not None:
                bar.update(1)
        for name, arr in (external or {}).items():
            a = np.asarray(arr, dtype=np.float64)
            if a.ndim == 3:
                a = a.sum(axis=1)
            attributions.append((str(name), "external", a, 0.0, 0))
        rows = []
        for name, source, scores, seconds, passes in attributions:
            t0 = time.perf_counter()
            with torch.no_grad():
                f = neuron_faithfulness(ablator, scores, method=name, bins=bins, seed=seed, aopc_points=aopc_points,
                                        rank=rank)
            row = {"method": name, "source": source}
            for p in ("", "random_"):
                for m in _METRICS:
                    row[p + m] = getattr(f, p + m)
            row.update(sanity_spearman=None, seconds=round(seconds, 4),
                       metric_seconds=round(time.perf_counter() - t0, 4), forward_passes=int(passes),
                       eval_rows=f.forward_rows)
            rows.append(row)
            if external and name in external and bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    rows.sort(key=lambda r: -(r["comprehensiveness"] - r["sufficiency"]))
    cfg = {"level": "neurons", "metrics": list(_METRICS), "methods": [METHODS[k].short for k in keys],
           "site": site, "width": width, "target": fixed.to_dict(),
           "ablation": ablation if isinstance(ablation, str) else "custom", "bins": bins, "seed": seed,
           "aopc_points": aopc_points, "rank": rank, "n_inputs": len(inputs), "mode": "ablation",
           "params": {k: {a: b for a, b in v.items() if isinstance(b, (int, float, str, bool))}
                      for k, v in params.items()}}
    return ExplainerComparison(rows=rows, config=cfg)
