"""Explain generated text: attribute each generated token of a causal or seq2seq LM to the input tokens and
to the previous output tokens, as inseq does (issue 15).

``GENERATION_METHODS[name](live, step_target=..., ...).explain(sources, targets=None, contrast=None)``
generates (greedily, or by sampling / beam search with ``generate_kwargs`` and ``seed``) or forces the given
target texts, then, teacher-forcing that output, for every step ``t`` scores each source token and each
previous target token for the step target ``f_t`` (:data:`~neuronlab.explain.gen_targets.STEP_TARGETS`:
probability, log-probability, entropy, contrastive probability difference, also against an aligned alternative
output of another length (``contrast_alignments``, :mod:`.gen_align`), KL divergence):

======================== ====================================================================================
method                   score of column ``j`` at step ``t`` (``x``: the input embeddings of the columns)
======================== ====================================================================================
``gradient``             ``reduce(d f_t / d x_j)`` (default l1: sum of absolute values; Simonyan et al. 2014)
``gradient_x_input``     ``sum_d x_jd d f_t / d x_jd`` (Shrikumar et al. 2016)
``integrated_gradients`` ``sum_d (x - x')_jd int_0^1 d f_t / d x_jd (x' + a (x - x')) da`` on the source and
                         decoder word embeddings together (Sundararajan et al. 2017); a row sums to
                         ``f_t(x) - f_t(x')``
``occlusion``            ``f_t(x) - f_t(x with token j replaced by the baseline token)``, or with token
                         ``j`` removed (``mode="drop"``: positions shift) (leave-one-out; Zeiler & Fergus
                         2014, Li et al. 2016)
======================== ====================================================================================

Batching (inseq falls back to one sentence and one step at a time and runs out of memory on long inputs,
its issues #183, #191, #279): every (sentence, step) of the gradient methods is one *row* holding only that
step's context, and all rows of all sentences go through the model together, ``batch_size`` rows per
forward and one backward per pass (the rows are independent, so the gradient of the summed step targets
gives each row its own gradient). Integrated gradients add the interpolation nodes as rows. Occlusion needs
no per-step rows: one teacher-forced row per occluded (or removed) token gives every step's value at once. An
aligned contrast output adds one contrast row per row, in the same pass. Passes are
bounded by ``max_batch_tokens`` (rows x padded length) and ``max_memory_gb`` (an estimate of the
activations and logits of a forward and backward pass); a long input is split over more passes instead of
failing.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from ..registry import Entry, Param, Registry
from .base import REDUCTIONS, reduce_embedding
from .gen_model import GenModel, Row, Sentence, word_ids
from .gen_result import GenerationExplanation
from .gen_targets import STEP_TARGETS

__all__ = [
    "GENERATION_METHODS",
    "GenGradient",
    "GenGradientXInput",
    "GenIntegratedGradients",
    "GenOcclusion",
    "GenerationExplainer",
    "explain_generation",
]

#: named baselines (any other string is a vocabulary token)
GEN_BASELINES = ("zero", "pad", "unk", "mask", "eos", "bos")


class GenerationExplainer:
    """Base class of generation explainers.

    Parameters
    ----------
    live : LiveModel
        A causal LM or a seq2seq LM with its LM head.
    step_target : str, default="log_probability"
        Key of :data:`~neuronlab.explain.gen_targets.STEP_TARGETS`.
    target_side : bool, default=True
        Attribute the previous target tokens (and the decoder prefix) too; False leaves them NaN (and
        unperturbed by integrated gradients and occlusion), as Captum's LLM attribution does.
    batch_size : int, default=32
        Rows per forward (and backward) pass.
    max_batch_tokens : int, optional
        Rows x padded length per pass.
    max_memory_gb : float, optional
        Estimated memory of a pass (see :meth:`GenModel.bytes_per_row`).
    max_new_tokens : int, default=20
        Tokens generated where no target text is given (stops at the end-of-sequence token).
    generate_kwargs : dict, optional
        Arguments of transformers' ``generate`` for the outputs that are generated (inseq's
        ``generation_args``): ``do_sample=True`` with ``top_k``, ``top_p``, ``temperature``, or ``num_beams``
        (beam search); greedy when omitted. The chosen output is then attributed by teacher forcing.
    seed : int, optional
        Seeds torch's generator before each input's generation (sampling is then reproducible, and does not
        depend on the other inputs). Sampling without a seed draws one from torch's global generator and
        records it in the result's config.
    """

    name = ""

    def __init__(self, live: Any, *, step_target: str = "log_probability", target_side: bool = True,
                 batch_size: int = 32, max_batch_tokens: int | None = None, max_memory_gb: float | None = None,
                 max_new_tokens: int = 20, generate_kwargs: dict | None = None, seed: int | None = None) -> None:
        from .gen_model import check_generate_kwargs

        self.entry = STEP_TARGETS[step_target]
        for name, v in (("batch_size", batch_size), ("max_new_tokens", max_new_tokens)):
            if isinstance(v, bool) or int(v) < 1:
                raise InvalidParameterError(f"{name} must be a positive int; got {v!r}")
        if max_batch_tokens is not None and int(max_batch_tokens) < 1:
            raise InvalidParameterError(f"max_batch_tokens must be a positive int; got {max_batch_tokens!r}")
        if max_memory_gb is not None and not float(max_memory_gb) > 0:
            raise InvalidParameterError(f"max_memory_gb must be > 0; got {max_memory_gb!r}")
        self.live = live
        self.gm = GenModel(live)
        self.step_target = step_target
        self.target_side = bool(target_side)
        self.batch_size = int(batch_size)
        self.max_batch_tokens = None if max_batch_tokens is None else int(max_batch_tokens)
        self.max_memory_gb = None if max_memory_gb is None else float(max_memory_gb)
        self.max_new_tokens = int(max_new_tokens)
        self.generate_kwargs = check_generate_kwargs(generate_kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def params(self) -> dict:
        return {"target_side": self.target_side, "batch_size": self.batch_size,
                "max_batch_tokens": self.max_batch_tokens, "max_memory_gb": self.max_memory_gb,
                "max_new_tokens": self.max_new_tokens, "generate_kwargs": dict(self.generate_kwargs),
                "seed": self.seed}

    # -------------------------------------------------------------- the public verb
    def explain(self, sources: Sequence[str] | str, *, targets: Sequence[str] | None = None,
                contrast: Sequence[str] | None = None, contrast_alignments: Any = None,
                progress: bool = False) -> GenerationExplanation:
        """Explain every generated (or forced) token of each source.

        Parameters
        ----------
        sources : str or sequence of str
            Prompts (causal LM) or encoder inputs (seq2seq LM).
        targets : sequence of str, optional
            Forced outputs (one per source); greedy generation when omitted.
        contrast : sequence of str, optional
            One per source: the alternative output (``contrast_prob_diff``: its t-th token is step t's foil)
            or the contrast input (``kl_divergence``).
        contrast_alignments : "auto" or sequence of list of (int, int), optional
            ``contrast_prob_diff`` with an alternative output of another length (inseq's
            ``contrast_targets_alignments``): ``(t, t')`` pairs per input, or ``"auto"`` (difflib on the
            tokens, :mod:`.gen_align`). Step ``t`` is then ``p(y_t | x, y_<t) - p(y'_t' | x, y'_<t')``, the
            contrast side in its own prefix (one more row per row); unaligned steps are NaN. Without it the
            alternative must have as many tokens as the target (foils in the target's context).

        Returns
        -------
        GenerationExplanation
        """
        import torch

        sources = [sources] if isinstance(sources, str) else list(sources)
        if isinstance(targets, str):
            targets = [targets]
        if isinstance(contrast, str):
            contrast = [contrast]
        need = self.entry.contrast
        if need is None and contrast is not None:
            raise InvalidParameterError(f"step target {self.step_target!r} takes no contrast; contrast is for "
                                        "contrast_prob_diff (an alternative output) and kl_divergence (an input)")
        if need is not None and contrast is None:
            raise InvalidParameterError(f"step target {self.step_target!r} needs contrast (one alternative "
                                        f"{'output' if need == 'output' else 'input'} per input)")
        self.gm.forward_passes = 0
        start = time.perf_counter()
        seed = self.seed
        if seed is None and targets is None and self.generate_kwargs.get("do_sample"):
            seed = int(torch.randint(0, 2 ** 31 - 1, ()))  # recorded: the sample can be reproduced
        sents = self.gm.sentences(sources, targets=targets, contrast=contrast, contrast_kind=need,
                                  max_new_tokens=self.max_new_tokens, generate_kwargs=self.generate_kwargs,
                                  seed=seed, contrast_alignments=contrast_alignments)
        self._aligned = sents[0].calign is not None
        self._fn = self.entry.load()
        self._contrast = self.gm.contrast_logprobs(sents) if need == "input" else None
        bar = _progress(progress, len(sents), self.name)
        try:
            with torch.no_grad():
                f_x = self._values(sents, [self.gm.embed(s) for s in sents])
            mats, refs = self._attribute(sents, bar)
        finally:
            if bar is not None:
                bar.close()
        for s, m in zip(sents, mats):
            m[np.triu_indices(s.n_steps, 0)[0], s.n_before + np.triu_indices(s.n_steps, 0)[1]] = np.nan
            if not self.target_side:
                m[:, s.n_src:] = np.nan
        scheme = self.gm.scheme()
        cfg = {**self.params(), "model": (getattr(self.live, "info", None) or {}).get("name"), "kind": self.gm.kind,
               "seed": seed}
        if self._aligned:
            cfg["contrast_alignments"] = [[[t, a] for t, a in enumerate(s.calign) if a >= 0] for s in sents]
        return GenerationExplanation(
            method=self.name, step_target=self.step_target, config=cfg, sources=[s.source for s in sents],
            source_tokens=[self.gm.tokens(s.src) for s in sents], prefix_tokens=[self.gm.tokens(s.prefix)
                                                                                 for s in sents],
            target_tokens=[self.gm.tokens(s.tgt) for s in sents],
            source_word_ids=[word_ids(self.gm.tokens(s.src), s.special[:s.n_src], scheme) for s in sents],
            target_word_ids=[word_ids(self.gm.tokens(s.tgt), s.special[s.n_before:], scheme) for s in sents],
            step_values=[list(map(float, v)) for v in f_x],
            reference_values=None if refs is None else [list(map(float, v)) for v in refs],
            contrast=None if contrast is None else list(contrast), seconds=round(time.perf_counter() - start, 6),
            forward_passes=self.gm.forward_passes, scores=mats)

    # -------------------------------------------------------------- what subclasses use
    def _chunks(self, rows):
        gb = None if self.max_memory_gb is None else self.max_memory_gb * 2 ** 30
        k = 2 if getattr(self, "_aligned", False) else 1  # each row brings its contrast row into the pass
        return self.gm.chunks(rows, batch_size=max(1, self.batch_size // k),
                              max_batch_tokens=None if self.max_batch_tokens is None else
                              max(1, self.max_batch_tokens // k), max_bytes=None if gb is None else gb / k)

    def _run(self, sents, rows):
        """Step-target values of a pass (flat, in row order of ``rows``' steps; NaN at unaligned steps)."""
        if self._aligned:
            z, zc = self.gm.forward(sents, rows, with_contrast=True)
            return self.gm.step_values(sents, rows, z, self._fn, self._contrast, zc)
        return self.gm.step_values(sents, rows, self.gm.forward(sents, rows), self._fn, self._contrast)

    def _values(self, sents: list[Sentence], embs: list) -> list[np.ndarray]:
        """f_t at the given column embeddings of each sentence, every step (no gradient): one row each."""
        rows = [Row(i, e, list(range(s.n_steps))) for i, (s, e) in enumerate(zip(sents, embs))]
        out = [None] * len(sents)
        for chunk in self._chunks(rows):
            vals = self._run(sents, chunk).double().cpu().numpy()
            a = 0
            for r in chunk:
                out[r.sent] = vals[a:a + len(r.steps)]
                a += len(r.steps)
        return out

    def _attributed(self, s: Sentence) -> np.ndarray:
        """Bool over the input columns: perturbed by integrated gradients and occlusion."""
        keep = ~s.special[:s.n_inputs].copy()
        if not self.target_side:
            keep[s.n_src:] = False
        return keep

    def _step_rows(self, sents, embs, variants=None):
        """One row per (sentence, step[, variant]) with that step's context only; ``variants(i, t, x)`` yields
        ``(key, embedding)`` pairs."""
        for i, (s, x) in enumerate(zip(sents, embs)):
            for t in s.aligned_steps():
                k = s.context(t)
                if variants is None:
                    yield Row(i, x[:k], [t], key=None)
                else:
                    for key, e in variants(i, t, x[:k]):
                        yield Row(i, e, [t], key=key)

    def _gradients(self, sents, rows, sink, bar=None):
        """For each pass of ``rows``: one forward, one backward of the summed step targets; ``sink(row, grad)``."""
        import torch

        done = set()
        for chunk in self._chunks(rows):  # rows are generated lazily: only a pass's rows are in memory
            leaves = [r.emb.detach().clone().requires_grad_(True) for r in chunk]
            batch = [Row(r.sent, e, r.steps, r.key) for r, e in zip(chunk, leaves)]
            with torch.enable_grad():
                vals = self._run(sents, batch)
                grads = torch.autograd.grad(vals[~torch.isnan(vals)].sum(), leaves, allow_unused=True)
            grads = [torch.zeros_like(e) if g is None else g for e, g in zip(leaves, grads)]
            for r, g in zip(chunk, grads):
                sink(r, g.detach())
            if bar is not None:
                new = {r.sent for r in chunk} - done
                done |= new
                bar.update(len(new))

    def _attribute(self, sents: list[Sentence], bar) -> tuple[list[np.ndarray], list | None]:
        raise NotImplementedError


def _nan_matrix(s: Sentence) -> np.ndarray:
    return np.full((s.n_steps, s.n_cols), np.nan)


class _GradientBase(GenerationExplainer):
    default_reduction = "sum"

    def __init__(self, live: Any, *, reduction: str | None = None, **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        reduction = self.default_reduction if reduction is None else reduction
        if reduction not in REDUCTIONS:
            raise InvalidParameterError(f"reduction {reduction!r} is unknown; choose one of {choices(REDUCTIONS)}")
        self.reduction = reduction

    def params(self) -> dict:
        return {"reduction": self.reduction, **super().params()}

    def _times_input(self) -> bool:
        return False

    def _attribute(self, sents, bar):
        embs = [self.gm.embed(s) for s in sents]
        mats = [_nan_matrix(s) for s in sents]
        mult = self._times_input()

        def sink(row, g):
            s = sents[row.sent]
            a = g * row.emb if mult else g
            t = row.steps[0]
            mats[row.sent][t, :s.context(t)] = reduce_embedding(a, self.reduction).double().cpu().numpy()

        self._gradients(sents, self._step_rows(sents, embs), sink, bar)
        return mats, None


class GenGradient(_GradientBase):
    """Saliency: the gradient of the step target with respect to each column's input embedding, reduced
    (default ``l1``: ``sum_d |d f_t / d x_jd|``).

    References
    ----------
    Simonyan, Vedaldi & Zisserman (2014), "Deep inside convolutional networks"; Sarti et al. (2023), Inseq.
    """

    name = "gradient"
    default_reduction = "l1"


class GenGradientXInput(_GradientBase):
    """Gradient x input: ``sum_d x_jd d f_t / d x_jd`` (reduction ``sum``), Captum's ``LayerGradientXActivation``
    on the embedding layer.

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not just a black box".
    """

    name = "gradient_x_input"

    def _times_input(self) -> bool:
        return True


class GenIntegratedGradients(GenerationExplainer):
    """Integrated gradients on the source and decoder input embeddings of each step's context.

    The path runs from the baseline ``x'`` (every attributed, non-special column replaced by ``baseline``:
    ``zero`` or a token) to ``x`` with the quadrature ``rule`` (:mod:`neuronlab.attribution.quadrature`,
    weights summing to one); the scores of step ``t`` sum to ``f_t(x) - f_t(x')`` up to the quadrature
    error (``reference_values`` holds ``f_t(x')``).

    References
    ----------
    Sundararajan, Taly & Yan (2017), "Axiomatic attribution for deep networks", ICML.
    """

    name = "integrated_gradients"

    def __init__(self, live: Any, *, steps: int = 32, rule: str = "gausslegendre", baseline: str = "unk",
                 **kwargs: Any) -> None:
        from ..attribution.quadrature import get_rule

        super().__init__(live, **kwargs)
        self.rule = get_rule(rule, int(steps))
        self.steps, self.baseline = int(steps), str(baseline)
        if self.baseline != "zero":
            self.gm.token_id(self.baseline)

    def params(self) -> dict:
        return {"steps": self.steps, "rule": self.rule.name, "baseline": self.baseline, **super().params()}

    def _attribute(self, sents, bar):
        import torch

        embs = [self.gm.embed(s) for s in sents]
        refs = []
        for s, x in zip(sents, embs):
            keep = torch.as_tensor(~self._attributed(s), device=x.device)[:, None]
            refs.append(torch.where(keep, x, self.gm.baseline(s, self.baseline, x)))
        nodes = [float(a) for a in self.rule.nodes]
        weights = [float(w) for w in self.rule.weights]
        acc = {(i, t): 0.0 for i, s in enumerate(sents) for t in s.aligned_steps()}  # others stay NaN

        def variants(i, t, x):
            ref = refs[i][:x.shape[0]]
            for k, a in enumerate(nodes):
                yield k, ref + a * (x - ref)

        def sink(row, g):
            acc[(row.sent, row.steps[0])] = acc[(row.sent, row.steps[0])] + weights[row.key] * g

        self._gradients(sents, self._step_rows(sents, embs, variants), sink, bar)
        mats = [_nan_matrix(s) for s in sents]
        for (i, t), g in acc.items():
            k = sents[i].context(t)
            mats[i][t, :k] = ((embs[i][:k] - refs[i][:k]) * g).sum(-1).double().cpu().numpy()
        with torch.no_grad():
            f_ref = self._values(sents, refs)
        return mats, f_ref


#: occlusion modes: replace the token by the baseline token, or remove it (the sequence gets shorter)
OCCLUSION_MODES = ("replace", "drop")


class GenOcclusion(GenerationExplainer):
    """Occlusion (leave-one-out): ``f_t(x) - f_t(x without token j)`` for every column ``j``.

    ``mode="replace"`` (default) puts the ``baseline`` token (or the zero embedding) at column ``j``;
    ``mode="drop"`` *removes* column ``j`` (deletion, as the classifier ``leave-one-out`` with
    ``mode="drop"`` and Captum's/inseq's ablation with a feature mask over the removed token): the columns
    after it move one position left, and the step targets are recomputed on the shortened teacher-forced
    sequence, each step still predicting its own token ``y_t`` (for a removed target token ``y_j``, only the
    steps ``t > j`` that have it in their context; in a causal LM whose prompt is the removed token alone,
    step 0 has no context left and its score is NaN).

    One teacher-forced row per occluded column gives the values of every step at once, so a sentence of
    ``n`` input columns costs ``n + 1`` rows however many steps it has. Special columns are not occluded
    (their score is 0).

    References
    ----------
    Zeiler & Fergus (2014), "Visualizing and understanding convolutional networks"; Li, Monroe & Jurafsky
    (2016), "Understanding neural networks through representation erasure".
    """

    name = "occlusion"

    def __init__(self, live: Any, *, baseline: str = "unk", mode: str = "replace", **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        if mode not in OCCLUSION_MODES:
            raise InvalidParameterError(f"mode {mode!r} is unknown; choose replace (the baseline token) or drop "
                                        "(remove the token)")
        self.mode = mode
        self.baseline = str(baseline)
        if self.baseline != "zero" and mode == "replace":
            self.gm.token_id(self.baseline)

    def params(self) -> dict:
        return {"mode": self.mode, "baseline": self.baseline, **super().params()}

    def _occluded_rows(self, i: int, s: Sentence):
        """The unperturbed row and one row per occluded column of sentence ``i``."""
        import torch

        x = self.gm.embed(s)
        steps = list(range(s.n_steps))
        yield Row(i, x, steps, key=None)
        ref = self.gm.baseline(s, self.baseline, x) if self.mode == "replace" else None
        for j in np.flatnonzero(self._attributed(s)):
            j = int(j)
            if ref is not None:
                e = x.clone()
                e[j] = ref[j]
                yield Row(i, e, steps, key=j)
                continue
            # steps with column j in their context, and a context left after removing it
            kept = [t for t in steps if s.context(t) > j and s.context(t) > 1]
            if kept:
                yield Row(i, torch.cat([x[:j], x[j + 1:]]), kept, key=j, drop=j)

    def _attribute(self, sents, bar):
        import torch

        def rows():  # lazily: only the rows of one pass are in memory
            for i, s in enumerate(sents):
                yield from self._occluded_rows(i, s)

        f_x = {}
        mats = [np.zeros((s.n_steps, s.n_cols)) for s in sents]
        occluded = {}
        done = set()
        with torch.no_grad():
            for chunk in self._chunks(rows()):
                vals = self._run(sents, chunk).double().cpu().numpy()
                a = 0
                for r in chunk:
                    v = vals[a:a + len(r.steps)]
                    a += len(r.steps)
                    if r.key is None:
                        f_x[r.sent] = v
                    else:
                        occluded[(r.sent, r.key)] = (r.steps, v)
                if bar is not None:
                    new = {r.sent for r in chunk} - done
                    done |= new
                    bar.update(len(new))
        for i, s in enumerate(sents):
            if self.mode == "drop":  # steps without a value stay NaN (no context, or column j not yet produced)
                mats[i][:, self._attributed(s).nonzero()[0]] = np.nan
        for (i, j), (steps, v) in occluded.items():
            mats[i][steps, j] = f_x[i][steps] - v
        return mats, None


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"explain {desc}", unit="sentence", leave=False)


# ---------------------------------------------------------------- the registry of generation methods
#: generation method key -> :class:`~neuronlab.registry.Entry` (the class by import path)
GENERATION_METHODS: Registry[Entry] = Registry("generation method")

_COMMON = (Param("target_side", bool, "attribute the previous target tokens too (false: source only, as Captum)"),
           Param("batch_size", int, "rows (sentence x step x node) per forward/backward pass"),
           Param("max_batch_tokens", int, "rows x padded length per pass", nullable=True),
           Param("max_new_tokens", int, "tokens generated greedily when no target text is given"))
_RED = Param("reduction", str, "per-dimension scores to a token score", choices=tuple(REDUCTIONS))
_BASE = Param("baseline", str, "zero (embeddings), pad, unk, mask, eos, bos, or any vocabulary token")
_SELF = "neuronlab.explain.generation:"
GENERATION_METHODS.register(Entry("gradient", _SELF + "GenGradient", "gradient of the step target on the input "
                                  "embeddings (default l1)", "Simonyan et al. 2014", params=(_RED,) + _COMMON))
GENERATION_METHODS.register(Entry("gradient_x_input", _SELF + "GenGradientXInput", "gradient x input embedding, "
                                  "summed", "Shrikumar et al. 2016", params=(_RED,) + _COMMON))
GENERATION_METHODS.register(Entry(
    "integrated_gradients", _SELF + "GenIntegratedGradients", "integrated gradients on source and decoder "
    "embeddings; each step sums to f_t(x) - f_t(baseline)", "Sundararajan et al. 2017",
    params=(Param("steps", int, "quadrature nodes"), Param("rule", str, "quadrature rule"), _BASE) + _COMMON))
GENERATION_METHODS.register(Entry(
    "occlusion", _SELF + "GenOcclusion", "f_t(x) - f_t(x with one token replaced by the baseline token, or "
    "removed: mode=drop), every step from one row per token", "Zeiler & Fergus 2014; Li et al. 2016",
    params=(_BASE, Param("mode", str, "replace (the baseline token) or drop (remove the token; positions shift)",
                         choices=OCCLUSION_MODES)) + _COMMON))


def explain_generation(live: Any, sources: Sequence[str] | str, *, method: str = "integrated_gradients",
                       step_target: str = "log_probability", targets: Sequence[str] | None = None,
                       contrast: Sequence[str] | None = None, contrast_alignments: Any = None,
                       progress: bool = False, **params: Any) -> GenerationExplanation:
    """One call: build ``GENERATION_METHODS[method]`` with ``params`` and explain ``sources``.

    Examples
    --------
    >>> ex = explain_generation(live, "The cat", method="gradient_x_input", targets=["sat on"])  # doctest: +SKIP
    >>> print(ex.table(0))                                                                       # doctest: +SKIP
    """
    explainer = GENERATION_METHODS[method].load()(live, step_target=step_target, **params)
    return explainer.explain(sources, targets=targets, contrast=contrast, contrast_alignments=contrast_alignments,
                             progress=progress)
