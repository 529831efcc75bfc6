"""The data-randomisation sanity check of explanations (Adebayo et al. 2018).

An explanation that reflects what the model learned must change when the model learned nothing: the same
architecture is trained from scratch on the same inputs with randomly permuted labels
(:func:`train_permuted`, with the training loop of :mod:`neuronlab.models.training`), the same inputs are explained
with both models for the same class, and :func:`data_randomization_check` reports, per example and on average,
the Spearman rank correlation of the word scores (also of their absolute values) and the top-k intersection.
A method that passes has correlations well below those of the model with itself (1.0 for a deterministic
method) and, when a control model retrained on the true labels is given, below the control's.

The model-randomisation check (re-initialising layers from the top) is
:func:`neuronlab.explain.faithfulness.randomization_check`.

References
----------
J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. "Sanity Checks for Saliency Maps". NeurIPS 2018.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InvalidParameterError
from ..results import Result
from .base import Explainer
from .faithfulness import _spearman
from .fragility import topk_intersection

__all__ = ["DataRandomizationResult", "train_permuted", "data_randomization_check"]

log = logging.getLogger("neuronlab")


def train_permuted(live: Any, texts: Sequence, labels: Sequence[int] | None = None, *, config: Any = None,
                   seed: int = 0, permute: bool = True, progress: bool = False) -> Any:
    """Train ``live``'s architecture from scratch on ``texts`` with permuted labels; a new LiveModel.

    Parameters
    ----------
    live : LiveModel
        Its model class and configuration are re-instantiated with fresh weights (``torch.manual_seed(seed)``);
        the model itself is left untouched.
    texts : sequence
        Training inputs (sentences or word lists), e.g. the inputs that are explained.
    labels : sequence of int, optional
        Their labels (default: ``live``'s predicted classes).
    config : TrainConfig, optional
        Epochs, learning rate, batch size (:class:`neuronlab.models.training.TrainConfig`; default 3 epochs at
        ``lr=5e-5``: pass a larger rate for a small model trained from scratch).
    seed : int
        Seed of the permutation and of the initialisation.
    permute : bool, default=True
        False trains on the true labels (a control: the same recipe, a different model).
    """
    import torch

    from ..models.live import LiveModel
    from ..models.training import TrainConfig, _batches, fit

    config = TrainConfig(seed=seed) if config is None else config
    texts = list(texts)
    if len(texts) < 2:
        raise InvalidParameterError(f"train_permuted needs at least 2 training inputs; got {len(texts)}")
    if labels is None:
        enc = live.encode(texts)
        with torch.no_grad():
            labels = live.forward(enc).logits.argmax(-1).tolist()
    labels = [int(v) for v in labels]
    if len(labels) != len(texts):
        raise InvalidParameterError(f"{len(texts)} training inputs but {len(labels)} labels")
    n_classes = int(live.model.config.num_labels)
    if min(labels) < 0 or max(labels) >= n_classes:
        raise InvalidParameterError(f"labels must lie in 0..{n_classes - 1}")
    if permute:
        labels = np.random.default_rng(seed).permutation(np.asarray(labels)).tolist()
    torch.manual_seed(seed)
    model = type(live.model)(live.model.config).to(live.device)
    tok = live.tokenizer

    def epoch_batches(order):
        return _batches(tok, texts, labels, order, config.batch_size, config.max_length)

    history, seconds, _, _ = fit(model, texts, epoch_batches, config, device=str(live.device), progress=progress)
    log.info("data randomisation: trained %s on %d permuted labels in %.1f s", type(model).__name__, len(texts),
             seconds)
    model.eval()
    info = dict(live.info, randomized="labels permuted" if permute else "retrained", train_history=history)
    return LiveModel(model, tok, live.adapter, info)


@dataclass
class DataRandomizationResult(Result):
    """Explanations of the model against those of the model trained on permuted labels.

    Attributes
    ----------
    method : str
    config : dict
    spearman, spearman_abs : float
        Mean Spearman correlation of the word scores (of their absolute values).
    topk_intersection : float
        Mean share of the original top-k words still in the randomised model's top k.
    control_spearman : float or None
        The same correlation against a control model (retrained on the true labels), when given.
    per_example : dict of list of float
    """

    kind = "explain_sanity_data"

    method: str = ""
    config: dict = field(default_factory=dict)
    spearman: float = 0.0
    spearman_abs: float = 0.0
    topk_intersection: float = 0.0
    control_spearman: float | None = None
    per_example: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.per_example.items()}


def _mean(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def data_randomization_check(make_explainer: Callable[[Any], Explainer], live: Any, random_live: Any,
                             inputs: Sequence, *, k: int = 3, control_live: Any = None,
                             original: Any = None) -> DataRandomizationResult:
    """Compare the explanations of ``live`` and of ``random_live`` (see :func:`train_permuted`) on ``inputs``.

    Parameters
    ----------
    make_explainer : callable
        ``LiveModel -> Explainer``, e.g. ``lambda m: EXPLAINERS["gradient"](m)``. Both models explain the class
        that ``live`` explained (its original target, fixed).
    k : int, default=3
        Top-k of the intersection.
    control_live : LiveModel, optional
        A model retrained on the true labels (``train_permuted(..., permute=False)``): ``control_spearman``.
    original : Explanation, optional
        ``make_explainer(live).explain(inputs)`` if already computed.
    """
    if original is None:
        original = make_explainer(live).explain(inputs)
    target = original.target
    per: dict[str, list] = {"spearman": [], "spearman_abs": [], "topk_intersection": []}
    other = make_explainer(random_live).explain(inputs, target=target)
    for a, b in zip(original.word_scores, other.word_scores):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        per["spearman"].append(_spearman(a, b))
        per["spearman_abs"].append(_spearman(np.abs(a), np.abs(b)))
        per["topk_intersection"].append(topk_intersection(a, b, k))
    control = None
    if control_live is not None:
        ctrl = make_explainer(control_live).explain(inputs, target=target)
        per["control_spearman"] = [_spearman(a, b) for a, b in zip(original.word_scores, ctrl.word_scores)]
        control = _mean(per["control_spearman"])
    return DataRandomizationResult(method=original.method, config={"k": int(k), "target": target,
                                                                   "random_model": random_live.info.get("randomized")},
                                   spearman=_mean(per["spearman"]), spearman_abs=_mean(per["spearman_abs"]),
                                   topk_intersection=_mean(per["topk_intersection"]), control_spearman=control,
                                   per_example=per)
