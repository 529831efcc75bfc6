"""Rank the explainers of a *generation* model by ERASER faithfulness, step by step (issue 15; ferret cannot: its
issue #13).

:func:`generation_faithfulness` scores one :class:`~neuronlab.explain.gen_result.GenerationExplanation`: for
every sentence and generation step ``t`` it orders the step's *source* tokens by their scores and evaluates the
step target ``f_t`` (the probability of ``y_t`` by default) on the teacher-forced sequence

- without the top ``k`` source tokens (deletion: the tokens are *removed*, as occlusion ``mode="drop"`` removes
  them; the later positions move left, the target prefix ``y_<t`` stays), and
- with only the top ``k`` source tokens (the special tokens, e.g. T5's ``</s>``, are always kept),

for ``k = 0 .. n`` (``n`` removable source tokens). From these curves, as :mod:`.faithfulness` does for word
explanations (DeYoung et al. 2020; Samek et al. 2017):

- **comprehensiveness** ``mean_b f_t(x) - f_t(x without the top k_b)``, ``k_b = ceil(b n)`` over the bins ``b``;
- **sufficiency** ``mean_b f_t(x) - f_t(only the top k_b)``;
- **AOPC** ``mean_k f_t(x) - f_t(x without the top k)`` over ``k = 0 .. n``;

each also for a seeded random order of the same tokens (``random_*``, one permutation per sentence and step,
the same for every method of a comparison). A step's numbers are averaged over the steps of its sentence, then
over the sentences. In a causal LM the prompt is step 0's whole context: deletion there stops at ``n - 1``
tokens (a step needs one context token; a one-token prompt gives step 0 no deletion value, NaN, left out of the
means).

:func:`compare_generation_explainers` explains the same outputs (the given target texts, or the greedy ones)
with each method of :data:`~neuronlab.explain.generation.GENERATION_METHODS` (and explanations computed
elsewhere), scores each, and returns an :class:`~neuronlab.explain.compare.ExplainerComparison` (``config["level"]
= "generation"``): the same table, plot, store kind and report section as the word-level comparison.

Every evaluation is one row of :class:`~neuronlab.explain.gen_model.GenModel` holding step ``t``'s shortened
context; rows run ``batch_size`` per pass, and a perturbed context evaluated once is cached (shared by the
methods: the random orders, the unperturbed input and the full insertion cost one row each).

References
----------
DeYoung, Jain, Rajani, Lehman, Xiong, Socher & Wallace (2020), "ERASER: A benchmark to evaluate rationalized NLP
models", ACL. Samek, Binder, Montavon, Lapuschkin & Müller (2017), "Evaluating the visualization of what a deep
neural network has learned", IEEE TNNLS. Sarti et al. (2023), "Inseq" (step targets).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from .faithfulness import ERASER_BINS
from .gen_model import GenModel, Row, Sentence
from .gen_result import GenerationExplanation
from .gen_targets import STEP_TARGETS

__all__ = ["GenerationFaithfulness", "generation_faithfulness", "compare_generation_explainers",
           "generation_from_arrays", "GENERATION_METRICS", "DEFAULT_GENERATION_METHODS"]

#: the metrics of a generation comparison (columns of :class:`~neuronlab.explain.compare.ExplainerComparison`)
GENERATION_METRICS = ("comprehensiveness", "sufficiency", "aopc")
#: the methods compared unless told otherwise
DEFAULT_GENERATION_METHODS = ("gradient", "gradient_x_input", "integrated_gradients", "occlusion")


@dataclass
class GenerationFaithfulness:
    """ERASER faithfulness of one generation explanation.

    Attributes
    ----------
    method, step_target : str
    comprehensiveness, sufficiency, aopc : float
        Means over sentences of the means over their steps.
    random_comprehensiveness, random_sufficiency, random_aopc : float
        The same for the seeded random orders.
    steps : list of dict
        Per (sentence, step): ``sentence``, ``step``, ``n`` (removable source tokens), ``order`` and
        ``random_order`` (source column indices, best first), ``f_x``, ``deletion`` / ``insertion`` and
        ``random_deletion`` / ``random_insertion`` (``f_t`` with the top ``k`` removed / kept, ``k = 0 .. n``;
        NaN where undefined), and the three metrics with their ``random_*``.
    forward_rows : int
        Model rows this call evaluated (cached rows not counted again).
    """

    method: str = ""
    step_target: str = ""
    comprehensiveness: float = float("nan")
    sufficiency: float = float("nan")
    aopc: float = float("nan")
    random_comprehensiveness: float = float("nan")
    random_sufficiency: float = float("nan")
    random_aopc: float = float("nan")
    steps: list = field(default_factory=list)
    forward_rows: int = 0


def _bins_k(n: int, bins: Sequence[float], top: int) -> list[int]:
    return [min(top, n, max(1, math.ceil(b * n))) for b in bins]


def check_bins(bins: Sequence[float]) -> list[float]:
    """Validate shares in (0, 1]."""
    try:
        out = [float(b) for b in bins]
    except (TypeError, ValueError):
        raise InvalidParameterError(f"bins must be shares in (0, 1]; got {bins!r}") from None
    if not out or any(not 0 < b <= 1 for b in out):
        raise InvalidParameterError(f"bins must be shares in (0, 1], e.g. 0.1,0.2,0.5; got {list(bins)}")
    return out


class _Evaluator:
    """Step-target values of shortened contexts, cached by (sentence, step, kept source ids)."""

    def __init__(self, live: Any, step_target: str, batch_size: int) -> None:
        entry = STEP_TARGETS[step_target]
        if entry.contrast is not None:
            raise InvalidParameterError(
                f"step target {step_target!r} needs a contrast; compare generation explainers with logit, "
                "probability, log_probability or entropy")
        self.gm = GenModel(live)
        self.fn = entry.load()
        self.step_target = step_target
        self.batch_size = int(batch_size)
        self.cache: dict = {}

    def sentences(self, ex: GenerationExplanation) -> list[Sentence]:
        """The explained sentences rebuilt from the explanation's tokens (exact ids, no re-tokenisation)."""
        tok = self.gm.tokenizer
        specials = self.gm._specials()
        out = []
        for i in range(len(ex.sources)):
            src = [int(v) for v in tok.convert_tokens_to_ids(list(ex.source_tokens[i]))]
            prefix = [int(v) for v in tok.convert_tokens_to_ids(list(ex.prefix_tokens[i]))]
            tgt = [int(v) for v in tok.convert_tokens_to_ids(list(ex.target_tokens[i]))]
            special = np.array([v in specials for v in src + prefix + tgt], dtype=bool)
            special[len(src):len(src) + len(prefix)] = True
            out.append(Sentence(ex.sources[i], src, prefix, tgt, special))
        return out

    def run(self, requests: list[tuple[int, int, tuple]], sents: list[Sentence]) -> int:
        """Evaluate the uncached (sentence, step, kept source ids); returns the rows run.

        The steps of one sentence with the same kept source share one teacher-forced row (the unperturbed input,
        for one, gives every step's ``f_t(x)`` at once).
        """
        import torch

        groups: dict = {}
        for i, t, kept in dict.fromkeys(requests):
            if (i, t, kept) not in self.cache:
                groups.setdefault((i, kept), []).append(t)
        keys = list(groups)
        mods = [Sentence(sents[i].source, list(kept), list(sents[i].prefix), list(sents[i].tgt),
                         np.zeros(0, dtype=bool)) for i, kept in keys]

        def lazily():  # only the embeddings of one pass are in memory
            for k, key in enumerate(keys):
                steps = sorted(groups[key])
                m = mods[k]
                yield Row(k, self.gm.embed(m)[:m.context(steps[-1])], steps)

        with torch.no_grad():
            for chunk in self.gm.chunks(lazily(), batch_size=self.batch_size):
                vals = self.gm.step_values(mods, chunk, self.gm.forward(mods, chunk), self.fn).double().cpu().numpy()
                a = 0
                for r in chunk:
                    i, kept = keys[r.sent]
                    for t in r.steps:
                        self.cache[(i, t, kept)] = float(vals[a])
                        a += 1
        return len(keys)


def _kept(s: Sentence, removable: np.ndarray, keep: set) -> tuple:
    return tuple(int(s.src[j]) for j in range(s.n_src) if j not in removable or j in keep)


def _step_plan(s: Sentence, i: int, t: int, order: np.ndarray, causal: bool):
    """Requests of one order: deletion k = 0..n (while a context remains) and insertion k = 0..n."""
    removable = {int(j) for j in np.flatnonzero(~s.special[:s.n_src])}
    n = len(order)
    dele, ins = [], []

    def ok(kept: tuple) -> bool:  # a context is left: a causal step t has t target tokens, a seq2seq encoder needs one
        return len(kept) + (t if causal else 0) >= 1 and (causal or len(kept) >= 1)

    for k in range(n + 1):
        top = {int(j) for j in order[:k]}
        d = _kept(s, removable, removable - top)
        e = _kept(s, removable, top)
        dele.append((i, t, d) if ok(d) else None)
        ins.append((i, t, e) if ok(e) else None)
    return dele, ins


def generation_faithfulness(live: Any, explanation: GenerationExplanation, *, step_target: str | None = None,
                            bins: Sequence[float] = ERASER_BINS, seed: int = 0, batch_size: int = 32,
                            _evaluator: _Evaluator | None = None) -> GenerationFaithfulness:
    """ERASER comprehensiveness, sufficiency and AOPC of a generation explanation (see the module docstring).

    Parameters
    ----------
    live : LiveModel
        The causal or seq2seq LM that was explained.
    explanation : GenerationExplanation
        From :func:`~neuronlab.explain.generation.explain_generation` or built from scores computed elsewhere
        (its tokens must be the model's tokens).
    step_target : str, optional
        The value evaluated (default: the explanation's step target); no contrast targets.
    bins : sequence of float, default=(0.01, 0.05, 0.1, 0.2, 0.5)
        Shares of the removable source tokens removed (kept).
    seed : int
        Seed of the random orders (one per sentence and step, drawn in that order).

    Raises
    ------
    InvalidParameterError
        For a contrast step target, bad bins, or scores of the wrong shape.
    """
    bins = check_bins(bins)
    ev = _evaluator or _Evaluator(live, step_target or explanation.step_target, batch_size)
    sents = ev.sentences(explanation)
    causal = not ev.gm.seq2seq
    if explanation.scores is None or len(explanation.scores) != len(sents):
        raise InvalidParameterError("the explanation has no score matrix per sentence")
    rng = np.random.default_rng(seed)
    plans, requests = [], []
    for i, s in enumerate(sents):
        mat = np.asarray(explanation.scores[i], dtype=np.float64)
        if mat.shape != (s.n_steps, s.n_cols):
            raise InvalidParameterError(f"sentence {i}: scores of shape {mat.shape}, expected "
                                        f"{(s.n_steps, s.n_cols)} (steps x source + prefix + target tokens)")
        removable = np.flatnonzero(~s.special[:s.n_src])
        for t in range(s.n_steps):
            sc = mat[t, removable]
            sc = np.where(np.isnan(sc), -np.inf, sc)
            order = removable[np.argsort(-sc, kind="stable")]
            rand = removable[rng.permutation(len(removable))]
            pd, pi = _step_plan(s, i, t, order, causal)
            rd, ri = _step_plan(s, i, t, rand, causal)
            plans.append((i, t, order, rand, pd, pi, rd, ri))
            requests += [r for r in pd + pi + rd + ri if r is not None]
    rows_run = ev.run(requests, sents)

    def val(r):
        return float("nan") if r is None else ev.cache[r]

    per_sent: dict[int, list[dict]] = {}
    steps = []
    for i, t, order, rand, pd, pi, rd, ri in plans:
        n = len(order)
        rec = {"sentence": i, "step": t, "n": n, "order": order.tolist(), "random_order": rand.tolist()}
        curves = {k: np.array([val(r) for r in v]) for k, v in
                  (("deletion", pd), ("insertion", pi), ("random_deletion", rd), ("random_insertion", ri))}
        f_x = curves["deletion"][0] if n else float("nan")
        rec["f_x"] = float(f_x)
        for prefix in ("", "random_"):
            d, e = curves[prefix + "deletion"], curves[prefix + "insertion"]
            top = n if n and np.isfinite(d[n]) else n - 1
            if n == 0 or top < 1:
                comp = aopc = float("nan")
            else:
                comp = float(np.mean([f_x - d[k] for k in _bins_k(n, bins, top)]))
                aopc = float(np.mean(f_x - d[:top + 1]))
            suff = float(np.mean([f_x - e[k] for k in _bins_k(n, bins, n)])) if n else float("nan")
            rec.update({prefix + "comprehensiveness": comp, prefix + "sufficiency": suff, prefix + "aopc": aopc})
        rec.update({k: v.tolist() for k, v in curves.items()})
        steps.append(rec)
        per_sent.setdefault(i, []).append(rec)
    means = {}
    for prefix in ("", "random_"):
        for m in GENERATION_METRICS:
            by_sent = [_nanmean([r[prefix + m] for r in recs]) for recs in per_sent.values()]
            means[prefix + m] = _nanmean(by_sent)
    return GenerationFaithfulness(method=explanation.method, step_target=ev.step_target, steps=steps,
                                  forward_rows=rows_run, **means)


def generation_from_arrays(method: str, sources: Sequence[str], source_tokens: Sequence[Sequence[str]],
                           target_tokens: Sequence[Sequence[str]], scores: Sequence[Any], *,
                           prefix_tokens: Sequence[Sequence[str]] | None = None,
                           step_target: str = "probability") -> GenerationExplanation:
    """Wrap step x token scores computed elsewhere (an inseq or Captum attribution saved as arrays) for
    :func:`generation_faithfulness` and ``compare_generation_explainers(external=...)``.

    Parameters
    ----------
    source_tokens, target_tokens : sequences of lists of str
        The model's tokens (``tokenizer.convert_ids_to_tokens``) of each input and explained output.
    scores : sequence of array-like of shape (n_steps, n_source + n_prefix + n_steps)
        Row ``t``: the scores of every column for step ``t`` (only the source columns are used).
    prefix_tokens : sequences of lists of str, optional
        The decoder prefix (a seq2seq model's decoder start token); none for a causal LM.
    """
    n = len(sources)
    prefix_tokens = [[] for _ in range(n)] if prefix_tokens is None else prefix_tokens
    for name, v in (("source_tokens", source_tokens), ("target_tokens", target_tokens), ("scores", scores),
                    ("prefix_tokens", prefix_tokens)):
        if len(v) != n:
            raise InvalidParameterError(f"{name}: one per source ({n}); got {len(v)}")
    mats = []
    for i in range(n):
        m = np.asarray(scores[i], dtype=np.float64)
        want = (len(target_tokens[i]), len(source_tokens[i]) + len(prefix_tokens[i]) + len(target_tokens[i]))
        if m.shape != want:
            raise InvalidParameterError(f"scores {i}: shape {m.shape}, expected {want} (steps x source + prefix + "
                                        "target tokens)")
        mats.append(m)
    return GenerationExplanation(method=method, step_target=step_target, sources=list(sources),
                                 source_tokens=[list(t) for t in source_tokens],
                                 prefix_tokens=[list(t) for t in prefix_tokens],
                                 target_tokens=[list(t) for t in target_tokens], scores=mats)


def _nanmean(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    return float(np.mean(a[np.isfinite(a)])) if np.isfinite(a).any() else float("nan")


def compare_generation_explainers(live: Any, sources: Sequence[str] | str,
                                  methods: Sequence[str] = DEFAULT_GENERATION_METHODS, *,
                                  step_target: str = "probability", target_texts: Sequence[str] | None = None,
                                  max_new_tokens: int = 10, bins: Sequence[float] = ERASER_BINS, seed: int = 0,
                                  batch_size: int = 32, params: dict | None = None,
                                  external: Sequence[GenerationExplanation] = (), progress: bool = False):
    """Explain every step of each source's output with each method and rank the methods by faithfulness.

    Parameters
    ----------
    live : LiveModel
        A causal LM or a seq2seq LM with its LM head.
    sources : str or sequence of str
        Prompts (causal LM) or encoder inputs (seq2seq LM).
    methods : sequence of str
        Keys of :data:`~neuronlab.explain.generation.GENERATION_METHODS`.
    step_target : str, default="probability"
        What is explained and evaluated (:data:`~neuronlab.explain.gen_targets.STEP_TARGETS`, no contrast).
    target_texts : sequence of str, optional
        Forced outputs (one per source); else each method explains the greedy output of ``max_new_tokens``.
    bins, seed, batch_size
        As :func:`generation_faithfulness` (and the explainers' ``batch_size``).
    params : dict, optional
        Method -> its parameters (e.g. ``{"integrated_gradients": {"steps": 16}}``).
    external : sequence of GenerationExplanation
        Explanations computed elsewhere (inseq, Captum) on the same outputs, scored alike.

    Returns
    -------
    ExplainerComparison
        One row per method: ``comprehensiveness``, ``sufficiency``, ``aopc`` and their ``random_*``,
        ``seconds`` (explanation), ``metric_seconds``, ``forward_passes`` (rows of the explanation),
        ``eval_rows`` (rows of the metrics, cached ones counted once), ``steps``; best first
        (comprehensiveness minus sufficiency). ``config["level"] = "generation"``.
    """
    from .compare import ExplainerComparison
    from .generation import GENERATION_METHODS

    sources = [sources] if isinstance(sources, str) else list(sources)
    if not sources:
        raise InvalidParameterError("give at least one source text to explain")
    if not methods and not external:
        raise InvalidParameterError("give at least one generation method (or an external explanation) to compare")
    for m in methods:
        GENERATION_METHODS[m]  # the registry's one-line error with the valid names
    params = dict(params or {})
    unknown = [m for m in params if m not in methods]
    if unknown:
        raise InvalidParameterError(f"parameters for {unknown[0]!r}, which is not among the methods compared")
    bins = check_bins(bins)
    ev = _Evaluator(live, step_target, batch_size)
    explanations = []
    bar = _progress(progress, len(methods) + len(external))
    reference = None
    try:
        for name in methods:
            kw = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, **params.get(name, {})}
            t0 = time.perf_counter()
            ex = GENERATION_METHODS[name].load()(live, step_target=step_target, **kw).explain(
                sources, targets=None if target_texts is None else list(target_texts))
            explanations.append((ex, "neuronlab", time.perf_counter() - t0, ex.forward_passes))
            reference = reference or ex.target_tokens
            _same_outputs(reference, ex)
        for ex in external:
            if reference is not None:
                _same_outputs(reference, ex)
            explanations.append((ex, "external", float(ex.seconds), int(ex.forward_passes)))
        rows = []
        for ex, src, seconds, passes in explanations:
            t0 = time.perf_counter()
            f = generation_faithfulness(live, ex, bins=bins, seed=seed, _evaluator=ev)
            row = {"method": ex.method, "source": src}
            for p in ("", "random_"):
                for m in GENERATION_METRICS:
                    row[p + m] = getattr(f, p + m)
            row.update(sanity_spearman=None, seconds=round(seconds, 4),
                       metric_seconds=round(time.perf_counter() - t0, 4), forward_passes=int(passes),
                       eval_rows=f.forward_rows, steps=len(f.steps))
            rows.append(row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    rows.sort(key=lambda r: (not np.isfinite(r["comprehensiveness"] - r["sufficiency"]),
                             -np.nan_to_num(r["comprehensiveness"] - r["sufficiency"])))
    cfg = {"level": "generation", "metrics": list(GENERATION_METRICS), "methods": list(methods),
           "step_target": step_target, "target": {"kind": step_target, "level": "generation"},
           "bins": bins, "seed": seed, "n_inputs": len(sources), "model_kind": ev.gm.kind,
           "max_new_tokens": None if target_texts is not None else int(max_new_tokens),
           "target_texts": None if target_texts is None else list(target_texts), "mode": "drop",
           "params": {k: dict(v) for k, v in params.items()}}
    return ExplainerComparison(rows=rows, config=cfg)


def _same_outputs(reference: list, ex: GenerationExplanation) -> None:
    if [list(t) for t in ex.target_tokens] != [list(t) for t in reference]:
        raise InvalidParameterError(
            f"{ex.method!r} explains other outputs than the first method; give target_texts (--target) so that "
            "every method explains the same tokens")


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="compare generation explainers", unit="method", leave=False)
