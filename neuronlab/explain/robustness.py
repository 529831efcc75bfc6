"""Infidelity and sensitivity-max of explanations (Yeh et al. 2019), on the word-embedding input.

**Infidelity** asks whether an explanation ``phi`` predicts what the model does when the input is perturbed by
``I``: ``INFD = E_I[(I^T phi - (f(x) - f(x - I)))^2]``. With ``normalize=True`` (the paper's optimal-scaling
normalisation, Captum's ``normalize=True``) ``phi`` is first scaled by the best factor
``beta = E[I^T phi (f(x) - f(x - I))] / E[(I^T phi)^2]``, so that explanations on different scales compare.
The perturbations ``I`` live in the word-embedding input of the model (:meth:`LiveModel.forward` with
``inputs_embeds``; special tokens are never perturbed):

============ ===================================================================================================
perturbation ``I`` and ``I^T phi``
============ ===================================================================================================
``subset``   the paper's *square removal* carried to words: each word is removed independently with probability
             ``p`` (every subword's embedding replaced by the ``baseline``: ``zero`` as in the paper, or ``pad``,
             ``mask``, ``unk``); ``I`` is the indicator of the removed words (the convention of attributions
             multiplied by the input, Captum's ``multiply_by_inputs``), so ``I^T phi`` is the sum of the word
             scores of the removed words. Works for every explainer (word scores).
``gaussian`` the paper's *noisy* perturbation: ``I ~ N(0, sigma^2)`` on every dimension of every word token's
             embedding, ``x - I`` evaluated; ``I^T phi`` needs a score per token and embedding dimension (pass
             ``attributions=``, e.g. ``explainer.attribute_embeddings(inputs)[0]`` of a gradient method).
============ ===================================================================================================

**Sensitivity-max** asks how much the explanation moves under a small perturbation of the input:
``SENS_MAX = max_{||y - x||_inf <= r} ||phi(y) - phi(x)||``, estimated by Monte Carlo over ``n_perturb`` points
``y = x + u``, ``u ~ U[-r, r]`` on the word embeddings (Captum's default perturbation). The explanation is the
vector of word scores; ``relative=True`` divides by ``||phi(x)||`` as Captum's ``sensitivity_max`` does. The noise
is added to the embedding-matrix rows of the input's word tokens for the duration of each explanation (restored in
``finally``), so that every explainer, also the perturbation methods that re-run token ids, sees the same ``y``; a
token type that occurs twice gets the same noise at both places.

Both are checked against ``captum.metrics.infidelity`` and ``captum.metrics.sensitivity_max`` on the same model,
explanation, perturbations and random draws (``tests/explain/test_explain_robustness.py``, 1e-4).

References
----------
C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar. "On the (In)fidelity and Sensitivity of
Explanations". NeurIPS 2019.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .base import Explainer, Explanation

__all__ = ["InfidelityResult", "SensitivityResult", "infidelity", "sensitivity_max", "PERTURBATIONS",
           "subset_masks", "gaussian_noise", "token_noise", "shifted_embeddings"]

#: infidelity's perturbations of the word-embedding input (see the module docstring)
PERTURBATIONS = ("subset", "gaussian")


@dataclass
class InfidelityResult(Result):
    """Infidelity of one explanation (Yeh et al. 2019).

    Attributes
    ----------
    method : str
    config : dict
        perturbation, n_perturb, normalize, p / sigma, baseline, seed, target.
    infidelity : float
        Mean over the examples (lower is better).
    per_example : list of float
    beta : list of float
        The optimal scale of each example's explanation (1.0 without ``normalize``).
    forward_passes : int
    """

    kind = "explain_infidelity"

    method: str = ""
    config: dict = field(default_factory=dict)
    infidelity: float = 0.0
    per_example: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    forward_passes: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"per_example": np.asarray(self.per_example, dtype=np.float64),
                "beta": np.asarray(self.beta, dtype=np.float64)}


@dataclass
class SensitivityResult(Result):
    """Sensitivity-max of one explainer (Yeh et al. 2019).

    Attributes
    ----------
    method : str
    config : dict
    sensitivity : float
        Mean over the examples of the max over the perturbations (lower is better).
    per_example : list of float
    forward_passes : int
        Model rows of all the explanations (the original one included).
    """

    kind = "explain_sensitivity"

    method: str = ""
    config: dict = field(default_factory=dict)
    sensitivity: float = 0.0
    per_example: list = field(default_factory=list)
    forward_passes: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"per_example": np.asarray(self.per_example, dtype=np.float64)}


# ------------------------------------------------------------------ the random draws (public: tests replay them)
def subset_masks(n_words: Sequence[int], n_perturb: int, p: float, seed: int) -> list[np.ndarray]:
    """Removed-word masks, bool (n_perturb, n_words) per example, from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [rng.random((n_perturb, int(n))) < p for n in n_words]


def gaussian_noise(shapes: Sequence[tuple[int, int]], n_perturb: int, sigma: float, seed: int) -> list[Any]:
    """Noise tensors (n_perturb, tokens, hidden) per example from ``torch.Generator().manual_seed(seed)``."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    return [torch.randn((n_perturb, *s), generator=gen) * float(sigma) for s in shapes]


def token_noise(ids: Sequence[int], hidden: int, n_perturb: int, radius: float, seed: int) -> list[Any]:
    """Uniform noise ``U[-radius, radius]`` (len(ids), hidden) per perturbation, for the embedding rows ``ids``."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    return [(torch.rand((len(ids), hidden), generator=gen) * 2 - 1) * float(radius) for _ in range(n_perturb)]


@contextlib.contextmanager
def shifted_embeddings(live: Any, ids: Sequence[int], delta: Any) -> Iterator[None]:
    """Add ``delta`` (len(ids), hidden) to the embedding-matrix rows ``ids`` for the block; restored in ``finally``."""
    import torch

    weight = live.embedding_matrix()
    idx = torch.as_tensor(list(ids), dtype=torch.long, device=weight.device)
    saved = weight.data[idx].clone()
    try:
        with torch.no_grad():
            weight.data[idx] = saved + delta.to(device=weight.device, dtype=weight.dtype)
        yield
    finally:
        with torch.no_grad():
            weight.data[idx] = saved


# ------------------------------------------------------------------ infidelity
def _target_of(explanation: Explanation, kind: str | None):
    from ..models.targets import Target

    t = dict(explanation.target or {})
    if "index" not in t:
        raise InvalidParameterError("the explanation has no target; explain with a fixed class or 'predicted'")
    return Target(kind=kind or t.get("kind", "logit"), index=t["index"], position=t.get("position"),
                  output=t.get("output", "logits"))


def _check_positive(**values) -> None:
    for name, v in values.items():
        if not v > 0:
            raise InvalidParameterError(f"{name} must be positive; got {v!r}")


def infidelity(live: Any, explanation: Explanation, inputs: Sequence | None = None, *,
               perturbation: str = "subset", n_perturb: int = 20, normalize: bool = True, p: float = 0.25,
               sigma: float = 0.01, baseline: str = "zero", attributions: Any = None, kind: str | None = None,
               seed: int = 0, batch_size: int = 64) -> InfidelityResult:
    """Infidelity of ``explanation`` under random perturbations of the word-embedding input (Yeh et al. 2019).

    Parameters
    ----------
    live : LiveModel
        The model the explanation was computed on.
    explanation : Explanation
        Its target (class, kind) is the ``f`` evaluated, unless ``kind`` is given.
    inputs : sequence, optional
        The inputs explained (default: ``explanation.words``).
    perturbation : {"subset", "gaussian"}
        See the module docstring.
    n_perturb : int, default=20
        Perturbations per example.
    normalize : bool, default=True
        Scale ``phi`` by the optimal ``beta`` first (the paper's normalisation; Captum's ``normalize=True``).
    p : float, default=0.25
        ``subset``: probability that a word is removed.
    sigma : float, default=0.01
        ``gaussian``: noise sd per embedding dimension (absolute; MiniLM's word embeddings have sd ~0.05).
    baseline : str, default="zero"
        ``subset``: what a removed word's embedding becomes (``zero``, ``pad``, ``mask``, ``unk`` or a token).
    attributions : array-like of shape (n_examples, n_tokens, hidden), optional
        ``gaussian``: the per-dimension scores ``phi`` (tokens as :meth:`LiveModel.encode` pads ``inputs``).
    seed : int
        Seed of the draws (:func:`subset_masks`, :func:`gaussian_noise`).
    batch_size : int
        Perturbed rows per forward pass.

    Returns
    -------
    InfidelityResult
    """
    import torch

    from .gradients import baseline_embeddings, sub_batch

    if perturbation not in PERTURBATIONS:
        raise InvalidParameterError(f"perturbation must be one of {choices(PERTURBATIONS)}; got {perturbation!r}")
    if int(n_perturb) < 1:
        raise InvalidParameterError(f"n_perturb must be >= 1; got {n_perturb}")
    n_perturb = int(n_perturb)
    inputs = explanation.words if inputs is None else inputs
    target = _target_of(explanation, kind)
    ev = Explainer(live, target=target, batch_size=batch_size)
    enc = live.encode(inputs)
    resolved = target.resolve(enc)
    if len(explanation.word_scores) != enc.n_examples:
        raise InvalidParameterError(f"{enc.n_examples} inputs but the explanation has "
                                    f"{len(explanation.word_scores)} examples")
    lengths = enc.lengths
    if perturbation == "subset":
        if not 0 < p <= 1:
            raise InvalidParameterError(f"p must lie in (0, 1]; got {p!r}")
        for i, s in enumerate(explanation.word_scores):
            if len(s) != enc.n_words(i):
                raise InvalidParameterError(f"input {i} has {enc.n_words(i)} words but the explanation scores "
                                            f"{len(s)}; pass the inputs that were explained (inputs=)")
        draws = subset_masks([enc.n_words(i) for i in range(enc.n_examples)], n_perturb, p, seed)
        ref = baseline_embeddings(live, enc, baseline)
        config = {"p": p, "baseline": baseline}
    else:
        _check_positive(sigma=sigma)
        if attributions is None:
            raise InvalidParameterError("perturbation 'gaussian' needs per-dimension attributions (attributions=, "
                                        "e.g. explainer.attribute_embeddings(inputs)[0]); use perturbation='subset' "
                                        "for word scores")
        attributions = torch.as_tensor(np.asarray(attributions.detach().cpu() if hasattr(attributions, "detach")
                                                  else attributions, dtype=np.float64))
        hidden = live.embedding_matrix().shape[1]
        if attributions.dim() != 3 or attributions.shape[0] != enc.n_examples or attributions.shape[2] != hidden:
            raise InvalidParameterError(f"attributions must have shape ({enc.n_examples}, tokens, {hidden}); got "
                                        f"{tuple(attributions.shape)}")
        draws = gaussian_noise([(n, hidden) for n in lengths], n_perturb, sigma, seed)
        config = {"sigma": sigma}
    x_all = live.embed(enc)
    content = enc.content_mask()
    per, betas = [], []
    for i in range(enc.n_examples):
        sub, sub_res = sub_batch(live, enc, resolved, [i])
        n_tok = sub.input_ids.shape[1]
        x = x_all[i:i + 1, :n_tok]
        if perturbation == "subset":
            masks = draws[i]
            word_of = np.asarray(sub.word_ids[0][:n_tok])
            tok_removed = np.zeros((n_perturb, n_tok), dtype=bool)
            inside = word_of >= 0
            tok_removed[:, inside] = masks[:, word_of[inside]]
            removed = torch.as_tensor(tok_removed, device=x.device)[..., None]
            pert = torch.where(removed, ref[i:i + 1, :n_tok], x)
            dots = masks.astype(np.float64) @ np.asarray(explanation.word_scores[i], dtype=np.float64)
        else:
            noise = draws[i].to(x.device, x.dtype)
            noise = noise * content[i, :n_tok].to(x.device, x.dtype)[None, :, None]
            pert = x - noise
            dots = (noise.double().cpu() * attributions[i, :n_tok][None]).sum((1, 2)).numpy()
        with torch.no_grad():
            f_x = float(ev.evaluate(sub, sub_res, [0], inputs_embeds=x)[0])
            f_pert = np.concatenate([
                ev.evaluate(sub, sub_res, [0] * (b - a), inputs_embeds=pert[a:b]).double().cpu().numpy()
                for a, b in _spans(n_perturb, ev.batch_size)])
        delta = f_x - f_pert
        if normalize:
            den = float(np.sum(dots ** 2))
            beta = float(np.sum(dots * delta)) / den if den != 0 else 0.0
        else:
            beta = 1.0
        per.append(float(np.mean((beta * dots - delta) ** 2)))
        betas.append(beta)
    return InfidelityResult(method=explanation.method,
                            config={"perturbation": perturbation, "n_perturb": n_perturb, "normalize": bool(normalize),
                                    **config, "seed": seed, "target": target.to_dict()},
                            infidelity=float(np.mean(per)), per_example=per, beta=betas,
                            forward_passes=ev.forward_passes)


def _spans(n: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, n, size):
        yield a, min(a + size, n)


# ------------------------------------------------------------------ sensitivity-max
def sensitivity_max(explainer: Explainer, inputs: Sequence, *, radius: float = 0.02, n_perturb: int = 10,
                    relative: bool = True, norm: float = 2.0, seed: int = 0,
                    original: Explanation | None = None) -> SensitivityResult:
    """Sensitivity-max of ``explainer`` on ``inputs`` (Yeh et al. 2019), by Monte Carlo in the embedding ball.

    Parameters
    ----------
    explainer : Explainer
        Any registered explainer, built on the live model; it explains the same class at every ``y`` (the
        class of its original explanation, fixed once).
    inputs : sequence
        Sentences or word lists.
    radius : float, default=0.02
        ``r`` of the L-infinity ball around the word embeddings (Captum's default).
    n_perturb : int, default=10
    relative : bool, default=True
        Divide by ``||phi(x)||`` (as Captum's ``sensitivity_max``; an all-zero explanation divides by 1).
    norm : float, default=2
        The order of the norm of ``phi(y) - phi(x)`` over the word scores (2: Captum's ``fro``).
    seed : int
        Seed of :func:`token_noise` (the noise rows are the sorted distinct word-token ids of the inputs).
    original : Explanation, optional
        ``explainer.explain(inputs)`` if already computed.
    """
    if int(n_perturb) < 1:
        raise InvalidParameterError(f"n_perturb must be >= 1; got {n_perturb}")
    _check_positive(radius=radius)
    live = explainer.live
    enc = live.encode(inputs)
    explainer.forward_passes = 0
    if original is None:
        original = explainer.explain(inputs)
    passes = original.forward_passes
    special = set(live.tokenizer.all_special_ids)
    ids = sorted({int(t) for i in range(enc.n_examples) for t, w in zip(enc.input_ids[i].tolist(), enc.word_ids[i])
                  if w >= 0 and int(t) not in special})
    hidden = int(live.embedding_matrix().shape[1])
    phi_x = [np.asarray(s, dtype=np.float64) for s in original.word_scores]
    best = np.zeros(len(phi_x))
    for delta in token_noise(ids, hidden, int(n_perturb), radius, seed):
        with shifted_embeddings(live, ids, delta):
            ex = explainer.explain(inputs, target=original.target)
        passes += ex.forward_passes
        for i, (a, b) in enumerate(zip(phi_x, ex.word_scores)):
            d = float(np.linalg.norm(np.asarray(b, dtype=np.float64) - a, ord=norm))
            if relative:
                n0 = float(np.linalg.norm(a, ord=norm))
                d = d / (n0 if n0 != 0 else 1.0)
            best[i] = max(best[i], d)
    return SensitivityResult(method=original.method,
                             config={"radius": radius, "n_perturb": int(n_perturb), "relative": bool(relative),
                                     "norm": norm, "seed": seed, "target": original.target},
                             sensitivity=float(best.mean()), per_example=best.tolist(), forward_passes=int(passes))
