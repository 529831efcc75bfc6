"""The explanation result and the explainer base class shared by every input-level method.

An :class:`Explainer` holds a :class:`~neuronlab.models.live.LiveModel` and a target
(:mod:`neuronlab.models.targets`: class logit, probability, log-probability or loss, of a sequence or of a
word position). :meth:`Explainer.explain` encodes the inputs, resolves the target (``"predicted"`` picks
each example's predicted class), calls the method's :meth:`Explainer._scores` and returns an
:class:`Explanation` with one score per token (methods whose unit is the token) and one per word
(token scores summed over each word's subwords; special tokens belong to no word).

Counting forward passes: every model evaluation of a method goes through :meth:`Explainer.evaluate`, which
counts the rows it runs (``Explanation.forward_passes``; benchmarks compare methods and packages by it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result, json_default  # noqa: F401 - json_default re-exported for method modules

__all__ = ["Explanation", "Explainer", "tokens_to_words", "reduce_embedding", "REDUCTIONS", "PREDICTED"]

#: the target index meaning "each example's predicted class"
PREDICTED = "predicted"


def _ragged(values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = np.concatenate([np.asarray(v, dtype=np.float64) for v in values]) if len(values) else np.zeros(0)
    return flat, offsets


def _unragged(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    flat, offsets = np.asarray(flat, dtype=np.float64), np.asarray(offsets, dtype=np.int64)
    return [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


@dataclass
class Explanation(Result):
    """Scores of the input units of each example for one target.

    Attributes
    ----------
    method : str
        Explainer key (:data:`~neuronlab.explain.registry.EXPLAINERS`).
    target : dict
        The target (``kind``, ``index`` per example after resolving ``"predicted"``, ``position``, ``output``).
    config : dict
        The explainer's parameters.
    words, tokens : list of list of str
        Words (pre-split input, or the tokenizer's word split) and subword tokens (without padding) per example.
    word_scores : list of list of float
        One score per word.
    token_scores : list of numpy.ndarray
        One score per token (``None`` for methods that score words only).
    target_value : list of float
        The target at the input, f(x).
    reference_value : list of float or None
        The target at the method's reference input (the baseline of integrated gradients, the empty
        coalition of Shapley values, ...), where the method has one: completeness/efficiency say that
        the scores sum to ``target_value - reference_value``.
    seconds : float
    forward_passes : int
        Rows of model evaluations the method ran (a batch of n rows counts n).
    """

    kind = "explanation"

    method: str = ""
    target: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    words: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    word_scores: list = field(default_factory=list)
    target_value: list = field(default_factory=list)
    reference_value: list | None = None
    seconds: float = 0.0
    forward_passes: int = 0
    token_scores: list | None = field(default=None, repr=False, compare=False, metadata={"array": True})

    def arrays(self) -> dict[str, np.ndarray]:
        flat, off = _ragged([np.asarray(s) for s in self.word_scores])
        out = {"word_scores_flat": flat, "word_offsets": off}
        if self.token_scores is not None:
            tflat, toff = _ragged(self.token_scores)
            out.update(token_scores_flat=tflat, token_offsets=toff)
        return out

    @classmethod
    def _from_parts(cls, report: dict, arrays: dict) -> "Explanation":
        names = {f for f in cls.__dataclass_fields__ if f != "token_scores"}
        return cls(**{k: v for k, v in report.items() if k in names})

    @classmethod
    def from_store(cls, store: Any, name: str) -> "Explanation":
        res = super().from_store(store, name)
        raw = store.read_result(name)
        if raw.get("token_scores_flat") is not None:
            res.token_scores = _unragged(raw["token_scores_flat"], raw["token_offsets"])
        return res

    def top_words(self, example: int, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` words of ``example`` with the largest scores, with their scores."""
        scores = np.asarray(self.word_scores[example], dtype=float)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.words[example][j], float(scores[j])) for j in order]


def tokens_to_words(token_scores: np.ndarray, word_ids: Sequence[int], n_words: int | None = None) -> np.ndarray:
    """Sum token scores over the subwords of each word (tokens with word id -1 are dropped).

    >>> tokens_to_words(np.array([9., 1., 2., 3., 9.]), [-1, 0, 0, 1, -1])
    array([3., 3.])
    """
    word_ids = np.asarray(list(word_ids)[:len(token_scores)], dtype=np.int64)
    n = int(word_ids.max()) + 1 if n_words is None else int(n_words)
    keep = word_ids >= 0
    return np.bincount(word_ids[keep], weights=np.asarray(token_scores, dtype=np.float64)[keep], minlength=max(n, 0))


def _sum(a):
    return a.sum(-1)


def _l1(a):
    return a.abs().sum(-1)


def _l2(a):
    return a.norm(dim=-1)


#: how a score per embedding dimension becomes a score per token: signed sum (keeps completeness),
#: L1 norm or L2 norm (Captum's and inseq's choices)
REDUCTIONS = {"sum": _sum, "l1": _l1, "l2": _l2}


def reduce_embedding(scores, how: str = "sum"):
    """Reduce a tensor (..., hidden) of per-dimension scores to (...) by :data:`REDUCTIONS` ``how``."""
    if how not in REDUCTIONS:
        raise InvalidParameterError(f"reduction {how!r} is unknown; choose one of {choices(REDUCTIONS)}")
    return REDUCTIONS[how](scores)


class Explainer:
    """Base class of input-level explainers.

    Parameters
    ----------
    live : LiveModel
    target : Target, int, dict or "predicted", default="predicted"
        What is explained (see :func:`~neuronlab.models.targets.as_target`); ``"predicted"`` (or a dict
        with ``"index": "predicted"``) is each example's predicted class.
    batch_size : int, default=32
        Rows per forward pass (perturbed inputs, interpolation steps, noise samples).

    Notes
    -----
    Subclasses set ``name`` and ``unit`` and implement :meth:`_scores`.
    """

    name = ""
    unit = "token"
    #: (encoded batch, f(x) per example) of the running :meth:`explain`, for methods that need f(x) again
    _f_x: tuple | None = None

    def __init__(self, live: Any, *, target: Any = PREDICTED, batch_size: int = 32) -> None:
        if int(batch_size) < 1:
            raise InvalidParameterError(f"batch_size must be >= 1; got {batch_size}")
        self.live = live
        self.target = target
        self.batch_size = int(batch_size)
        self.forward_passes = 0
        self._predicted_pass = None

    # -------------------------------------------------------------- what subclasses use
    def params(self) -> dict:
        """The method's parameters for the result's ``config`` (override to add yours)."""
        return {"batch_size": self.batch_size}

    def evaluate(self, enc: Any, resolved: Any, rows: Sequence[int] | None = None, *, inputs_embeds: Any = None):
        """Target values (tensor (n_rows,)) of one forward pass, counted in :attr:`forward_passes`.

        Gradients flow when the caller enables them (e.g. ``inputs_embeds`` requiring grad).
        """
        out = self.live.forward(enc, rows, inputs_embeds=inputs_embeds)
        n = enc.n_examples if rows is None else len(rows)
        self.forward_passes += int(n)
        return resolved(out, rows)

    def _scores(self, enc: Any, resolved: Any, progress: Any) -> tuple[list[np.ndarray], list[float] | None]:
        """Per-example scores (token unit: one per non-padding token; word unit: one per word) and the
        reference values f(reference) per example (or None)."""
        raise NotImplementedError

    # -------------------------------------------------------------- the public verb
    def resolve(self, enc: Any, target: Any = None):
        """Bind the target to a batch; ``"predicted"`` becomes each example's argmax class."""
        import torch

        from ..models.targets import Target, as_target

        target = self.target if target is None else target
        if isinstance(target, str) and target == PREDICTED:
            target = {"index": PREDICTED}
        if isinstance(target, dict) and target.get("index") == PREDICTED:
            with torch.no_grad():
                out = self.live.forward(enc)
            self._predicted_pass = (enc, out)  # explain() reads f(x) from it instead of a second pass
            fields = {k: v for k, v in target.items() if k != "index"}
            scores = getattr(out, fields.get("output", "logits"))
            if scores.dim() == 3:
                pos = fields.get("position")
                if pos is None:
                    raise InvalidParameterError("target: a token-level model needs a word position to explain")
                probe = Target(index=0, **fields).resolve(enc)
                scores = scores[torch.arange(scores.shape[0]), probe.pos.to(scores.device)]
            target = Target(index=tuple(int(c) for c in scores.argmax(-1).tolist()), **fields)
        target = as_target(target)
        return target, target.resolve(enc)

    def explain(self, inputs: Any, *, target: Any = None, progress: bool = False) -> Explanation:
        """Explain the target for each input (sentences, or lists of words).

        Returns
        -------
        Explanation
        """
        import torch

        enc = self.live.encode(inputs)
        self._predicted_pass = None
        target, resolved = self.resolve(enc, target)
        self.forward_passes = 0
        start = time.perf_counter()
        with torch.no_grad():
            seen, self._predicted_pass = self._predicted_pass, None
            if seen is not None and seen[0] is enc:  # the predicted-class pass was the pass at x: count it as such
                self.forward_passes += enc.n_examples
                f_x = [float(v) for v in resolved(seen[1]).tolist()]
            else:
                f_x = [float(v) for v in self.evaluate(enc, resolved).tolist()]
        self._f_x = (enc, f_x)  # methods may reuse f(x) instead of running the unperturbed input again
        bar = _progress(progress, enc.n_examples, self.name or type(self).__name__)
        try:
            scores, reference = self._scores(enc, resolved, bar)
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - start
        words = _words(enc)
        word_scores, token_scores = [], None
        if self.unit == "token":
            token_scores = [np.asarray(s, dtype=np.float64) for s in scores]
            word_scores = [tokens_to_words(s, enc.word_ids[i], len(words[i])).tolist()
                           for i, s in enumerate(token_scores)]
        else:
            word_scores = [np.asarray(s, dtype=np.float64).tolist() for s in scores]
        return Explanation(method=self.name, target=target.to_dict(), config=self.params(), words=words,
                           tokens=[list(t) for t in enc.tokens], word_scores=word_scores, target_value=f_x,
                           reference_value=None if reference is None else [float(r) for r in reference],
                           seconds=round(seconds, 6), forward_passes=self.forward_passes, token_scores=token_scores)


def _words(enc: Any) -> list[list[str]]:
    """Words per example: the pre-split input, or the tokenizer's words rebuilt from the subwords."""
    if enc.words is not None:
        return [list(w) for w in enc.words]
    out = []
    for i, toks in enumerate(enc.tokens):
        n = enc.n_words(i)
        parts: list[list[str]] = [[] for _ in range(n)]
        for t, w in zip(toks, enc.word_ids[i]):
            if w >= 0:
                parts[w].append(t[2:] if t.startswith("##") else t.lstrip("\u0120\u2581"))
        out.append(["".join(p) for p in parts])
    return out


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="example", leave=False)
