"""Scalar targets of a live model: which number of the model's output an attribution explains.

A :class:`Target` names a model output (``logits``, or ``start_logits``/``end_logits`` of a span model),
a class (or a token position for span outputs), an optional word position for token tasks, and a
*kind* from the :data:`TARGETS` registry that turns the selected row of scores into one number per
example:

=================== ==========================================================================
kind                value per example (``s`` = the scores of the example, ``c`` = its class)
=================== ==========================================================================
``logit``           ``s[c]``
``probability``     ``softmax(s)[c]``
``log_probability`` ``log_softmax(s)[c]``
``loss``            ``-log_softmax(s)[c]`` (cross-entropy with ``c`` as the gold label)
=================== ==========================================================================

Positions are *word* indices (the first subword of the word), as in the activation store; a class
or position may be one int for every example or one per example.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence, Union

from ..errors import InvalidParameterError, choices

__all__ = ["Target", "TARGETS", "register_target", "as_target", "ResolvedTarget", "SPAN_OUTPUTS"]

IntOrSeq = Union[int, Sequence[int], None]

#: outputs whose class axis is the token axis (extractive QA): the "class" is a word position
SPAN_OUTPUTS = ("start_logits", "end_logits")


def _logit(scores, cls):
    return scores.gather(1, cls[:, None])[:, 0]


def _probability(scores, cls):
    return scores.softmax(-1).gather(1, cls[:, None])[:, 0]


def _log_probability(scores, cls):
    return scores.log_softmax(-1).gather(1, cls[:, None])[:, 0]


def _loss(scores, cls):
    return -_log_probability(scores, cls)


#: kind -> fn(scores of shape (rows, classes), classes of shape (rows,)) -> values of shape (rows,)
TARGETS: dict[str, Callable] = {
    "logit": _logit,
    "probability": _probability,
    "log_probability": _log_probability,
    "loss": _loss,
}


def register_target(name: str, fn: Callable) -> None:
    """Add a target kind: ``fn(scores (rows, classes), classes (rows,)) -> (rows,)``, differentiable."""
    TARGETS[name] = fn


@dataclass(frozen=True)
class Target:
    """One scalar per example of a model's output.

    Parameters
    ----------
    kind : str
        A key of :data:`TARGETS` (``logit``, ``probability``, ``log_probability``, ``loss``).
    index : int or sequence of int
        The class (for ``loss``: the gold label); for span outputs, the word whose start/end score is
        explained. One per example, or one int for all.
    position : int or sequence of int, optional
        Token tasks (scores of shape (batch, tokens, classes)): the word whose prediction is explained.
    output : str
        Attribute of the model output holding the scores (``logits``, ``start_logits``, ``end_logits``).
    """

    kind: str = "logit"
    index: IntOrSeq = 0
    position: IntOrSeq = None
    output: str = "logits"

    def __post_init__(self):
        if self.kind not in TARGETS:
            raise InvalidParameterError(f"target kind {self.kind!r} is unknown; choose one of {choices(TARGETS)}")
        for name in ("index", "position"):
            v = getattr(self, name)
            if isinstance(v, list):
                object.__setattr__(self, name, tuple(int(x) for x in v))

    def to_dict(self) -> dict:
        return asdict(self)

    def resolve(self, encoded) -> "ResolvedTarget":
        """Per-example class and token position for an encoded batch (see :class:`~neuronlab.models.live.Encoded`)."""
        import torch

        n = encoded.n_examples
        cls = _per_example(self.index, n, "index")
        pos = None
        if self.position is not None:
            pos = torch.as_tensor([encoded.word_token(i, w, "position") for i, w in
                                   enumerate(_per_example(self.position, n, "position").tolist())])
        if self.output in SPAN_OUTPUTS:
            cls = torch.as_tensor([encoded.word_token(i, w, "index") for i, w in enumerate(cls.tolist())])
        return ResolvedTarget(self, cls, pos)


def _per_example(value, n: int, name: str):
    import torch

    if value is None:
        raise InvalidParameterError(f"target {name}: give a class index (an int or one per example)")
    if isinstance(value, int):
        return torch.full((n,), int(value), dtype=torch.long)
    t = torch.as_tensor(list(value), dtype=torch.long)
    if t.shape != (n,):
        raise InvalidParameterError(f"target {name}: expected one value per example ({n}), got {t.numel()}")
    return t


@dataclass
class ResolvedTarget:
    """A :class:`Target` bound to a batch: per-example class and token position (tensors)."""

    target: Target
    cls: object
    pos: object = None

    def __call__(self, out, rows=None):
        """Target values for the rows of a forward pass; ``rows[r]`` is the example of row r (default: identity)."""
        import torch

        t = self.target
        scores = getattr(out, t.output, None) if not isinstance(out, dict) else out.get(t.output)
        if scores is None:
            have = [k for k in (out.keys() if hasattr(out, "keys") else []) if k != "loss"]
            raise InvalidParameterError(
                f"target output {t.output!r}: the model returns no such output; it returns {choices(have)}")
        dev = scores.device
        rows = torch.arange(scores.shape[0], device=dev) if rows is None else torch.as_tensor(rows, device=dev)
        cls = self.cls.to(dev)[rows]
        if scores.dim() == 3:
            if self.pos is None:
                raise InvalidParameterError(
                    f"target: output {t.output!r} has one score vector per token; give Target(position=word index)")
            scores = scores[torch.arange(scores.shape[0], device=dev), self.pos.to(dev)[rows]]
        elif self.pos is not None and t.output not in SPAN_OUTPUTS:
            raise InvalidParameterError(f"target: output {t.output!r} is per sequence; position must be None")
        n_cls = scores.shape[-1]
        bad = (cls < 0) | (cls >= n_cls)
        if bool(bad.any()):
            what = "token position" if t.output in SPAN_OUTPUTS else "class"
            raise InvalidParameterError(
                f"target {what} {int(cls[bad][0])} is out of range: output {t.output!r} has {n_cls} "
                f"{'positions' if t.output in SPAN_OUTPUTS else 'classes'} (0..{n_cls - 1})")
        return TARGETS[t.kind](scores.float(), cls)


def as_target(target) -> Target:
    """Accept a :class:`Target`, an int (that class's logit) or a dict of Target fields."""
    if isinstance(target, Target):
        return target
    if isinstance(target, bool):
        raise InvalidParameterError(f"target: expected a class index or a Target, got {target!r}")
    if isinstance(target, int):
        return Target("logit", target)
    if isinstance(target, dict):
        unknown = set(target) - {"kind", "index", "position", "output"}
        if unknown:
            raise InvalidParameterError(
                f"target: unknown fields {sorted(unknown)}; valid: kind, index, position, output")
        return Target(**target)
    raise InvalidParameterError(f"target: expected a class index, a dict or a Target, got {type(target).__name__}")
