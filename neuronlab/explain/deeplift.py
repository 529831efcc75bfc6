"""Reference-based propagation explainers: DeepLIFT (rescale rule) and GradientSHAP (issue 15).

Both compare the input with reference word embeddings (the baselines of
:func:`~neuronlab.explain.gradients.baseline_embeddings`: every word's tokens replaced by ``zero``, ``pad``,
``mask``, ``unk`` or a vocabulary token, special tokens kept) and score ``(x - x') * multiplier`` per embedding
dimension, summed to the token by default.

Examples
--------
>>> from neuronlab.explain import EXPLAINERS                                  # doctest: +SKIP
>>> ex = EXPLAINERS["deeplift"](live, baseline="pad").explain(["a dull film"])   # doctest: +SKIP
>>> ex.top_words(0, k=2)                                                      # doctest: +SKIP

References
----------
Shrikumar, Greenside & Kundaje (2017), "Learning important features through propagating activation
differences", ICML (DeepLIFT). Lundberg & Lee (2017), "A unified approach to interpreting model predictions",
NeurIPS (GradientSHAP: expected gradients, Erion et al. 2021, with noise as in SmoothGrad).
"""
from __future__ import annotations

import contextlib
from typing import Any

from ..errors import InvalidParameterError, choices
from .gradients import BASELINES, EmbeddingExplainer, baseline_embeddings

__all__ = ["DeepLift", "GradientShap", "elementwise_activations"]


def elementwise_activations(model: Any) -> list:
    """The model's elementwise activation modules (torch's and transformers' activations, softmax excluded)."""
    import torch

    out = []
    for m in model.modules():
        mod = type(m).__module__
        if isinstance(m, (torch.nn.Softmax, torch.nn.LogSoftmax, torch.nn.MultiheadAttention)) or list(m.children()):
            continue
        if mod == "torch.nn.modules.activation" or mod == "transformers.activations":
            out.append(m)
    return out


class DeepLift(EmbeddingExplainer):
    """DeepLIFT with the rescale rule, from the word embeddings to the target.

    The input rows and their references run in one batch of ``2n`` rows; every elementwise activation
    (:func:`elementwise_activations`: GELU, ReLU, tanh, ...) replaces its local derivative by the
    multiplier ``(y - y') / (a - a')`` of its input ``a`` and output ``y`` against the reference's (the plain
    derivative where ``|a - a'| < eps``), as Captum's ``DeepLift`` does with backward hooks; all other
    operations (linear maps, LayerNorm, attention) pass the gradient. The score is ``(x - x')`` times the
    modified gradient. Where the network holds only rescaled nonlinearities and linear maps, the scores sum
    to ``f(x) - f(x')`` (summation-to-delta); attention and LayerNorm break it slightly. Captum hooks only
    torch's ReLU, ELU, LeakyReLU, Sigmoid, Tanh and Softplus modules (a transformers GELU keeps its
    gradient there), so the two agree on models whose activations are among those.

    Parameters
    ----------
    baseline : str, default="pad"
        The reference (see :data:`~neuronlab.explain.gradients.BASELINES`, or a vocabulary token).
    eps : float, default=1e-10
        Below this input difference the plain derivative is used.

    References
    ----------
    Shrikumar, Greenside & Kundaje (2017), "Learning important features through propagating activation
    differences", ICML.
    """

    name = "deeplift"
    rows_per_example = 2

    def __init__(self, live: Any, *, baseline: str = "pad", eps: float = 1e-10, **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        self.baseline, self.eps = str(baseline), float(eps)
        if self.baseline not in BASELINES:
            baseline_embeddings(live, live.encode([["a"]]), self.baseline)  # unknown token: one line, now
        self._acts = elementwise_activations(live.model)

    def params(self) -> dict:
        return {**super().params(), "baseline": self.baseline, "eps": self.eps}

    @contextlib.contextmanager
    def _rescale(self):
        import torch

        eps = self.eps

        def hook(module, inputs, y):
            a = inputs[0]
            n = a.shape[0] // 2
            da, dy = a[:n] - a[n:], y[:n] - y[n:]
            small = da.abs() < eps
            m = torch.where(small, torch.zeros_like(dy), dy / torch.where(small, torch.ones_like(da), da)).detach()
            top = torch.where(small, y[:n], y[:n].detach() + (a[:n] - a[:n].detach()) * m)
            return torch.cat([top, y[n:]])

        handles = [m.register_forward_hook(hook) for m in self._acts]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _attribute(self, enc, resolved):
        import torch

        x = self.live.embed(enc)
        ref = baseline_embeddings(self.live, enc, self.baseline)
        grads, refs = torch.empty_like(x), []
        step = max(1, self.batch_size // 2)
        for a in range(0, enc.n_examples, step):
            rows = list(range(a, min(a + step, enc.n_examples)))
            xi = x[rows].detach().requires_grad_(True)
            with torch.enable_grad(), self._rescale():
                values = self.evaluate(enc, resolved, rows + rows, inputs_embeds=torch.cat([xi, ref[rows]]))
                (g,) = torch.autograd.grad(values[:len(rows)].sum(), xi)
            grads[rows] = g
            refs += [float(v) for v in values[len(rows):].detach().tolist()]
        return (x - ref) * grads, refs


class GradientShap(EmbeddingExplainer):
    """GradientSHAP: expected gradients over random baselines, with noise on the input.

    For each of ``n_samples`` draws per example: a baseline ``x'_k`` from the example's baseline set, a point
    ``a_k ~ U(0, 1)`` and noise ``e_k ~ N(0, sigma^2)`` (``sigma = level * (max - min)`` of the example's
    embeddings, as in :class:`~neuronlab.explain.gradients.SmoothGrad`); the score is the mean over draws of
    ``(x + e_k - x'_k) * d f / d x (x'_k + a_k (x + e_k - x'_k))``, Captum's ``GradientShap``. Its expectation
    sums to ``f(x) - E f(x')``; ``reference_value`` is the mean of ``f`` over the baseline set.

    Parameters
    ----------
    baselines : str, default="random"
        Comma-separated baseline kinds: ``random`` (``n_random`` references whose word tokens are uniform
        random non-special vocabulary tokens, drawn with ``seed``), ``zero``, ``pad``, ``mask``, ``unk`` or
        vocabulary tokens.
    n_random : int, default=8
    n_samples : int, default=20
    level : float, default=0.0
        Noise sd relative to the embedding range (Captum's default: no noise).
    seed : int, default=0
    reference : bool, default=True
        Compute ``reference_value`` (one forward row per baseline and example); ``False`` skips it, as Captum
        does.

    References
    ----------
    Lundberg & Lee (2017), "A unified approach to interpreting model predictions", NeurIPS; Erion, Janizek,
    Sturmfels, Lundberg & Lee (2021), "Improving performance of deep learning models with axiomatic
    attribution priors and expected gradients", Nature Machine Intelligence.
    """

    name = "gradient_shap"

    def __init__(self, live: Any, *, baselines: str = "random", n_random: int = 8, n_samples: int = 20,
                 level: float = 0.0, seed: int = 0, reference: bool = True, **kwargs: Any) -> None:
        super().__init__(live, **kwargs)
        kinds = [k.strip() for k in str(baselines).split(",") if k.strip()]
        if not kinds:
            raise InvalidParameterError(f"baselines: give one or more of {choices(('random',) + BASELINES)}")
        for k in kinds:
            if k != "random" and k not in BASELINES:
                baseline_embeddings(live, live.encode([["a"]]), k)
        for name, v in (("n_random", n_random), ("n_samples", n_samples)):
            if isinstance(v, bool) or int(v) < 1:
                raise InvalidParameterError(f"{name} must be a positive int, got {v!r}")
        if not float(level) >= 0:
            raise InvalidParameterError(f"level must be >= 0, got {level!r}")
        self.kinds, self.n_random, self.n_samples = kinds, int(n_random), int(n_samples)
        self.level, self.seed, self.reference = float(level), int(seed), bool(reference)
        self.rows_per_example = self.n_samples
        self._gen = None

    def params(self) -> dict:
        return {**super().params(), "baselines": ",".join(self.kinds), "n_random": self.n_random,
                "n_samples": self.n_samples, "level": self.level, "seed": self.seed, "reference": self.reference}

    def baseline_set(self, enc: Any, gen: Any):
        """The references of every example, a tensor (n_examples, n_baselines, tokens, hidden)."""
        import torch

        x = self.live.embed(enc)
        content = enc.content_mask()[:, :x.shape[1]]
        refs = []
        for k in self.kinds:
            if k != "random":
                refs.append(baseline_embeddings(self.live, enc, k))
                continue
            special = set(self.live.tokenizer.all_special_ids)
            pool = torch.as_tensor([i for i in range(len(self.live.tokenizer)) if i not in special])
            for _ in range(self.n_random):
                ids = pool[torch.randint(len(pool), tuple(enc.input_ids.shape), generator=gen)]
                ids = torch.where(content, ids, enc.input_ids)
                refs.append(self.live.embed(enc, ids=ids))
        return torch.stack(refs, 1)

    def _draw(self, n_rows: int, n_baselines: int, shape: tuple, sigma: list[float], gen: Any):
        """Random draws of the rows (example-major, ``n_samples`` per example): baseline index, point on the
        path and noise. Returns ``(index (n_rows,), alpha (n_rows,), noise (n_rows, *shape))``."""
        import torch

        s = self.n_samples
        idx = torch.randint(n_baselines, (n_rows,), generator=gen)
        alpha = torch.rand((n_rows,), generator=gen, dtype=torch.float64)
        noise = torch.cat([torch.randn((s,) + tuple(shape), generator=gen) * sig for sig in sigma])
        return idx, alpha, noise

    def _scores(self, enc, resolved, progress):
        return self._seeded_scores(enc, resolved, progress)

    def _attribute(self, enc, resolved):
        import torch

        from .gradients import noise_sigma

        gen = self._generator()
        x = self.live.embed(enc)
        refs = self.baseline_set(enc, gen)
        n, s, n_b = enc.n_examples, self.n_samples, refs.shape[1]
        sigma = noise_sigma(x, enc.attention_mask, self.level)
        idx, alpha, noise = self._draw(n * s, n_b, tuple(x.shape[1:]), sigma, gen)
        rows = torch.arange(n).repeat_interleave(s)
        noisy = x.repeat_interleave(s, dim=0) + noise.to(x.dtype).to(x.device)
        ref = refs[rows, torch.as_tensor(idx, dtype=torch.long)]
        a = torch.as_tensor(alpha).to(x.dtype).to(x.device)[:, None, None]
        g = self.gradient(enc, resolved, rows, ref + a * (noisy - ref))
        scores = ((noisy - ref) * g).reshape((n, s) + tuple(x.shape[1:])).mean(1)
        if not self.reference:
            return scores, None
        flat = refs.reshape((n * n_b,) + tuple(x.shape[1:]))
        with torch.no_grad():
            f_ref = []
            rows_b = torch.arange(n).repeat_interleave(n_b)
            for a0 in range(0, len(rows_b), self.batch_size):
                sl = slice(a0, a0 + self.batch_size)
                f_ref += self.evaluate(enc, resolved, rows_b[sl], inputs_embeds=flat[sl]).tolist()
        f_ref = torch.as_tensor(f_ref).reshape(n, n_b).mean(1)
        return scores, [float(v) for v in f_ref]
