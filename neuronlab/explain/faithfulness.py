"""How faithful an explanation is to the model: erasure curves, AOPC, ERASER comprehensiveness and sufficiency,
agreement with human rationales, and the model-randomisation sanity check.

Every metric reads an :class:`~neuronlab.explain.base.Explanation` (one score per word) and evaluates the model
on the inputs with words removed in the order of the scores, in batches (the word-perturbation machinery of
:mod:`neuronlab.explain.perturb`: ``drop`` deletes a word's tokens, ``mask``/``unk``/``pad`` replace them). The
value evaluated is, by default, the probability of the explained class (as ERASER does), whatever the
explanation's own target kind was.

- **Deletion curve** ``f(x without its top-k words)`` for k = 0..n and **AOPC** (Samek et al. 2017): the mean of
  ``f(x) - f(x without top k)`` over k = 0..n. **Insertion curve** ``f(only the top-k words)`` and its mean.
- **Comprehensiveness** and **sufficiency** (DeYoung et al. 2020, ERASER), averaged over the bins
  {1, 5, 10, 20, 50}% of the words (``k_b = ceil(b n)``): ``f(x) - f(x without the top k_b)`` and
  ``f(x) - f(only the top k_b)``. High comprehensiveness and low sufficiency mean a faithful explanation.
- A **random order** of the words, seeded, gives the baseline of each number (``random_*``).
- **Rationale agreement** (DeYoung et al. 2020): token-level F1 of the top ``k = |rationale|`` words and AUPRC of the
  scores against human rationale masks.
- **Model randomisation** (Adebayo et al. 2018): the explanation again on copies of the model whose layers are
  re-initialised from the top (the head, then each block down to the embeddings, cumulatively); the Spearman
  rank correlation with the original explanation per step. A method that passes drops well below 1.

References
----------
W. Samek, A. Binder, G. Montavon, S. Lapuschkin, K.-R. Müller. "Evaluating the Visualization of What a Deep
Neural Network Has Learned". IEEE TNNLS 2017.
J. DeYoung, S. Jain, N. F. Rajani, E. Lehman, C. Xiong, R. Socher, B. C. Wallace. "ERASER: A Benchmark to
Evaluate Rationalized NLP Models". ACL 2020.
J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. "Sanity Checks for Saliency Maps". NeurIPS 2018.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..results import Result
from .base import Explainer, Explanation
from .perturb import check_mode, evaluate_keep

__all__ = ["FaithfulnessResult", "faithfulness", "rationale_agreement", "randomization_check", "ERASER_BINS",
           "RandomizationResult"]

#: ERASER's bins of the share of words removed or kept
ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


@dataclass
class FaithfulnessResult(Result):
    """Faithfulness of one explanation on its inputs.

    Attributes
    ----------
    method : str
        The explainer evaluated.
    target : dict
        What was evaluated on the perturbed inputs.
    config : dict
        Mode, bins, seed.
    comprehensiveness, sufficiency, aopc, insertion : float
        Means over the examples.
    random_comprehensiveness, random_sufficiency, random_aopc, random_insertion : float
        The same for a random order of the words (seeded).
    per_example : dict of list of float
        Each metric per example.
    deletion_curves, insertion_curves : list of list of float
        ``f`` after removing (keeping) the top k words, k = 0..n, per example.
    forward_passes : int
    """

    kind = "explain_eval"

    method: str = ""
    target: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    comprehensiveness: float = 0.0
    sufficiency: float = 0.0
    aopc: float = 0.0
    insertion: float = 0.0
    random_comprehensiveness: float = 0.0
    random_sufficiency: float = 0.0
    random_aopc: float = 0.0
    random_insertion: float = 0.0
    per_example: dict = field(default_factory=dict)
    deletion_curves: list = field(default_factory=list)
    insertion_curves: list = field(default_factory=list)
    forward_passes: int = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.per_example.items()}


def _bins_k(n: int, bins: Sequence[float]) -> list[int]:
    return [min(n, max(1, math.ceil(b * n))) for b in bins]


def _metrics(order: np.ndarray, n: int, f_x: float, curve_del: np.ndarray, curve_ins: np.ndarray,
             bins: Sequence[float]) -> dict[str, float]:
    ks = _bins_k(n, bins)
    return {"comprehensiveness": float(np.mean([f_x - curve_del[k] for k in ks])),
            "sufficiency": float(np.mean([f_x - curve_ins[k] for k in ks])),
            "aopc": float(np.mean(f_x - curve_del)),
            "insertion": float(np.mean(curve_ins))}


def _orders_to_keep(order: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep matrices (n + 1, n): without the top k words (deletion) and with only them (insertion), k = 0..n."""
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    k = np.arange(n + 1)[:, None]
    deletion = rank[None, :] >= k
    return deletion, ~deletion


def faithfulness(live: Any, explanation: Explanation, inputs: Sequence | None = None, *, kind: str = "probability",
                 mode: str = "drop", bins: Sequence[float] = ERASER_BINS, seed: int = 0,
                 batch_size: int = 64) -> FaithfulnessResult:
    """Erasure-based faithfulness of ``explanation`` (see the module docstring).

    Parameters
    ----------
    live : LiveModel
        The model the explanation was computed on.
    explanation : Explanation
    inputs : sequence, optional
        The inputs that were explained (default: ``explanation.words`` as pre-split words); each must have as
        many words as the explanation scores.
    kind : str, default="probability"
        Target kind evaluated (a key of :data:`~neuronlab.models.targets.TARGETS`) for the explained class,
        position and output.
    mode : {"drop", "mask", "unk", "pad"}
        How a removed word is removed.
    bins : sequence of float
        Shares of the words for comprehensiveness and sufficiency.
    seed : int
        Seed of the random-order baseline.

    Raises
    ------
    InvalidParameterError
        If an input's word count differs from the explanation's.
    """
    from ..models.targets import Target

    check_mode(mode)
    if not bins or any(not 0 < b <= 1 for b in bins):
        raise InvalidParameterError(f"bins must be shares in (0, 1]; got {list(bins)}")
    inputs = explanation.words if inputs is None else inputs
    t = dict(explanation.target)
    target = Target(kind=kind, index=t.get("index", 0), position=t.get("position"),
                    output=t.get("output", "logits"))
    ev = Explainer(live, target=target, batch_size=batch_size)
    enc = live.encode(inputs)
    resolved = target.resolve(enc)
    rng = np.random.default_rng(seed)
    requests, orders = [], []
    for i, scores in enumerate(explanation.word_scores):
        n = enc.n_words(i)
        if n != len(scores):
            raise InvalidParameterError(
                f"input {i} has {n} words but the explanation scores {len(scores)}; pass the inputs that were "
                "explained (inputs=)")
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        rand = rng.permutation(n)
        orders.append((order, rand, n))
        for o in (order, rand):
            deletion, insertion = _orders_to_keep(o, n)
            requests += [(i, deletion), (i, insertion)]
    values = evaluate_keep(ev, enc, resolved, requests, mode)
    per: dict[str, list] = {}
    del_curves, ins_curves = [], []
    for i, (order, rand, n) in enumerate(orders):
        d, ins, rd, rins = values[4 * i: 4 * i + 4]
        f_x = float(d[0])  # nothing removed
        for prefix, (cd, ci) in (("", (d, ins)), ("random_", (rd, rins))):
            for key, value in _metrics(order, n, f_x, cd, ci, bins).items():
                per.setdefault(prefix + key, []).append(value)
        del_curves.append(d.tolist())
        ins_curves.append(ins.tolist())
    means = {k: float(np.mean(v)) for k, v in per.items()}
    return FaithfulnessResult(method=explanation.method, target=target.to_dict(),
                              config={"mode": mode, "bins": list(bins), "seed": seed, "kind": kind}, **means,
                              per_example=per, deletion_curves=del_curves, insertion_curves=ins_curves,
                              forward_passes=ev.forward_passes)


def rationale_agreement(explanation: Explanation, rationales: Sequence[Sequence[bool]]) -> dict[str, Any]:
    """Agreement of the word scores with human rationales (DeYoung et al. 2020).

    Returns
    -------
    dict
        ``token_f1`` (mean over examples of the F1 between the top ``|rationale|`` words and the rationale),
        ``auprc`` (mean average precision of the scores as a detector of rationale words; examples without
        any rationale word are skipped), and both per example.
    """
    from sklearn.metrics import average_precision_score

    if len(rationales) != len(explanation.word_scores):
        raise InvalidParameterError(f"{len(rationales)} rationales for {len(explanation.word_scores)} examples")
    f1s, aps = [], []
    for i, (scores, rat) in enumerate(zip(explanation.word_scores, rationales)):
        rat = np.asarray(rat, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        if rat.shape != scores.shape:
            raise InvalidParameterError(f"example {i}: the rationale has {rat.size} words, the explanation "
                                        f"{scores.size}")
        k = int(rat.sum())
        if k == 0:
            f1s.append(float("nan"))
            aps.append(float("nan"))
            continue
        pred = np.zeros_like(rat)
        pred[np.argsort(-scores, kind="stable")[:k]] = True
        tp = int((pred & rat).sum())
        f1s.append(2 * tp / (pred.sum() + rat.sum()))
        aps.append(float(average_precision_score(rat, scores)))
    return {"token_f1": float(np.nanmean(f1s)), "auprc": float(np.nanmean(aps)), "token_f1_per_example": f1s,
            "auprc_per_example": aps}


@dataclass
class RandomizationResult(Result):
    """Cascading model randomisation (Adebayo et al. 2018).

    Attributes
    ----------
    method : str
    steps : list of str
        What was re-initialised, cumulatively: ``head``, ``layers.L`` ... ``layers.0``, ``embeddings``.
    spearman : list of float
        Mean Spearman rank correlation with the original explanation after each step.
    spearman_abs : list of float
        The same on absolute scores.
    per_example : list of list of float
        Spearman per step and example.
    """

    kind = "explain_sanity"

    method: str = ""
    config: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    spearman: list = field(default_factory=list)
    spearman_abs: list = field(default_factory=list)
    per_example: list = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"spearman": np.asarray(self.spearman, dtype=np.float64)}


def _reinit(model: Any, module: Any) -> None:
    init = getattr(model, "_init_weights", None)
    for m in module.modules():
        if init is not None:
            init(m)
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()


#: randomization_check(seed=k) re-initialises from torch seed RANDOMIZE_SEED_OFFSET + k, far from the small seeds that
#: training runs use (a head drawn after torch.manual_seed(k) must not be drawn again)
RANDOMIZE_SEED_OFFSET = 0x5EED_0000


def _cascade(live: Any) -> list[tuple[str, list]]:
    """(name, modules) from the output down: the head (everything outside the base model), each block, embeddings."""
    model = live.model
    base = model.base_model
    head = [m for _, m in model.named_children() if m is not base]
    steps = [("head", head)] if head else []
    blocks = list(live._stack_layers())
    for i in range(len(blocks) - 1, -1, -1):
        steps.append((f"layers.{i}", [blocks[i]]))
    steps.append(("embeddings", [base.get_input_embeddings()]))
    return steps


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def randomization_check(make_explainer: Callable[[Any], Explainer], live: Any, inputs: Sequence, *,
                        seed: int = 0, steps: int | None = None) -> RandomizationResult:
    """Cascading randomisation: explain ``inputs`` with ``make_explainer(model)`` as the layers are re-initialised.

    Parameters
    ----------
    make_explainer : callable
        ``LiveModel -> Explainer`` (e.g. ``lambda m: EXPLAINERS["leave-one-out"](m)``), called on the original
        model and on each randomised copy; its target must not depend on the prediction if the comparison is to
        explain the same class (pass a fixed class).
    live : LiveModel
        Left unchanged (the randomisation happens on a deep copy).
    seed : int, default=0
        The re-initialisation draws from torch seed ``RANDOMIZE_SEED_OFFSET + seed`` (not ``seed`` itself: a head
        drawn after ``torch.manual_seed(seed)``, as ``neuronlab train --seed`` draws it, would come back unchanged),
        inside :func:`torch.random.fork_rng`, so the caller's random state is not touched.
    steps : int, optional
        Stop after this many cascade steps.
    """
    import torch

    from ..models.live import LiveModel

    original = make_explainer(live).explain(inputs)
    model = copy.deepcopy(live.model)
    rand = LiveModel(model, live.tokenizer, live.adapter, dict(live.info, randomized=True))
    plan = _cascade(rand)[:steps]
    names, rho, rho_abs, per = [], [], [], []
    # the new weights come from torch's generator seeded with RANDOMIZE_SEED_OFFSET + seed, inside fork_rng: a model
    # whose head was drawn right after torch.manual_seed(seed) (what `neuronlab train --seed 0` does) would otherwise
    # get its own initial head back; the caller's random state, and the explainers' use of it, stay apart
    state = None
    for name, modules in plan:
        with torch.random.fork_rng(devices=[]):
            if state is None:
                torch.manual_seed(RANDOMIZE_SEED_OFFSET + seed)
            else:
                torch.set_rng_state(state)
            with torch.no_grad():
                for m in modules:
                    _reinit(model, m)
            state = torch.get_rng_state()
        ex = make_explainer(rand).explain(inputs)
        row = [_spearman(a, b) for a, b in zip(original.word_scores, ex.word_scores)]
        row_abs = [_spearman(np.abs(a), np.abs(b)) for a, b in zip(original.word_scores, ex.word_scores)]
        names.append(name)
        per.append(row)
        rho.append(float(np.nanmean(row)) if np.isfinite(row).any() else float("nan"))
        rho_abs.append(float(np.nanmean(row_abs)) if np.isfinite(row_abs).any() else float("nan"))
    return RandomizationResult(method=original.method, config={"seed": seed, "cascade": names}, steps=names,
                               spearman=rho, spearman_abs=rho_abs, per_example=per)
