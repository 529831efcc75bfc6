"""Word perturbations of an encoded input, evaluated in batches: the machinery of the perturbation and Shapley
explainers (:mod:`~neuronlab.explain.perturbation`, :mod:`~neuronlab.explain.shapley`,
:mod:`~neuronlab.explain.lime`).

The features of these methods are *words*: a perturbed input keeps some words of an example and removes the
others, all subwords of a word together. A perturbation is a boolean *keep* vector over the example's words; a
matrix ``keep`` of shape (n_samples, n_words) describes n_samples perturbed inputs. How a word is removed is the
*mode* (:data:`MODES`):

========= ===========================================================================================
mode      a removed word ...
========= ===========================================================================================
``drop``  loses its tokens (the input gets shorter; Li et al. 2016's erasure, the ``lime`` package)
``mask``  has each of its subwords replaced by ``[MASK]`` (the length is kept)
``unk``   has each of its subwords replaced by ``[UNK]``
``pad``   has each of its subwords replaced by ``[PAD]`` (attention still sees the position)
========= ===========================================================================================

Special tokens ([CLS], [SEP]) belong to no word and are always kept. :func:`evaluate_keep` turns the keep
matrices of several examples into token ids directly (no re-tokenisation), removes duplicate rows (sampling
methods draw the same coalition many times on short inputs), sorts the rows by length so that a batch pads
little, and runs them through :meth:`~neuronlab.explain.base.Explainer.evaluate` in batches of the explainer's
``batch_size`` (the forward passes are counted there).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices

__all__ = ["MODES", "check_mode", "WordLayout", "layout", "perturbed_ids", "evaluate_keep", "WordExplainer", "n_words",
           "tick"]

#: how a removed word is removed: "drop" deletes its tokens, the others replace each subword by that special token
MODES = ("drop", "mask", "unk", "pad")


def check_mode(mode: str) -> str:
    """Validate a perturbation mode (one of :data:`MODES`)."""
    if mode not in MODES:
        raise InvalidParameterError(f"mode must be one of {choices(MODES)}; got {mode!r}")
    return mode


@dataclass(frozen=True)
class WordLayout:
    """The tokens of one example and the word each belongs to.

    Attributes
    ----------
    ids : numpy.ndarray of shape (n_tokens,)
        Token ids without padding.
    word_of : numpy.ndarray of shape (n_tokens,)
        Word index of each token, -1 for special tokens.
    n_words : int
    """

    ids: np.ndarray
    word_of: np.ndarray
    n_words: int


def layout(enc: Any, i: int) -> WordLayout:
    """The :class:`WordLayout` of example ``i`` of an :class:`~neuronlab.models.live.Encoded` batch."""
    n = enc.lengths[i]
    mask = enc.attention_mask[i].bool().numpy()
    ids = enc.input_ids[i].numpy()[mask][:n]
    word_of = np.asarray(enc.word_ids[i], dtype=np.int64)[mask][:n]
    return WordLayout(ids.astype(np.int64), word_of, int(word_of.max(initial=-1)) + 1)


def _token_keep(lay: WordLayout, keep: np.ndarray) -> np.ndarray:
    """Keep matrix over tokens (n_samples, n_tokens); special tokens are always kept."""
    keep = np.asarray(keep, dtype=bool).reshape(-1, lay.n_words)
    tk = np.ones((keep.shape[0], len(lay.ids)), dtype=bool)
    content = lay.word_of >= 0
    tk[:, content] = keep[:, lay.word_of[content]]
    return tk


def perturbed_ids(lay: WordLayout, keep: np.ndarray, mode: str, replacement: int | None = None) -> list[np.ndarray]:
    """Token ids of the perturbed inputs, one array per row of ``keep`` (n_samples, n_words).

    ``replacement`` is the token id that replaces removed subwords (modes other than ``drop``).

    >>> lay = WordLayout(np.array([101, 7, 8, 9, 102]), np.array([-1, 0, 1, 1, -1]), 2)
    >>> [r.tolist() for r in perturbed_ids(lay, [[True, False], [False, True]], "drop")]
    [[101, 7, 102], [101, 8, 9, 102]]
    >>> [r.tolist() for r in perturbed_ids(lay, [[False, True]], "mask", replacement=103)]
    [[101, 103, 8, 9, 102]]
    """
    tk = _token_keep(lay, keep)
    if mode == "drop":
        return [lay.ids[row] for row in tk]
    if replacement is None:
        raise InvalidParameterError(f"mode {mode!r} needs the replacement token id")
    return list(np.where(tk, lay.ids[None, :], int(replacement)))


def _new_position(lay: WordLayout, keep_row: np.ndarray, pos: int, mode: str) -> int:
    """Token position of the target token ``pos`` in a perturbed row (token-level targets)."""
    if mode != "drop":
        return pos
    tk = _token_keep(lay, keep_row)[0]
    if not tk[pos]:
        raise InvalidParameterError("mode 'drop' removed the word whose prediction is explained; use mode='mask' "
                                    "for token-level targets")
    return int(tk[:pos].sum())


class _Rows:
    """Target reader for a perturbed batch: class (and position) per row, optionally the predicted class too."""

    def __init__(self, resolved: Any, cls: Any, pos: Any, predict: bool) -> None:
        from ..models.targets import ResolvedTarget

        self.inner = ResolvedTarget(resolved.target, cls, pos)
        self.predict = predict

    def __call__(self, out: Any, rows: Any = None):
        import torch

        values = self.inner(out, rows)
        if not self.predict:
            return values
        name = self.inner.target.output
        scores = out[name] if isinstance(out, dict) else getattr(out, name)
        if scores.dim() == 3:
            scores = scores[torch.arange(scores.shape[0]), self.inner.pos.to(scores.device)]
        return torch.stack([values, scores.argmax(-1).to(values.dtype)], 1)


def evaluate_keep(explainer: Any, enc: Any, resolved: Any, requests: Sequence[tuple[int, np.ndarray]], mode: str, *,
                  predict: bool = False, progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """The target on perturbed inputs of several examples, in batches of ``explainer.batch_size`` rows.

    Parameters
    ----------
    explainer : Explainer
        Its :meth:`~neuronlab.explain.base.Explainer.evaluate` runs (and counts) the forward passes; its
        ``engine`` (``auto`` when it has none) chooses the packed forward (:mod:`~neuronlab.explain.packed`).
    enc : Encoded
    resolved : ResolvedTarget
        The target bound to ``enc`` (the class, and the word position for token tasks, of each example).
    requests : sequence of (int, array-like of shape (n_samples, n_words))
        Example index and keep matrix (True: the word is present).
    mode : str
        One of :data:`MODES`.
    predict : bool, default=False
        Also return the predicted class of each perturbed input (column 1).
    progress : callable, optional
        Called with the number of rows of each batch after it ran.

    Returns
    -------
    list of numpy.ndarray
        Per request, the target values (n_samples,) (or (n_samples, 2) with ``predict``). Duplicate rows of a
        request are evaluated once, and the unperturbed input (all words kept) is not evaluated again when the
        running :meth:`~neuronlab.explain.base.Explainer.explain` already has f(x) for ``enc``.

    Notes
    -----
    Where :func:`~neuronlab.explain.packed.packed_for` allows it (BERT-family classifiers without hooks), the
    rows run packed (no padding, one query token in the last layer) on worker threads; otherwise padded
    batches, sorted by length, go through transformers' forward. Both give the same values up to float32
    rounding; the batches (``batch_size`` rows, sorted by length) are the same.
    """
    check_mode(mode)
    replacement = None if mode == "drop" else explainer.live.special_token_id(mode)
    cls_all = resolved.cls
    pos_all = resolved.pos
    row_ids: list[np.ndarray] = []
    row_cls: list[int] = []
    row_pos: list[int] = []
    inverse: list[np.ndarray] = []
    start: list[int] = []
    fx = _known_fx(explainer, enc) if not predict else None
    known: dict[int, float] = {}
    for i, keep in requests:
        lay = layout(enc, i)
        keep = np.asarray(keep, dtype=bool).reshape(-1, lay.n_words)
        uniq, inv = np.unique(keep, axis=0, return_inverse=True)
        start.append(len(row_ids))
        inverse.append(inv.reshape(-1))
        if fx is not None and len(uniq) and uniq[-1].all():  # the input itself: f(x) is known (rows sort last)
            known[len(row_ids) + len(uniq) - 1] = fx[i]
        row_ids.extend(perturbed_ids(lay, uniq, mode, replacement))
        row_cls.extend([int(cls_all[i])] * len(uniq))
        if pos_all is not None:
            row_pos.extend(_new_position(lay, u, int(pos_all[i]), mode) for u in uniq)
    n_rows = len(row_ids)
    if any(len(r) == 0 for r in row_ids):
        raise InvalidParameterError("mode 'drop' left a perturbed input without any token (the tokenizer adds no "
                                    "special tokens); use mode='mask', 'unk' or 'pad'")
    values = np.zeros((n_rows, 2) if predict else n_rows, dtype=np.float64)
    for r, v in known.items():
        values[r] = v
    todo = np.array([r for r in range(n_rows) if r not in known], dtype=np.int64)
    order = todo[np.argsort([len(row_ids[r]) for r in todo], kind="stable")]
    bs = explainer.batch_size
    batches = [order[b:b + bs] for b in range(0, len(order), bs)]
    packed = _packed(explainer, resolved, [row_ids[r] for r in order])
    if packed is not None:
        run = _packed_batch(packed, resolved, row_ids, np.asarray(row_cls, dtype=np.int64),
                            np.asarray(row_pos, dtype=np.int64) if pos_all is not None else None, predict)
        from .packed import run_batches, split_batches, worker_layout

        explainer.forward_passes += len(order)
        units = split_batches(batches, [len(r) for r in row_ids], worker_layout(len(batches))[0])
        for idx, out in zip(units, run_batches(run, units, device=packed.device)):
            values[idx] = out
            if progress is not None:
                progress(len(idx))
    else:
        for idx in batches:
            values[idx] = _padded_batch(explainer, resolved, row_ids, row_cls, row_pos if pos_all is not None
                                        else None, idx, predict)
            if progress is not None:
                progress(len(idx))
    return [values[s + inv] for s, inv in zip(start, inverse)]


def _packed_inputs(explainer: Any, enc: Any, target: Any) -> dict | None:
    """``{"logits": tensor (n_examples, classes)}`` of the unperturbed inputs by the packed forward, or None where
    the transformers pass is needed (token-level or non-logit targets, models or targets it cannot serve)."""
    from .packed import packed_for

    if isinstance(target, dict):
        output, position = target.get("output", "logits"), target.get("position")
    else:
        output, position = getattr(target, "output", "logits"), getattr(target, "position", None)
    if output != "logits" or position is not None or getattr(explainer, "engine", "auto") == "hf":
        return None
    packed = packed_for(explainer.live, explainer.engine)
    if packed is None or packed.token_level:
        return None
    rows = [layout(enc, i).ids for i in range(enc.n_examples)]
    if packed.check_rows(rows) is not None:
        return None
    from .packed import packed_logits

    return {"logits": packed_logits(packed, rows)}


def _known_fx(explainer: Any, enc: Any) -> list[float] | None:
    """f(x) per example of ``enc``, when the running ``explain`` computed it for this very batch."""
    seen = getattr(explainer, "_f_x", None)
    return seen[1] if seen is not None and seen[0] is enc else None


def _packed(explainer: Any, resolved: Any, rows: list[np.ndarray]):
    """The packed forward for these rows and target, or None (transformers' forward)."""
    from .packed import packed_for

    engine = getattr(explainer, "engine", "auto")
    packed = packed_for(explainer.live, engine)
    if packed is None:
        return None
    why = packed.check_rows(rows)
    if why is None and resolved.target.output != "logits":
        why = f"output {resolved.target.output!r} is not the classifier's logits"
    if why is None and packed.token_level != (resolved.pos is not None):
        why = "the target's position does not match the head"  # transformers' forward says what is wrong
    if why is not None and engine == "native":
        raise InvalidParameterError(f"engine 'native' cannot run these inputs: {why}; use engine='auto' or 'hf'")
    return None if why is not None else packed


def _packed_batch(packed: Any, resolved: Any, row_ids, row_cls: np.ndarray, row_pos, predict: bool):
    """A function of one batch's row indices -> its target values, by the packed forward."""
    import torch

    def run(idx: np.ndarray) -> np.ndarray:
        query = None if row_pos is None else row_pos[idx]
        logits = packed.logits([row_ids[r] for r in idx], query)
        reader = _Rows(resolved, torch.from_numpy(row_cls[idx]), None, predict)
        return reader({"logits": logits}).double().cpu().numpy()
    return run


def _padded_batch(explainer: Any, resolved: Any, row_ids, row_cls, row_pos, idx: np.ndarray, predict: bool):
    """One padded batch through :meth:`Explainer.evaluate` (transformers' forward, hooks included)."""
    import torch

    from ..models.live import Encoded

    pad_id = explainer.live.special_token_id("pad") if getattr(explainer.live.tokenizer, "pad_token_id", None) \
        is not None else 0
    width = max(len(row_ids[r]) for r in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for k, r in enumerate(idx):
        ids[k, :len(row_ids[r])] = torch.from_numpy(row_ids[r])
        mask[k, :len(row_ids[r])] = 1
    cls = torch.as_tensor([row_cls[r] for r in idx], dtype=torch.long)
    pos = torch.as_tensor([row_pos[r] for r in idx], dtype=torch.long) if row_pos is not None else None
    batch = Encoded(ids, mask, [[]] * len(idx), [[]] * len(idx))
    with torch.no_grad():
        out = explainer.evaluate(batch, _Rows(resolved, cls, pos, predict))
    return out.detach().double().cpu().numpy()


class WordExplainer:
    """Mixin of the word-level perturbation explainers: the ``mode`` parameter and batched evaluation.

    Subclasses also derive from :class:`~neuronlab.explain.base.Explainer`; they call :meth:`_evaluate` with
    (example, keep matrix) requests.
    """

    unit = "word"
    mode = "drop"
    #: forward pass of the perturbed inputs (:data:`~neuronlab.explain.packed.ENGINES`): ``auto`` runs them packed
    #: where the model allows it, ``native`` insists, ``hf`` always uses transformers' padded forward
    engine = "auto"

    def params(self) -> dict:
        """The explainer's parameters, with the engine of its perturbed forward passes (recorded in the config)."""
        return {**super().params(), "engine": self.engine}  # type: ignore[misc]

    def _set_engine(self, engine: str) -> None:
        from .packed import ENGINES, packed_for

        if engine not in ENGINES:
            raise InvalidParameterError(f"engine must be one of {choices(ENGINES)}; got {engine!r}")
        if engine == "native":
            packed_for(self.live, engine)  # fails early, with the reason, when the model cannot run packed
        self.engine = engine

    def resolve(self, enc: Any, target: Any = None):
        """:meth:`Explainer.resolve`, with the pass at the inputs (the predicted class and f(x)) run packed where
        the model allows it (sequence classifiers; see :mod:`~neuronlab.explain.packed`)."""
        from ..models.targets import Target, as_target
        from .base import PREDICTED

        target = self.target if target is None else target
        out = _packed_inputs(self, enc, target)
        if out is None:
            return super().resolve(enc, target)
        if isinstance(target, str) and target == PREDICTED:
            target = {"index": PREDICTED}
        if isinstance(target, dict) and target.get("index") == PREDICTED:
            fields = {k: v for k, v in target.items() if k != "index"}
            target = Target(index=tuple(int(c) for c in out["logits"].argmax(-1).tolist()), **fields)
        self._predicted_pass = (enc, out)  # explain() reads f(x) from it, as from the transformers pass
        target = as_target(target)
        return target, target.resolve(enc)

    def _set_mode(self, mode: str) -> None:
        self.mode = check_mode(mode)
        if mode != "drop":
            self.live.special_token_id(mode)  # fails early when the tokenizer lacks the token

    def _evaluate(self, enc: Any, resolved: Any, requests: Sequence[tuple[int, np.ndarray]], *,
                  predict: bool = False) -> list[np.ndarray]:
        return evaluate_keep(self, enc, resolved, requests, self.mode, predict=predict)


def n_words(enc: Any, i: int) -> int:
    """Words of example ``i``."""
    return layout(enc, i).n_words


def tick(progress: Any, n: int = 1) -> None:
    """Advance a progress bar (or nothing when there is none)."""
    if progress is not None:
        progress.update(n)
