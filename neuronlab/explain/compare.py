"""Rank the explainers of a model on a set of inputs by how far their explanations can be trusted (as ferret does).

:func:`compare_explainers` runs each registered explainer (or explanations computed elsewhere: Captum, inseq, a
neuron ablation turned into word scores) on the same inputs and target and scores each by the metrics chosen
(:data:`METRICS`), with its run time and forward passes:

================= ================================================================ ====== ======================
metric            row columns                                                      better module
================= ================================================================ ====== ======================
comprehensiveness ``comprehensiveness`` (+ ``random_comprehensiveness``)           higher faithfulness (ERASER)
sufficiency       ``sufficiency`` (+ ``random_sufficiency``)                       lower  faithfulness (ERASER)
aopc              ``aopc`` (+ ``random_aopc``)                                     higher faithfulness (Samek)
insertion         ``insertion`` (+ ``random_insertion``)                           higher faithfulness
infidelity        ``infidelity`` (word-subset removal, normalised)                 lower  robustness (Yeh)
sensitivity       ``sensitivity`` (relative sensitivity-max)                       lower  robustness (Yeh)
fragility         ``fragility_topk``, ``fragility_spearman`` (greedy swaps)        higher fragility (Ghorbani)
sanity-model      ``sanity_spearman`` (head and top block re-initialised)          lower  faithfulness (Adebayo)
sanity-data       ``sanity_data_spearman``, ``sanity_data_topk`` (permuted labels) lower  sanity (Adebayo)
================= ================================================================ ====== ======================

The four faithfulness metrics come from one :func:`~neuronlab.explain.faithfulness.faithfulness` call, so any of
them brings all four columns. Sensitivity, fragility and the sanity checks re-run the explainer, so they apply to
registered explainers only (an external explanation gets ``None`` there). Rows are sorted by comprehensiveness
minus sufficiency (higher is better) when both were computed, else by the first metric chosen in its direction.
:func:`comparison_plot` draws one panel per metric and one of the run time (a matplotlib figure).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .base import Explanation
from .faithfulness import faithfulness, randomization_check
from .registry import EXPLAINERS

__all__ = ["ExplainerComparison", "compare_explainers", "explanation_from_arrays", "METRICS", "DEFAULT_METRICS",
           "comparison_plot"]

_FAITHFUL = ("comprehensiveness", "sufficiency", "aopc", "insertion")


@dataclass(frozen=True)
class _Metric:
    columns: tuple
    better: str          # "higher" or "lower"
    label: str


#: metric name -> the row columns it fills, which direction is better, a short label
METRICS: dict[str, _Metric] = {
    "comprehensiveness": _Metric(("comprehensiveness",), "higher", "comprehensiveness"),
    "sufficiency": _Metric(("sufficiency",), "lower", "sufficiency"),
    "aopc": _Metric(("aopc",), "higher", "AOPC"),
    "insertion": _Metric(("insertion",), "higher", "insertion"),
    "infidelity": _Metric(("infidelity",), "lower", "infidelity"),
    "sensitivity": _Metric(("sensitivity",), "lower", "sensitivity-max"),
    "fragility": _Metric(("fragility_topk", "fragility_spearman"), "higher", "fragility top-k kept"),
    "sanity-model": _Metric(("sanity_spearman",), "lower", "model-randomisation Spearman"),
    "sanity-data": _Metric(("sanity_data_spearman", "sanity_data_topk"), "lower", "data-randomisation Spearman"),
}
#: what :func:`compare_explainers` computes unless told otherwise (the behaviour before the metrics option)
DEFAULT_METRICS = _FAITHFUL


@dataclass
class ExplainerComparison(Result):
    """One row per explainer: the metrics chosen, their random baselines, run time.

    Attributes
    ----------
    rows : list of dict
        ``method``, ``source`` (``neuronlab`` or ``external``), the columns of each metric (:data:`METRICS`; the
        faithfulness ones with their ``random_*``; fragility also ``fragility_prediction_change`` and
        ``fragility_label_kept``), ``sanity_spearman`` (None when not run), ``seconds``
        (explanation time), ``metric_seconds`` (time of the metrics), ``forward_passes`` (of the explanation).
    config : dict
        ``metrics`` (in the order chosen), methods, target, mode, seed, their options.
    """

    kind = "explain_compare"

    rows: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        return list(self.config.get("metrics", DEFAULT_METRICS))

    def columns(self) -> list[str]:
        """The numeric metric columns of the rows, in the order of the metrics."""
        cols = []
        for m in self.metrics:
            cols += list(METRICS[m].columns)
            if m in _FAITHFUL:
                cols.append("random_" + m)
        return cols

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for c in self.columns() + ["seconds", "metric_seconds"]:
            out[c] = np.asarray([np.nan if r.get(c) is None else r[c] for r in self.rows], dtype=np.float64)
        return out

    def table(self) -> str:
        """A plain-text table, best first."""
        cols = [c for c in self.columns() if not c.startswith("random_")]
        if "comprehensiveness" in self.metrics:
            cols.append("random_comprehensiveness")
        if "sanity-model" not in self.metrics and any(r.get("sanity_spearman") is not None for r in self.rows):
            cols.append("sanity_spearman")
        names = {c: _SHORT.get(c, c) for c in cols}
        mw = max([18] + [len(r["method"]) for r in self.rows])
        head = f"{'method':<{mw}} " + " ".join(f"{names[c]:>{max(7, len(names[c]))}}" for c in cols) + \
               f" {'time s':>8} {'eval s':>8} {'passes':>7}"
        lines = [head]
        for r in self.rows:
            cells = []
            for c in cols:
                w = max(7, len(names[c]))
                v = r.get(c)
                cells.append(f"{'n/a':>{w}}" if v is None or not np.isfinite(v) else f"{v:{w}.3f}")
            lines.append(f"{r['method']:<{mw}} " + " ".join(cells) +
                         f" {r['seconds']:8.2f} {r.get('metric_seconds', 0.0):8.2f} {r['forward_passes']:7d}")
        return "\n".join(lines)


_SHORT = {"comprehensiveness": "compr.", "sufficiency": "suff.", "aopc": "AOPC", "insertion": "insert.",
          "random_comprehensiveness": "rand.compr", "infidelity": "infid.", "sensitivity": "sens.",
          "fragility_topk": "frag.topk", "fragility_spearman": "frag.rho", "sanity_spearman": "sanity",
          "sanity_data_spearman": "data.rho", "sanity_data_topk": "data.topk"}


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


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """Validate metric names (keys of :data:`METRICS`), duplicates dropped, order kept."""
    out = []
    for m in metrics:
        if m not in METRICS:
            raise InvalidParameterError(f"metric {m!r} is unknown; choose among {choices(METRICS)}")
        if m not in out:
            out.append(m)
    if not out:
        raise InvalidParameterError(f"give at least one metric; choose among {choices(METRICS)}")
    return out


def compare_explainers(live: Any, inputs: Sequence[Sequence[str]], methods: Sequence[str] = (), *,
                       target: Any = "predicted", params: Mapping[str, Mapping[str, Any]] | None = None,
                       external: Sequence[Explanation] = (), sanity: bool = False, mode: str = "drop",
                       seed: int = 0, batch_size: int = 64, metrics: Sequence[str] | None = None,
                       options: Mapping[str, Mapping[str, Any]] | None = None) -> ExplainerComparison:
    """Explain ``inputs`` (lists of words) with each method and score each explanation by ``metrics``.

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
        Add ``sanity-model`` to the metrics (kept for backward compatibility).
    metrics : sequence of str, optional
        Keys of :data:`METRICS` (default :data:`DEFAULT_METRICS`).
    options : mapping, optional
        Metric -> keyword options: ``infidelity`` (``n_perturb``, ``p``, ``baseline``, ``normalize`` of
        :func:`~neuronlab.explain.robustness.infidelity`), ``sensitivity`` (``n_perturb``, ``radius``),
        ``fragility`` (``k``, ``candidates``, ``synonyms``, ``n_candidates``, ``max_swaps``), ``sanity-data``
        (``texts``, ``labels``, ``config`` of :func:`~neuronlab.explain.sanity.train_permuted`; default: the inputs
        with the model's predictions; ``k``), ``sanity-model`` (``steps``, default 2).
    """
    from .base import Explainer

    if not methods and not external:
        raise InvalidParameterError("give at least one method (or an external explanation) to compare")
    metrics = check_metrics(DEFAULT_METRICS if metrics is None else metrics)
    if sanity and "sanity-model" not in metrics:
        metrics.append("sanity-model")
    options = {m: dict(v) for m, v in (options or {}).items()}
    unknown_opt = [m for m in options if m not in METRICS]
    if unknown_opt:
        raise InvalidParameterError(f"options for unknown metric {unknown_opt[0]!r}; choose among {choices(METRICS)}")
    params = dict(params or {})
    unknown = [m for m in methods if m not in EXPLAINERS]
    if unknown:
        EXPLAINERS[unknown[0]]  # raises the registry's error with the valid names
    probe = Explainer(live, target=target)
    enc = live.encode(inputs)
    fixed, _ = probe.resolve(enc, target)
    fixed_target = fixed.to_dict()
    ctx = _Context(live, list(inputs), fixed, mode, seed, batch_size, options)
    rows = []
    for name in methods:
        make = (lambda m, n=name: EXPLAINERS[n](m, target=fixed, **dict(params.get(n, {}))))
        t = time.perf_counter()
        ex = make(live).explain(inputs)
        seconds = time.perf_counter() - t
        rows.append(_row(ctx, ex, "neuronlab", seconds, ex.forward_passes, metrics, make))
    for ex in external:
        rows.append(_row(ctx, ex, "external", float(ex.seconds), int(ex.forward_passes), metrics, None))
    rows.sort(key=_sort_key(metrics))
    return ExplainerComparison(rows=rows, config={"metrics": metrics, "methods": list(methods),
                                                  "target": fixed_target, "mode": mode, "seed": seed,
                                                  "sanity": "sanity-model" in metrics, "n_inputs": len(inputs),
                                                  "options": _jsonable(options)})


def _jsonable(options: Mapping) -> dict:
    out = {}
    for m, o in options.items():
        out[m] = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__)
                  for k, v in o.items() if k not in ("texts", "labels")}
    return out


def _sort_key(metrics: Sequence[str]):
    if "comprehensiveness" in metrics and "sufficiency" in metrics:
        return lambda r: -(r["comprehensiveness"] - r["sufficiency"])
    m = metrics[0]
    col, sign = METRICS[m].columns[0], (-1.0 if METRICS[m].better == "higher" else 1.0)
    return lambda r: (r.get(col) is None or not np.isfinite(r[col]), sign * (r.get(col) or 0.0))


class _Context:
    """What every metric of one comparison shares (and the permuted-label model, trained once)."""

    def __init__(self, live, inputs, target, mode, seed, batch_size, options):
        self.live, self.inputs, self.target = live, inputs, target
        self.mode, self.seed, self.batch_size, self.options = mode, seed, batch_size, options
        self._random_live = None

    def opt(self, metric: str) -> dict:
        return dict(self.options.get(metric, {}))

    def random_live(self):
        if self._random_live is None:
            from .sanity import train_permuted

            o = self.opt("sanity-data")
            texts = o.get("texts") or self.inputs
            self._random_live = train_permuted(self.live, texts, o.get("labels"), config=o.get("config"),
                                               seed=self.seed)
        return self._random_live


def _row(ctx: _Context, ex: Explanation, source: str, seconds: float, passes: int, metrics: Sequence[str],
         make) -> dict:
    row: dict[str, Any] = {"method": ex.method, "source": source}
    t = time.perf_counter()
    if any(m in _FAITHFUL for m in metrics):
        f = faithfulness(ctx.live, ex, ctx.inputs, mode=ctx.mode, seed=ctx.seed, batch_size=ctx.batch_size)
        for m in _FAITHFUL:
            row[m] = getattr(f, m)
            row["random_" + m] = getattr(f, "random_" + m)
    row["sanity_spearman"] = None
    for m in metrics:
        if m not in _FAITHFUL:
            row.update(_OTHER[m](ctx, ex, make))
    row.update(seconds=round(seconds, 4), metric_seconds=round(time.perf_counter() - t, 4),
               forward_passes=int(passes))
    return row


def _infidelity(ctx, ex, make) -> dict:
    from .robustness import infidelity

    o = ctx.opt("infidelity")
    return {"infidelity": infidelity(ctx.live, ex, ctx.inputs, seed=ctx.seed, batch_size=ctx.batch_size,
                                     **o).infidelity}


def _sensitivity(ctx, ex, make) -> dict:
    if make is None:
        return {"sensitivity": None}
    from .robustness import sensitivity_max

    o = ctx.opt("sensitivity")
    return {"sensitivity": sensitivity_max(make(ctx.live), ctx.inputs, original=ex, seed=ctx.seed, **o).sensitivity}


def _fragility(ctx, ex, make) -> dict:
    if make is None:
        return {"fragility_topk": None, "fragility_spearman": None}
    from .fragility import fragility

    r = fragility(make(ctx.live), ctx.inputs, batch_size=ctx.batch_size, **ctx.opt("fragility"))
    return {"fragility_topk": r.topk_intersection, "fragility_spearman": r.spearman,
            "fragility_prediction_change": r.prediction_change, "fragility_label_kept": r.label_kept}


def _sanity_model(ctx, ex, make) -> dict:
    if make is None:
        return {"sanity_spearman": None}
    steps = ctx.opt("sanity-model").get("steps", 2)
    check = randomization_check(make, ctx.live, ctx.inputs, seed=ctx.seed, steps=steps)
    return {"sanity_spearman": check.spearman[-1]}


def _sanity_data(ctx, ex, make) -> dict:
    if make is None:
        return {"sanity_data_spearman": None, "sanity_data_topk": None}
    from .sanity import data_randomization_check

    r = data_randomization_check(make, ctx.live, ctx.random_live(), ctx.inputs, original=ex,
                                 k=ctx.opt("sanity-data").get("k", 3))
    return {"sanity_data_spearman": r.spearman, "sanity_data_topk": r.topk_intersection}


_OTHER = {"infidelity": _infidelity, "sensitivity": _sensitivity, "fragility": _fragility,
          "sanity-model": _sanity_model, "sanity-data": _sanity_data}


def comparison_plot(comparison: ExplainerComparison) -> Any:
    """One horizontal-bar panel per metric (its direction in the title) and one of the run time.

    Returns
    -------
    matplotlib.figure.Figure
        On an Agg canvas (no pyplot); render with ``fig.savefig(buf, format="png")``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(METRICS[m].columns[0], f"{METRICS[m].label} ({METRICS[m].better} is better)")
              for m in comparison.metrics]
    panels.append(("seconds", "explanation time, s (lower is better)"))
    names = [r["method"] for r in comparison.rows]
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = Figure(figsize=(4.2 * ncol, 0.4 * len(names) * nrow + 1.2 * nrow), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    for p, (col, title) in enumerate(panels):
        ax = fig.add_subplot(nrow, ncol, p + 1)
        vals = [np.nan if r.get(col) is None else float(r[col]) for r in comparison.rows]
        y = np.arange(len(names))
        ax.barh(y, np.nan_to_num(vals), color=["#1d4e89" if r["source"] == "neuronlab" else "#e08a2c"
                                              for r in comparison.rows])
        for yi, v in zip(y, vals):
            if not np.isfinite(v):
                ax.text(0, yi, " n/a", va="center", fontsize=8)
        random_col = "random_" + col
        if any(r.get(random_col) is not None for r in comparison.rows):
            ax.scatter([r.get(random_col, np.nan) for r in comparison.rows], y, marker="|", color="k", s=80,
                       label="random order", zorder=3)
            ax.legend(fontsize=7, loc="lower right")
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
    return fig
