"""Step targets of generation explanations: the scalar of each generation step that is attributed (issue 15).

A step target maps the model's output at generation step ``t`` (the logits over the vocabulary, for the
context ``x, y_<t``) to one number per row. :data:`STEP_TARGETS` holds them (``name -> StepTargetEntry``):

====================== ================================================================== =========
name                   value at step t                                                    contrast
====================== ================================================================== =========
``logit``              ``z_t[y_t]``, the raw logit of the produced token                  no
``probability``        ``p(y_t | x, y_<t)``                                               no
``log_probability``    ``log p(y_t | x, y_<t)`` (Captum's ``LLMAttribution`` target)      no
``entropy``            ``-sum_v p(v) log p(v)`` of the step distribution                  no
``contrast_prob_diff`` ``p(y_t | x, y_<t) - p(y'_t | x, y_<t)``: the foil ``y'_t`` is the an output
                       t-th token of an alternative output, in the same context
                       (contrastive explanation, Yin & Neubig 2022); aligned
                       (``contrast_alignments``): ``p(y_t | x, y_<t) - p(y'_t' | x,
                       y'_<t')`` with ``t'`` the contrast step aligned to ``t``
``kl_divergence``      ``KL(p(. | x, y_<t) || p(. | x', y_<t))``: the step distribution   an input
                       against the one on a contrast input ``x'`` (same target prefix;
                       the contrast side is a constant of the attribution, as in inseq)
====================== ================================================================== =========

Every function takes ``(logits (n, vocab), token (n,), foil (n,) or None, contrast_logprobs (n, vocab) or
None)`` and returns a tensor ``(n,)``; logits are promoted to float32 at least. A target whose contrast is an
output also receives ``contrast_logits=`` (n, vocab) when the alternative output is aligned
(``contrast_alignments``, :mod:`.gen_align`): the logits of the aligned contrast step in the contrast prefix.

References
----------
Sarti, Feldhus, Sickert, van der Wal, Nissim & Bisazza (2023), "Inseq: an interpretability toolkit for
sequence generation models", ACL demo (step functions). Yin & Neubig (2022), "Interpreting language models
with contrastive explanations", EMNLP.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidParameterError
from ..registry import Entry, Registry

__all__ = ["CONTRASTS", "STEP_TARGETS", "StepTargetEntry", "register_step_target"]

#: what a step target's contrast is: nothing, an alternative output (foil tokens), or an alternative input
CONTRASTS = (None, "output", "input")


@dataclass(frozen=True)
class StepTargetEntry(Entry):
    """A registered step target.

    Parameters
    ----------
    contrast : {None, "output", "input"}
        What ``contrast=`` means for this target: nothing (refused), the alternative output whose tokens are
        the foils, or the contrast input whose step distributions are compared.
    """

    contrast: Any = None

    def __post_init__(self) -> None:
        if self.contrast not in CONTRASTS:
            raise InvalidParameterError(f"contrast must be one of None, 'output', 'input'; got {self.contrast!r}")


#: step target name -> :class:`StepTargetEntry`
STEP_TARGETS: Registry[StepTargetEntry] = Registry(
    "step target", how_to_add="register a StepTargetEntry with neuronlab.explain.gen_targets.register_step_target")


def register_step_target(entry: StepTargetEntry) -> StepTargetEntry:
    """Add a step target ``fn(logits, token, foil, contrast_logprobs) -> (n,)``."""
    return STEP_TARGETS.register(entry)


def _float(logits):
    import torch

    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _pick(values, token):
    import torch

    return values[torch.arange(values.shape[0], device=values.device), token.to(values.device)]


def logit(logits, token, foil=None, contrast=None):
    """``z[y_t]``."""
    return _pick(_float(logits), token)


def probability(logits, token, foil=None, contrast=None):
    """``softmax(z)[y_t]``."""
    return _pick(_float(logits).softmax(-1), token)


def log_probability(logits, token, foil=None, contrast=None):
    """``log_softmax(z)[y_t]``."""
    return _pick(_float(logits).log_softmax(-1), token)


def entropy(logits, token=None, foil=None, contrast=None):
    """``-sum_v p(v) log p(v)``."""
    logp = _float(logits).log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def contrast_prob_diff(logits, token, foil, contrast=None, contrast_logits=None):
    """``p(y_t) - p(y'_t)`` in the same context; with ``contrast_logits`` (the logits of the aligned contrast
    step, given the contrast prefix: :mod:`.gen_align`) ``p(y_t | x, y_<t) - p(y'_t' | x, y'_<t')``."""
    if foil is None:
        raise InvalidParameterError("contrast_prob_diff needs contrast= (an alternative output text)")
    p = _float(logits).softmax(-1)
    q = p if contrast_logits is None else _float(contrast_logits).softmax(-1)
    return _pick(p, token) - _pick(q, foil)


def kl_divergence(logits, token, foil, contrast):
    """``sum_v p(v) (log p(v) - log q(v))`` with ``q`` the contrast input's step distribution (constant)."""
    if contrast is None:
        raise InvalidParameterError("kl_divergence needs contrast= (a contrast input text)")
    logp = _float(logits).log_softmax(-1)
    return (logp.exp() * (logp - contrast.to(logp.dtype).to(logp.device))).sum(-1)


_SELF = "neuronlab.explain.gen_targets:"
register_step_target(StepTargetEntry("logit", _SELF + "logit", "raw logit of the produced token",
                                     "Sarti et al. 2023"))
register_step_target(StepTargetEntry("probability", _SELF + "probability", "probability of the produced token",
                                     "Sarti et al. 2023"))
register_step_target(StepTargetEntry("log_probability", _SELF + "log_probability",
                                     "log-probability of the produced token (Captum's LLM attribution target)",
                                     "Sarti et al. 2023"))
register_step_target(StepTargetEntry("entropy", _SELF + "entropy", "entropy of the step distribution",
                                     "Sarti et al. 2023"))
register_step_target(StepTargetEntry("contrast_prob_diff", _SELF + "contrast_prob_diff",
                                     "p(token) - p(foil), the foil being the same step's token of an alternative "
                                     "output, same context", "Yin & Neubig 2022", contrast="output"))
register_step_target(StepTargetEntry("kl_divergence", _SELF + "kl_divergence",
                                     "KL divergence of the step distribution from the one on a contrast input",
                                     "Sarti et al. 2023", contrast="input"))
