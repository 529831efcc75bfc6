"""Gradient explainers on the word-embedding input: saliency, gradient x input, SmoothGrad, integrated
gradients and guided backprop (issue 15).

Every method here computes a score per token and per embedding dimension, ``(n_tokens, hidden)``, on the
*word* embeddings that :meth:`~neuronlab.models.live.LiveModel.forward` accepts as ``inputs_embeds`` (position
and segment embeddings are added by the model, as usual), and reduces it to one score per token:

=========== =====================================================================================
reduction   token score from the per-dimension scores ``s`` (and the input embedding ``x``)
=========== =====================================================================================
``sum``     ``sum_d s_d``: signed; keeps completeness (integrated gradients, DeepLIFT, LRP)
``l1``      ``sum_d |s_d|``: Captum's ``Saliency`` (absolute gradients) summed over the embedding
``l2``      ``sqrt(sum_d s_d^2)``: the gradient norm of Li et al. (2016)
``dot``     ``sum_d s_d x_d``: the dot product with the input (for the gradient: gradient x input)
=========== =====================================================================================

With ``normalize=True`` each example's token scores are divided by their sum of absolute values (over the
example's tokens, special tokens included), so that explanations of different inputs are comparable; this
gives up completeness.

Batching: the examples are processed in chunks, each chunk's padding trimmed to its longest input (for
right-padding tokenizers), and the rows of a chunk (examples x interpolation steps or noise samples) go
through the model ``batch_size`` rows per forward/backward pass.

Examples
--------
>>> from neuronlab.explain import EXPLAINERS                                   # doctest: +SKIP
>>> ig = EXPLAINERS["integrated_gradients"](live, steps=32, baseline="mask")   # doctest: +SKIP
>>> ex = ig.explain(["nobody liked the plot"])                                 # doctest: +SKIP
>>> sum(ex.word_scores[0]), ex.target_value[0] - ex.reference_value[0]         # doctest: +SKIP

References
----------
Simonyan, Vedaldi & Zisserman (2014), Deep inside convolutional networks: visualising image classification
models and saliency maps. Shrikumar, Greenside, Shcherbina & Kundaje (2016), Not just a black box; Denil,
Demiraj & de Freitas (2014), Extraction of salient sentences from labelled documents. Smilkov, Thorat, Kim,
Viegas & Wattenberg (2017), SmoothGrad: removing noise by adding noise. Sundararajan, Taly & Yan (2017),
Axiomatic attribution for deep networks. Springenberg, Dosovitskiy, Brox & Riedmiller (2015), Striving for
simplicity: the all convolutional net (guided backpropagation).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from ..errors import InvalidParameterError, choices
from .base import REDUCTIONS, Explainer, reduce_embedding

__all__ = ["EmbeddingExplainer", "Saliency", "GradientXInput", "SmoothGrad", "IntegratedGradients",
           "GuidedBackprop", "TOKEN_REDUCTIONS", "BASELINES", "baseline_embeddings", "sub_batch",
           "noise_sigma"]

#: reductions of per-dimension scores to a token score: :data:`~neuronlab.explain.base.REDUCTIONS` plus ``dot``
TOKEN_REDUCTIONS = tuple(REDUCTIONS) + ("dot",)
#: named baselines of the reference-based methods (any other string is a vocabulary token)
BASELINES = ("zero", "pad", "mask", "unk")


# ------------------------------------------------------------------ helpers shared by the reference methods
def sub_batch(live: Any, enc: Any, resolved: Any, idx: list[int]):
    """The examples ``idx`` of ``enc`` as a batch of their own, right padding trimmed to the longest of them.

    Returns ``(encoded, resolved target)``; the target keeps each example's class and word position.
    """
    import torch

    from ..models.live import Encoded
    from ..models.targets import ResolvedTarget

    rows = torch.as_tensor(idx, dtype=torch.long)
    ids, mask = enc.input_ids[rows], enc.attention_mask[rows]
    if getattr(live.tokenizer, "padding_side", "right") == "right":
        n = int(mask.sum(1).max())
        ids, mask = ids[:, :n], mask[:, :n]
    sub = Encoded(ids, mask, [list(enc.word_ids[i][:ids.shape[1]]) for i in idx], [enc.tokens[i] for i in idx],
                  None if enc.words is None else [enc.words[i] for i in idx])
    pos = None if resolved.pos is None else resolved.pos[rows]
    return sub, ResolvedTarget(resolved.target, resolved.cls[rows], pos)


def baseline_embeddings(live: Any, enc: Any, how: str = "pad"):
    """Reference word embeddings (n, tokens, hidden): every token of a word replaced, special tokens kept.

    Parameters
    ----------
    how : str
        ``zero`` (zero vectors), ``pad``, ``mask`` or ``unk`` (the embedding of that special token), or any
        token of the vocabulary (its embedding).

    Raises
    ------
    InvalidParameterError
        If the tokenizer lacks the special token or the vocabulary the given token.
    """
    import torch

    x = live.embed(enc)
    content = enc.content_mask()[:, :x.shape[1]].to(x.device)[..., None]
    if how == "zero":
        ref = torch.zeros_like(x)
    else:
        if how in BASELINES:
            tid = live.special_token_id(how)
        else:
            tid = live.tokenizer.convert_tokens_to_ids(how)
            unk = getattr(live.tokenizer, "unk_token_id", None)
            if tid is None or (tid == unk and how != live.tokenizer.unk_token):
                raise InvalidParameterError(
                    f"baseline {how!r} is neither one of {choices(BASELINES)} nor a token of the model's vocabulary")
        ref = live.embed(enc, ids=torch.full(enc.input_ids.shape, int(tid)))
    return torch.where(content, ref, x)


def noise_sigma(x: Any, mask: Any, level: float) -> list[float]:
    """Noise sd per example: ``level * (max - min)`` of its word embeddings ``x`` over its non-padding tokens
    (Smilkov et al.'s noise level relative to the input's range)."""
    out = []
    for i in range(x.shape[0]):
        xi = x[i][mask[i].bool().to(x.device)]
        out.append(float(level) * float(xi.max() - xi.min()))
    return out


def _row_chunks(n_rows: int, batch_size: int) -> Iterator[slice]:
    for a in range(0, n_rows, batch_size):
        yield slice(a, min(a + batch_size, n_rows))


# ------------------------------------------------------------------ the base of every embedding-gradient method
class EmbeddingExplainer(Explainer):
    """Base of the methods that score the word-embedding input per dimension.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
    reduction : {"sum", "l1", "l2", "dot"}
        Per-dimension scores to a token score (see the module docstring).
    normalize : bool, default=False
        Divide each example's token scores by their sum of absolute values.
    batch_size : int, default=32
        Rows (examples x steps or samples) per forward/backward pass.

    Notes
    -----
    Subclasses implement :meth:`_attribute`: a chunk of examples -> per-dimension scores and, for
    reference-based methods, the target at the reference.
    """

    unit = "token"
    #: the rows one example needs (interpolation steps, noise samples)
    rows_per_example = 1
    default_reduction = "sum"

    def __init__(self, live: Any, *, target: Any = "predicted", reduction: str | None = None,
                 normalize: bool = False, batch_size: int = 32) -> None:
        super().__init__(live, target=target, batch_size=batch_size)
        reduction = self.default_reduction if reduction is None else reduction
        if reduction not in TOKEN_REDUCTIONS:
            raise InvalidParameterError(
                f"reduction {reduction!r} is unknown; choose one of {choices(TOKEN_REDUCTIONS)}")
        self.reduction = reduction
        self.normalize = bool(normalize)

    def params(self) -> dict:
        return {"reduction": self.reduction, "normalize": self.normalize, "batch_size": self.batch_size}

    # -------------------------------------------------------------- what subclasses use
    def gradient(self, enc: Any, resolved: Any, rows: Any, emb: Any):
        """d target / d ``emb`` for the rows (one forward and backward pass per ``batch_size`` rows).

        Parameters
        ----------
        rows : array-like of int
            The example (of ``enc``) of each row.
        emb : torch.Tensor of shape (n_rows, n_tokens, hidden)
            The word embeddings each row runs from.
        """
        import torch

        rows = torch.as_tensor(rows, dtype=torch.long)
        out = torch.empty_like(emb)
        for sl in _row_chunks(len(rows), self.batch_size):
            e = emb[sl].detach().requires_grad_(True)
            with torch.enable_grad():
                values = self.evaluate(enc, resolved, rows[sl], inputs_embeds=e)
                (g,) = torch.autograd.grad(values.sum(), e)
            out[sl] = g
        return out

    def reference_values(self, enc: Any, resolved: Any, emb: Any) -> list[float]:
        """The target at reference embeddings ``emb`` (n_examples, tokens, hidden), no gradient."""
        import torch

        vals = []
        with torch.no_grad():
            for sl in _row_chunks(enc.n_examples, self.batch_size):
                rows = list(range(sl.start, sl.stop))
                vals += self.evaluate(enc, resolved, rows, inputs_embeds=emb[sl]).tolist()
        return [float(v) for v in vals]

    def _attribute(self, enc: Any, resolved: Any) -> tuple[Any, list[float] | None]:
        """Per-dimension scores (n_examples, n_tokens, hidden) of a chunk, and f(reference) per example or None."""
        raise NotImplementedError

    # -------------------------------------------------------------- per-dimension access
    def attribute_embeddings(self, inputs: Any, *, target: Any = None):
        """Per-dimension scores of every example, before the reduction: (tensor (n, tokens, hidden), references).

        The batch is not trimmed (one chunk of all inputs); for comparisons with other implementations.
        """
        enc = self.live.encode(inputs)
        _, resolved = self.resolve(enc, target)
        self._predicted_pass = None
        return self._attribute(enc, resolved)

    def _scores(self, enc: Any, resolved: Any, progress: Any) -> tuple[list[np.ndarray], list[float] | None]:
        per_chunk = max(1, self.batch_size // max(1, self.rows_per_example))
        scores: list[np.ndarray] = []
        refs: list[float] | None = []
        for a in range(0, enc.n_examples, per_chunk):
            idx = list(range(a, min(a + per_chunk, enc.n_examples)))
            sub, sub_resolved = sub_batch(self.live, enc, resolved, idx)
            attr, ref = self._attribute(sub, sub_resolved)
            tok = self._reduce(sub, attr)
            for j in range(len(idx)):
                s = tok[j][sub.attention_mask[j].bool().to(tok.device)].double().cpu().numpy()
                if self.normalize:
                    total = np.abs(s).sum()
                    s = s / total if total > 0 else s
                scores.append(s)
            refs = None if ref is None or refs is None else refs + list(ref)
            if progress is not None:
                progress.update(len(idx))
        return scores, refs

    def _reduce(self, enc: Any, attr: Any):
        if self.reduction == "dot":
            return (attr * self.live.embed(enc).to(attr.dtype)).sum(-1)
        return reduce_embedding(attr, self.reduction)


# ------------------------------------------------------------------ the methods
    # -------------------------------------------------------------- seeded sampling (SmoothGrad, GradientSHAP)
    _gen = None

    def _seeded_scores(self, enc, resolved, progress):
        """:meth:`_scores` with one generator seeded from ``self.seed`` for the whole call (every chunk draws
        from it in turn, so the draws do not depend on how the inputs are chunked)."""
        import torch

        self._gen = torch.Generator().manual_seed(self.seed)
        try:
            return EmbeddingExplainer._scores(self, enc, resolved, progress)
        finally:
            self._gen = None

    def _generator(self):
        """The call's seeded generator (a fresh one seeded from ``self.seed`` outside :meth:`_seeded_scores`)."""
        import torch

        return self._gen if self._gen is not None else torch.Generator().manual_seed(self.seed)


class Saliency(EmbeddingExplainer):
    """Vanilla gradient (saliency map) of the target with respect to the word embeddings.

    The per-dimension score is the gradient ``d f / d x``; the default reduction ``l1`` sums its absolute
    values over the embedding (Captum's ``Saliency``, whose default takes absolute values, summed).

    References
    ----------
    Simonyan, Vedaldi & Zisserman (2014), "Deep inside convolutional networks: visualising image
    classification models and saliency maps", ICLR workshop.
    """

    name = "gradient"
    default_reduction = "l1"

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        return self.gradient(enc, resolved, torch.arange(enc.n_examples), x), None


class GradientXInput(EmbeddingExplainer):
    """Gradient x input: ``x * d f / d x`` per embedding dimension, summed to the token by default.

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not just a black box: learning important features
    through propagating activation differences"; Denil, Demiraj & de Freitas (2014), "Extraction of salient
    sentences from labelled documents".
    """

    name = "gradient_x_input"

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        return x * self.gradient(enc, resolved, torch.arange(enc.n_examples), x), None


class SmoothGrad(EmbeddingExplainer):
    """SmoothGrad: the gradient averaged over ``n_samples`` noisy copies of the word embeddings.

    ``M(x) = 1/n sum_k d f / d x (x + e_k)``, ``e_k ~ N(0, sigma^2)`` elementwise on every token of the
    example (padding included, where it has no effect), with the paper's noise level relative to the
    input's scale: ``sigma = level * (max(x) - min(x))`` over the example's embeddings (Smilkov et al. use
    10-20%). The noise is drawn from a generator seeded by ``seed`` (not torch's global one), example after
    example, each a block ``(n_samples, n_tokens, hidden)`` of its chunk (padding trimmed).
    ``absolute=True`` averages ``|gradient|`` instead
    (Captum's ``NoiseTunnel(Saliency)`` with its default ``abs=True``).

    References
    ----------
    Smilkov, Thorat, Kim, Viegas & Wattenberg (2017), "SmoothGrad: removing noise by adding noise".
    """

    name = "smoothgrad"
    default_reduction = "l1"

    def __init__(self, live: Any, *, n_samples: int = 20, level: float = 0.15, seed: int = 0,
                 absolute: bool = False, **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        if isinstance(n_samples, bool) or int(n_samples) < 1:
            raise InvalidParameterError(f"n_samples must be a positive int, got {n_samples!r}")
        if not float(level) >= 0:
            raise InvalidParameterError(f"level must be >= 0 (noise sd relative to max - min), got {level!r}")
        self.n_samples, self.level, self.seed, self.absolute = int(n_samples), float(level), int(seed), bool(absolute)
        self.rows_per_example = self.n_samples
        self._gen = None

    def params(self) -> dict:
        return {**super().params(), "n_samples": self.n_samples, "level": self.level, "seed": self.seed,
                "absolute": self.absolute}

    def sigma(self, x, mask) -> list[float]:
        """Noise sd per example (:func:`noise_sigma` with this explainer's ``level``)."""
        return noise_sigma(x, mask, self.level)

    def _draw(self, shape: tuple, sigma: list[float], gen: Any):
        """The noise of a chunk: ``n_samples`` blocks of ``shape`` per example (sd ``sigma[i]``), example-major,
        a tensor (n_examples * n_samples, *shape)."""
        import torch

        return torch.cat([torch.randn((self.n_samples,) + tuple(shape), generator=gen) * sig for sig in sigma])

    def _scores(self, enc, resolved, progress):
        return self._seeded_scores(enc, resolved, progress)

    def _attribute(self, enc, resolved):
        import torch

        gen = self._generator()
        x = self.live.embed(enc)
        n, s = enc.n_examples, self.n_samples
        noise = self._draw(tuple(x.shape[1:]), self.sigma(x, enc.attention_mask), gen).to(x.dtype).to(x.device)
        rows = torch.arange(n).repeat_interleave(s)
        g = self.gradient(enc, resolved, rows, x.repeat_interleave(s, dim=0) + noise)
        if self.absolute:
            g = g.abs()
        return g.reshape((n, s) + tuple(x.shape[1:])).mean(1), None


class IntegratedGradients(EmbeddingExplainer):
    """Integrated gradients on the word embeddings, from a baseline along the straight path.

    ``IG(x) = (x - x') * int_0^1 d f / d x (x' + a (x - x')) da``, the integral by the quadrature ``rule``
    with ``steps`` nodes (:mod:`neuronlab.attribution.quadrature`; weights summing to one). The baseline
    ``x'`` replaces the tokens of every word (special tokens keep their embeddings): ``zero``, ``pad``,
    ``mask``, ``unk`` or any vocabulary token. Completeness: the ``sum`` of the token scores equals
    ``f(x) - f(x')``; ``f(x')`` is the explanation's ``reference_value``.

    References
    ----------
    Sundararajan, Taly & Yan (2017), "Axiomatic attribution for deep networks", ICML.
    """

    name = "integrated_gradients"

    def __init__(self, live: Any, *, steps: int = 50, rule: str = "gausslegendre", baseline: str = "pad",
                 **kwargs: Any) -> None:
        from ..attribution.quadrature import get_rule

        super().__init__(live, **kwargs)
        self.rule = get_rule(rule, steps)
        self.steps, self.baseline = int(steps), str(baseline)
        if self.baseline not in BASELINES and self.baseline != "zero":
            baseline_embeddings(live, live.encode([["a"]]), self.baseline)  # unknown token: one line, now
        self.rows_per_example = self.steps

    def params(self) -> dict:
        return {**super().params(), "steps": self.steps, "rule": self.rule.name, "baseline": self.baseline}

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        ref = baseline_embeddings(self.live, enc, self.baseline)
        n, m = enc.n_examples, self.steps
        alphas = torch.as_tensor(self.rule.nodes, dtype=x.dtype, device=x.device)
        weights = torch.as_tensor(self.rule.weights, dtype=x.dtype, device=x.device)
        path = ref[:, None] + alphas[None, :, None, None] * (x - ref)[:, None]
        rows = torch.arange(n).repeat_interleave(m)
        g = self.gradient(enc, resolved, rows, path.reshape((n * m,) + tuple(x.shape[1:])))
        avg = (g.reshape((n, m) + tuple(x.shape[1:])) * weights[None, :, None, None]).sum(1)
        return (x - ref) * avg, self.reference_values(enc, resolved, ref)


class GuidedBackprop(EmbeddingExplainer):
    """Guided backpropagation: the gradient with only positive gradients passed back through every ReLU.

    Defined for ReLU networks only: a model whose feed-forward activation (``config.hidden_act``) is not
    ``relu`` (BERT and minilm use GELU) is refused. Other modules (LayerNorm, softmax, the pooler's tanh)
    pass the plain gradient, as in Captum's ``GuidedBackprop``.

    References
    ----------
    Springenberg, Dosovitskiy, Brox & Riedmiller (2015), "Striving for simplicity: the all convolutional
    net", ICLR workshop.
    """

    name = "guided_backprop"
    default_reduction = "l1"

    def __init__(self, live: Any, **kwargs: Any) -> None:
        import torch

        super().__init__(live, **kwargs)
        cfg = live.model.config
        act = getattr(cfg, "hidden_act", None) or getattr(cfg, "activation_function", None) or \
            getattr(cfg, "activation", None)
        self._relus = [m for m in live.model.modules() if isinstance(m, torch.nn.ReLU)]
        if str(act).lower() != "relu" or not self._relus:
            raise InvalidParameterError(
                f"guided_backprop is defined for ReLU networks only; this model's activation is {act!r} "
                "(its backward rule has no meaning for GELU); use gradient, smoothgrad or integrated_gradients")

    @contextlib.contextmanager
    def _guided(self):
        def hook(module, inputs, output):
            if output.requires_grad:
                output.register_hook(lambda g: g.clamp(min=0))

        handles = [m.register_forward_hook(hook) for m in self._relus]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        with self._guided():
            return self.gradient(enc, resolved, torch.arange(enc.n_examples), x), None
