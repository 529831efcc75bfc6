"""Is attention explanation? The measurements of Jain & Wallace 2019 and Wiegreffe & Pinter 2019, per head and layer.

Four analyses, each returning one typed :class:`~neuronlab.results.Result` (``to_store`` writes it into a store):

- :func:`attention_correlations` (J&W section 4.1): Kendall tau (and Spearman rho) between the attention of the
  output position over the words, per layer and head and averaged over the heads, and the words' importance by
  the gradient (``gradient`` explainer, ``|df/dx|`` summed over the embedding) and by leave-one-out (``|f(x) -
  f(x without the word)|`` of the explained class's probability: the total variation distance J&W use, for two
  classes). Attention of a word = the sum over its subwords; special tokens are left out.
- :func:`permuted_attention` (J&W section 4.2.1): a layer's (or every listed layer's) attention probabilities
  are permuted over the key positions (one permutation per row and head, the same for every query; padded keys
  stay in place, so they stay masked; for decoders one permutation per query over the keys it may see), ``n_permutations`` times; the output change is the total variation
  distance (TVD) of the output distribution, reported as its median per example next to the maximum attention
  weight of the output position (heads averaged).
- :func:`adversarial_attention` (J&W section 4.2.2): attention rows of the output position at one layer (every
  head) that differ as much as possible from the original (Jensen-Shannon divergence, averaged over the heads)
  while the output stays within ``epsilon`` (TVD): Adam on the attention logits with the relaxed objective
  ``JSD - penalty * max(0, TVD - epsilon)``; the largest JSD found among feasible iterates is reported.
- :func:`uniform_attention` (Wiegreffe & Pinter 2019, section 3.1): the output change when a layer's attention is
  uniform over the real tokens (every head and query; for decoders over the tokens up to the query).

All of them replace attention probabilities through the live site ``layers.L.attn.probs``
(:mod:`neuronlab.models.attention_probs`), batched over ``batch_size`` rows (examples x permutations).

References
----------
S. Jain, B. C. Wallace. "Attention is not Explanation". NAACL 2019.
S. Wiegreffe, Y. Pinter. "Attention is not not Explanation". EMNLP 2019.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..results import Result, array_field

__all__ = ["output_positions", "kendall_tau", "spearman_rho", "tvd", "jsd", "word_attention", "attention_correlations",
           "permuted_attention", "uniform_attention", "adversarial_attention", "AttentionCorrelation",
           "AttentionIntervention", "AttentionAdversarial"]


# ------------------------------------------------------------------ statistics
def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties corrected, scipy's default): ``sum sign(dx) sign(dy) / sqrt(sum sign(dx)^2 sum sign(dy)^2)``
    over all pairs; NaN when either vector is constant or has fewer than two entries.

    >>> kendall_tau([1, 2, 3], [1, 3, 2])
    0.3333333333333333
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    iu = np.triu_indices(len(x), k=1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    sy = np.sign(y[:, None] - y[None, :])[iu]
    denom = np.sqrt((sx ** 2).sum() * (sy ** 2).sum())
    return float((sx * sy).sum() / denom) if denom > 0 else float("nan")


def _ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties averaged."""
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts + 1) / 2.0)[inv]


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the (tie-averaged) ranks; NaN for a constant vector.

    >>> spearman_rho([1, 2, 3], [1, 3, 2])
    0.5
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    rx, ry = _ranks(x) - (len(x) + 1) / 2.0, _ranks(y) - (len(y) + 1) / 2.0
    denom = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def tvd(p, q):
    """Total variation distance ``0.5 * sum |p - q|`` over the last axis (numpy or torch)."""
    return 0.5 * (p - q).abs().sum(-1) if hasattr(p, "abs") else 0.5 * np.abs(p - q).sum(-1)


def jsd(p, q):
    """Jensen-Shannon divergence (natural log, at most ln 2) over the last axis of torch tensors; differentiable
    also where both distributions are 0 (padded keys).

    >>> import torch
    >>> round(float(jsd(torch.tensor([1., 0.]), torch.tensor([0., 1.]))), 6)
    0.693147
    """
    import torch

    def safe(a):  # 0 where a = 0 would give 0/0 gradients in xlogy; those terms are 0 anyway (0 log 0 = 0)
        return torch.where(a > 0, a, torch.ones_like(a))

    def kl(a, b):
        return (torch.xlogy(a, safe(a)) - torch.xlogy(a, safe(b))).sum(-1)

    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


# ------------------------------------------------------------------ shared pieces
def _layers(live: Any, layers: Sequence[int] | None) -> list[int]:
    n = len(live.attention_sites)
    if not n:
        raise InvalidParameterError("the model exposes no attention probabilities (no layers.L.attn.probs site)")
    if any(not s.startswith("layers.") for s in live.attention_sites):
        raise InvalidParameterError("attention tests support single-stack models (encoders, decoders)")
    out = []
    for layer in range(n) if layers is None else layers:
        if not -n <= int(layer) < n:
            raise InvalidParameterError(f"layer {layer} is out of range: the model has {n} layers (0..{n - 1})")
        out.append(int(layer) % n)
    if not out:
        raise InvalidParameterError("layers: give at least one layer")
    return sorted(set(out))


def output_positions(live: Any, enc: Any) -> np.ndarray:
    """The token a sequence output reads, per example: the first ([CLS]) for encoders, the last real token for
    decoders (causal attention: only the last position has seen the whole input)."""
    mask = enc.attention_mask.numpy().astype(bool)
    if getattr(live.adapter, "kind", "encoder") == "decoder":
        return np.array([int(np.flatnonzero(m)[-1]) for m in mask], dtype=np.int64)
    return np.array([int(np.flatnonzero(m)[0]) for m in mask], dtype=np.int64)


def _positions(live: Any, enc: Any, target: Any) -> np.ndarray:
    """Output position per example: the explained word's first token for token-level targets, else
    :func:`output_positions`."""
    pos = target.get("position") if isinstance(target, dict) else getattr(target, "position", None)
    if pos is None:
        return output_positions(live, enc)
    from ..models.targets import Target

    return np.asarray(Target(index=0, position=pos).resolve(enc).pos, dtype=np.int64)


def _distribution(out: Any, pos: Any):
    """Output distribution per row: softmax of the logits (at the output position for token-level models)."""
    import torch

    if getattr(out, "logits", None) is None:
        raise InvalidParameterError("attention tests compare output distributions: the model needs a task head "
                                    "with logits (a classifier; `neuronlab train` makes one), not a bare encoder")
    logits = out.logits.float()
    if logits.dim() == 3:
        logits = logits[torch.arange(logits.shape[0]), torch.as_tensor(pos, dtype=torch.long)]
    return torch.softmax(logits, dim=-1)


def _run(live: Any, enc: Any, rows: Sequence[int], fns: dict, pos: np.ndarray, grad: bool = False):
    """Output distributions of ``rows`` under the probability hooks ``fns`` (site -> fn(probs))."""
    import torch

    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx, live.hooks(fns):
        return _distribution(live.forward(enc, list(rows)), pos[list(rows)])


def _recorder(seen: dict, site: str):
    def record(a):
        seen[site] = a.detach().float().cpu()

    return record


def _original(live: Any, enc: Any, pos: np.ndarray, batch_size: int):
    """Attention maps of every layer (list per example of (L, H, T, T) over all positions) and output distributions."""
    import torch

    sites = live.attention_sites
    maps, dists = [], []
    for b in range(0, enc.n_examples, batch_size):
        rows = list(range(b, min(enc.n_examples, b + batch_size)))
        seen: dict = {}
        fns = {s: _recorder(seen, s) for s in sites}
        dists.append(_run(live, enc, rows, fns, pos).cpu())
        stacked = torch.stack([seen[s] for s in sites], dim=1).numpy()
        maps.extend(stacked[k] for k in range(len(rows)))
    return maps, torch.cat(dists).double()


def word_attention(maps: np.ndarray, out: int, word_ids: Sequence[int], n_words: int) -> np.ndarray:
    """Attention of token ``out`` to each word, per layer and head, plus the heads' mean as a last "head".

    ``maps`` (L, H, T, T) of one example; returns (L, H + 1, n_words) (subwords summed, special tokens dropped).
    """
    rows = np.asarray(maps[:, :, out, :], dtype=np.float64)
    wid = np.asarray(list(word_ids)[: rows.shape[-1]] + [-1] * max(0, rows.shape[-1] - len(word_ids)))
    words = np.zeros(rows.shape[:2] + (n_words,))
    for w in range(n_words):
        words[..., w] = rows[..., wid == w].sum(-1)
    return np.concatenate([words, words.mean(axis=1, keepdims=True)], axis=1)


def _max_attention(maps: list, pos: np.ndarray, enc: Any) -> np.ndarray:
    """Maximum attention weight of the output position per example and layer (heads averaged): (n, L)."""
    mask = enc.attention_mask.numpy().astype(bool)
    return np.stack([m[:, :, pos[i], mask[i]].mean(axis=1).max(axis=-1) for i, m in enumerate(maps)])


def _check_batch(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise InvalidParameterError(f"batch_size must be >= 1; got {batch_size}")
    return int(batch_size)


def _settings(layers: list[int], joint: bool) -> list[list[int]]:
    return [[layer] for layer in layers] + ([list(layers)] if joint and len(layers) > 1 else [])


def _name(setting: list[int]) -> str:
    return f"layer {setting[0]}" if len(setting) == 1 else "layers " + ",".join(map(str, setting))


# ------------------------------------------------------------------ results
@dataclass
class AttentionCorrelation(Result):
    """Rank correlation of attention with gradient and leave-one-out importance (Jain & Wallace 2019, 4.1).

    ``kendall`` / ``spearman``: arrays (n_examples, n_methods, n_layers, n_heads + 1); the last head index is the
    heads' mean. ``kendall_mean`` / ``spearman_mean``: method -> per layer, per head (+ mean) the mean over
    examples (NaN for inputs of fewer than two words left out).
    """

    kind = "attention_correlation"

    config: dict = field(default_factory=dict)
    methods: list = field(default_factory=list)
    layers: list = field(default_factory=list)
    n_heads: int = 0
    n_examples: int = 0
    kendall_mean: dict = field(default_factory=dict)
    spearman_mean: dict = field(default_factory=dict)
    kendall: Any = array_field(default=None)
    spearman: Any = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"kendall": np.asarray(self.kendall), "spearman": np.asarray(self.spearman)}


@dataclass
class AttentionIntervention(Result):
    """Output change (TVD) when attention is permuted (J&W 4.2.1) or made uniform (Wiegreffe & Pinter 3.1).

    ``tvd``: array (n_examples, n_settings, n_draws) (one draw for uniform attention); ``median_tvd`` per example
    and setting; ``max_attention`` (n_examples, n_layers): the output position's largest attention weight per
    layer (heads averaged); ``flipped``: per setting, the fraction of draws that change the predicted class.
    """

    kind = "attention_intervention"

    config: dict = field(default_factory=dict)
    analysis: str = ""
    settings: list = field(default_factory=list)
    n_examples: int = 0
    mean_median_tvd: list = field(default_factory=list)
    flipped: list = field(default_factory=list)
    median_tvd: list = field(default_factory=list)
    tvd: Any = array_field(default=None)
    max_attention: Any = array_field(default=None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"tvd": np.asarray(self.tvd), "max_attention": np.asarray(self.max_attention)}


@dataclass
class AttentionAdversarial(Result):
    """Adversarial attention (J&W 4.2.2): per example the largest JSD from the original attention of the output
    position (heads averaged) found with the output within ``epsilon`` TVD, and that TVD."""

    kind = "attention_adversarial"

    config: dict = field(default_factory=dict)
    layer: int = 0
    n_examples: int = 0
    jsd: list = field(default_factory=list)
    tvd: list = field(default_factory=list)
    max_attention: list = field(default_factory=list)
    top_token: list = field(default_factory=list)
    adversarial_top_token: list = field(default_factory=list)
    mean_jsd: float = 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"jsd": np.asarray(self.jsd, dtype=np.float64), "tvd": np.asarray(self.tvd, dtype=np.float64)}


# ------------------------------------------------------------------ 4.1: correlations
def _nanmean(a: np.ndarray) -> list:
    """Mean over the first axis ignoring NaN, as nested lists with None where every value is NaN (JSON-safe)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(a, axis=0)
    return np.where(np.isnan(m), None, m).tolist()


def _importance_target(method: str, target: Any) -> Any:
    """Leave-one-out is measured on the explained class's probability (J&W's TVD for two classes)."""
    if method != "leave-one-out":
        return target
    spec = dict(target) if isinstance(target, dict) else {"index": target}
    return {**spec, "kind": "probability"}


def attention_correlations(live: Any, inputs: Any, *, target: Any = "predicted", layers: Sequence[int] | None = None,
                           methods: Sequence[str] = ("gradient", "leave-one-out"), batch_size: int = 32,
                           progress: bool = False) -> AttentionCorrelation:
    """Kendall tau and Spearman rho between attention (per layer, head, and heads averaged) and word importance.

    Parameters
    ----------
    live : LiveModel
    inputs : sentences or lists of words
    target : default="predicted"
        The explained class (and position, for token-level models).
    layers : sequence of int, optional
        Layers analysed (default all).
    methods : sequence of str
        Keys of :data:`~neuronlab.explain.EXPLAINERS` giving the importance (absolute word scores).
    batch_size : int

    Returns
    -------
    AttentionCorrelation
    """
    from .registry import EXPLAINERS

    batch_size = _check_batch(batch_size)
    layers = _layers(live, layers)
    for m in methods:
        EXPLAINERS[m]  # unknown names fail here, listing the valid ones
    enc = live.encode(inputs)
    pos = _positions(live, enc, target)
    maps, _ = _original(live, enc, pos, batch_size)
    importance = [EXPLAINERS[m](live, target=_importance_target(m, target), batch_size=batch_size)
                  .explain(enc, progress=progress).word_scores for m in methods]
    n_heads = maps[0].shape[1]
    shape = (enc.n_examples, len(methods), len(layers), n_heads + 1)
    tau, rho = np.full(shape, np.nan), np.full(shape, np.nan)
    for i in range(enc.n_examples):
        att = word_attention(maps[i][layers], int(pos[i]), enc.word_ids[i], enc.n_words(i))
        for k in range(len(methods)):
            imp = np.abs(np.asarray(importance[k][i], dtype=np.float64))
            for li in range(len(layers)):
                for h in range(n_heads + 1):
                    tau[i, k, li, h] = kendall_tau(att[li, h], imp)
                    rho[i, k, li, h] = spearman_rho(att[li, h], imp)

    return AttentionCorrelation(
        config={"target": target, "batch_size": batch_size, "methods": list(methods), "layers": layers},
        methods=list(methods), layers=layers, n_heads=int(n_heads), n_examples=enc.n_examples,
        kendall_mean={m: _nanmean(tau[:, k]) for k, m in enumerate(methods)},
        spearman_mean={m: _nanmean(rho[:, k]) for k, m in enumerate(methods)}, kendall=tau, spearman=rho)


# ------------------------------------------------------------------ 4.2.1 and W&P: permuted and uniform attention
def _permutation(gen: Any, real: np.ndarray, n_heads: int, t: int):
    """Index (heads, T): a random permutation of the real positions per head; padded positions map to themselves."""
    import torch

    idx = torch.arange(t).repeat(n_heads, 1)
    r = torch.as_tensor(real, dtype=torch.long)
    for h in range(n_heads):
        idx[h, r] = r[torch.randperm(len(r), generator=gen)]
    return idx


def _causal_permutation(gen: Any, real: np.ndarray, n_heads: int, t: int):
    """Index (heads, T, T) for causal attention: per head and query q, a random permutation of the real keys
    k <= q (the keys q may attend to); every other key maps to itself."""
    import torch

    allowed = torch.zeros(t, t, dtype=torch.bool)
    allowed[:, torch.as_tensor(real, dtype=torch.long)] = True
    allowed &= torch.ones(t, t, dtype=torch.bool).tril()
    pos = torch.arange(t, dtype=torch.float64).expand(t, t)
    # allowed keys in ascending order first, then the others (ascending: stable sort of ties)
    slots = torch.sort(torch.where(allowed, pos, torch.inf), dim=-1, stable=True).indices
    idx = torch.arange(t).expand(n_heads, t, t).clone()
    for h in range(n_heads):
        noise = torch.rand(t, t, generator=gen, dtype=torch.float64)
        order = torch.sort(torch.where(allowed, noise, torch.inf), dim=-1, stable=True).indices
        idx[h].scatter_(-1, slots, torch.where(allowed.gather(-1, slots), order, slots))
    return idx


def _intervene(live: Any, inputs: Any, how: str, *, target: Any, layers: Sequence[int] | None, n_draws: int,
               seed: int, batch_size: int, joint: bool) -> AttentionIntervention:
    import torch

    batch_size = _check_batch(batch_size)
    layers = _layers(live, layers)
    enc = live.encode(inputs)
    pos = _positions(live, enc, target)
    maps, p0 = _original(live, enc, pos, batch_size)
    n_heads, t = maps[0].shape[1], enc.input_ids.shape[1]
    mask = enc.attention_mask.bool()
    real = [np.flatnonzero(mask[i].numpy()) for i in range(enc.n_examples)]
    settings = _settings(layers, joint)
    causal = getattr(live.adapter, "kind", "encoder") == "decoder"
    gen = torch.Generator().manual_seed(int(seed))
    tv = np.zeros((enc.n_examples, len(settings), n_draws))
    flips = np.zeros((enc.n_examples, len(settings), n_draws), dtype=bool)
    requests = [(i, d) for i in range(enc.n_examples) for d in range(n_draws)]
    for s, setting in enumerate(settings):
        for b in range(0, len(requests), batch_size):
            chunk = requests[b:b + batch_size]
            rows = [i for i, _ in chunk]
            fns = {}
            for layer in setting:
                if how == "permute" and causal:
                    idx = torch.stack([_causal_permutation(gen, real[i], n_heads, t) for i in rows])

                    def fn(a, idx=idx):
                        return torch.gather(a, -1, idx.to(a.device))
                elif how == "permute":
                    idx = torch.stack([_permutation(gen, real[i], n_heads, t) for i in rows])

                    def fn(a, idx=idx):
                        return torch.gather(a, -1, idx.to(a.device)[:, :, None, :].expand_as(a))
                else:
                    m = mask[rows].to(torch.float32)[:, None, :].expand(len(rows), t, t)
                    if causal:
                        m = m * torch.ones(t, t).tril()
                    uni = m / m.sum(-1, keepdim=True).clamp_min(1.0)

                    def fn(a, uni=uni):
                        return uni.to(a.device, a.dtype)[:, None, :, :].expand_as(a).clone()
                fns[f"layers.{layer}.attn.probs"] = fn
            p = _run(live, enc, rows, fns, pos).cpu().double()
            for k, (i, d) in enumerate(chunk):
                tv[i, s, d] = float(tvd(p[k], p0[i]))
                flips[i, s, d] = bool(p[k].argmax() != p0[i].argmax())
    median = np.median(tv, axis=-1)
    return AttentionIntervention(
        config={"target": target, "layers": layers, "joint": joint, "n_draws": n_draws, "seed": seed,
                "batch_size": batch_size},
        analysis="permuted" if how == "permute" else "uniform", settings=[_name(s) for s in settings],
        n_examples=enc.n_examples, mean_median_tvd=median.mean(0).tolist(), flipped=flips.mean(axis=(0, 2)).tolist(),
        median_tvd=median.tolist(), tvd=tv, max_attention=_max_attention(maps, pos, enc))


def permuted_attention(live: Any, inputs: Any, *, target: Any = "predicted", layers: Sequence[int] | None = None,
                       n_permutations: int = 10, seed: int = 0, batch_size: int = 32,
                       joint: bool = True) -> AttentionIntervention:
    """Output change when attention is permuted over the key positions (Jain & Wallace 2019, section 4.2.1).

    Parameters
    ----------
    layers : sequence of int, optional
        Each layer is permuted alone (default: every layer); with ``joint`` (and several layers) also all of
        them at once.
    n_permutations : int, default=10
        Draws per example and setting (one per row of a batch; ``torch.Generator`` seeded by ``seed``).

    Returns
    -------
    AttentionIntervention
        ``analysis="permuted"``; ``median_tvd`` against ``max_attention`` is J&W's figure.
    """
    if int(n_permutations) < 1:
        raise InvalidParameterError(f"n_permutations must be >= 1; got {n_permutations}")
    return _intervene(live, inputs, "permute", target=target, layers=layers, n_draws=int(n_permutations), seed=seed,
                      batch_size=batch_size, joint=joint)


def uniform_attention(live: Any, inputs: Any, *, target: Any = "predicted", layers: Sequence[int] | None = None,
                      batch_size: int = 32, joint: bool = True) -> AttentionIntervention:
    """Output change when a layer's attention is uniform over the real tokens (Wiegreffe & Pinter 2019, 3.1).

    Returns
    -------
    AttentionIntervention
        ``analysis="uniform"``, one draw per example and setting.
    """
    return _intervene(live, inputs, "uniform", target=target, layers=layers, n_draws=1, seed=0,
                      batch_size=batch_size, joint=joint)


# ------------------------------------------------------------------ 4.2.2: adversarial attention
def adversarial_attention(live: Any, inputs: Any, *, target: Any = "predicted", layer: int = -1,
                          epsilon: float = 0.01, steps: int = 100, lr: float = 0.1, penalty: float = 10.0,
                          init_noise: float = 1.0, seed: int = 0, batch_size: int = 32) -> AttentionAdversarial:
    """Maximally different attention with (almost) the same output (Jain & Wallace 2019, section 4.2.2).

    The output position's attention rows of ``layer`` (every head) are parametrised by logits, started at the
    original log-probabilities plus seeded Gaussian noise of scale ``init_noise`` (at the original the JSD's
    gradient is zero) and moved by Adam (``lr``, ``steps``) on ``-JSD + penalty * max(0, TVD - epsilon)``;
    padded keys stay masked. The other rows and layers keep their attention.

    Returns
    -------
    AttentionAdversarial
        Per example the largest JSD (heads averaged) among iterates with TVD <= ``epsilon`` (0 when none is
        feasible) and the TVD there.
    """
    import torch

    batch_size = _check_batch(batch_size)
    (layer,) = _layers(live, [layer])
    for name, value in (("epsilon", epsilon), ("lr", lr), ("penalty", penalty), ("init_noise", init_noise)):
        if not float(value) >= 0:
            raise InvalidParameterError(f"{name} must be >= 0; got {value}")
    if int(steps) < 1:
        raise InvalidParameterError(f"steps must be >= 1; got {steps}")
    enc = live.encode(inputs)
    pos = _positions(live, enc, target)
    maps, p0 = _original(live, enc, pos, batch_size)
    mask = enc.attention_mask.bool()
    site = f"layers.{layer}.attn.probs"
    gen = torch.Generator().manual_seed(int(seed))
    best_jsd, best_tvd = np.zeros(enc.n_examples), np.zeros(enc.n_examples)
    adv_top = [0] * enc.n_examples
    for b in range(0, enc.n_examples, batch_size):
        rows = list(range(b, min(enc.n_examples, b + batch_size)))
        ar = torch.arange(len(rows))
        prow = torch.as_tensor(pos[rows], dtype=torch.long)
        orig = torch.stack([torch.as_tensor(maps[i][layer][:, pos[i], :]) for i in rows]).double()  # (b, H, T)
        keys = mask[rows][:, None, :].expand_as(orig)
        logits = (orig.clamp_min(1e-12).log() + init_noise * torch.randn(orig.shape, generator=gen, dtype=orig.dtype))
        logits = logits.masked_fill(~keys, 0.0).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=float(lr))
        target_p = p0[rows]
        for i in rows:
            adv_top[i] = int(orig[i - b].mean(0).argmax())
        for _ in range(int(steps)):
            adv = torch.softmax(logits.masked_fill(~keys, float("-inf")), dim=-1)

            def fn(a, adv=adv, ar=ar, prow=prow):
                new = a.clone()
                new[ar.to(a.device), :, prow.to(a.device), :] = adv.to(a.device, a.dtype)
                return new

            p = _run(live, enc, rows, {site: fn}, pos, grad=True).double()
            change = tvd(p, target_p.to(p.device))
            div = jsd(adv, orig).mean(-1)
            with torch.no_grad():
                for k, i in enumerate(rows):
                    if float(change[k]) <= epsilon and float(div[k]) > best_jsd[i]:
                        best_jsd[i], best_tvd[i] = float(div[k]), float(change[k])
                        adv_top[i] = int(adv[k].mean(0).argmax())
            loss = (-div + penalty * torch.relu(change - epsilon)).sum()
            (grad,) = torch.autograd.grad(loss, [logits])
            logits.grad = grad
            opt.step()
    mx = _max_attention(maps, pos, enc)[:, layer]
    top = [int(maps[i][layer][:, pos[i], :].mean(0).argmax()) for i in range(enc.n_examples)]
    return AttentionAdversarial(
        config={"target": target, "layer": layer, "epsilon": epsilon, "steps": int(steps), "lr": lr,
                "penalty": penalty, "init_noise": init_noise, "seed": seed, "batch_size": batch_size},
        layer=layer, n_examples=enc.n_examples, jsd=best_jsd.tolist(), tvd=best_tvd.tolist(),
        max_attention=mx.tolist(), top_token=top, adversarial_top_token=adv_top,
        mean_jsd=float(best_jsd.mean()) if enc.n_examples else 0.0)
