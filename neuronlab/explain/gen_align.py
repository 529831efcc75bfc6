"""Alignment of a target output and a contrastive alternative of another length (issue 15).

``contrast_prob_diff`` with an alternative output ``y'`` compares, at step ``t``, the target token ``y_t``
with the token ``y'_{t'}`` of the aligned contrast step, the latter given the *contrast* prefix
``y'_{<t'}`` (inseq's ``contrast_targets`` with ``contrast_targets_alignments``; Yin & Neubig 2022). An
alignment is a list of ``(t, t')`` pairs; a target step with several pairs takes the smallest ``t'`` (as
inseq's ``get_aligned_idx``), a target step with none is *unaligned* (its step value and scores are NaN).

``"auto"`` aligns the two token sequences with :class:`difflib.SequenceMatcher` (no junk heuristic):
equal runs are aligned one to one, a replaced run is aligned position by position over the shorter of its
two sides (the substituted tokens are the foils), deleted target tokens stay unaligned. inseq's ``"auto"``
aligns words with a multilingual encoder (LaBSE) instead; difflib needs no extra model and is exact for
alternatives that share most of their tokens, the usual contrastive case. Give explicit pairs otherwise.

References
----------
Yin & Neubig (2022), "Interpreting language models with contrastive explanations", EMNLP. Sarti et al.
(2023), "Inseq: an interpretability toolkit for sequence generation models", ACL demo.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["auto_alignment", "step_alignment"]


def auto_alignment(target: Sequence[str], contrast: Sequence[str]) -> list[tuple[int, int]]:
    """``(t, t')`` pairs aligning two token sequences with difflib.

    >>> auto_alignment(["a", "b", "c"], ["a", "x", "y", "c"])
    [(0, 0), (1, 1), (2, 3)]
    >>> auto_alignment(["a", "b", "c"], ["a", "c"])
    [(0, 0), (2, 1)]
    """
    sm = difflib.SequenceMatcher(None, list(target), list(contrast), autojunk=False)
    pairs = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op in ("equal", "replace"):
            pairs += [(i1 + k, j1 + k) for k in range(min(i2 - i1, j2 - j1))]
    return pairs


def step_alignment(pairs: Any, n_target: int, n_contrast: int) -> list[int]:
    """The aligned contrast step of every target step (-1: unaligned) from ``(t, t')`` pairs.

    Raises
    ------
    InvalidParameterError
        If a pair is not two ints or points outside the target or contrast tokens.
    """
    out = [-1] * n_target
    try:
        items = [(int(a), int(b)) for a, b in pairs]
    except (TypeError, ValueError):
        raise InvalidParameterError(f"contrast alignment must be 'auto' or a list of (t, t') int pairs; got "
                                    f"{pairs!r}") from None
    for a, b in items:
        if not (0 <= a < n_target and 0 <= b < n_contrast):
            raise InvalidParameterError(f"alignment pair ({a}, {b}) is out of range: the target has {n_target} "
                                        f"tokens, the contrast {n_contrast} (pairs are 0-based token indices)")
        out[a] = b if out[a] < 0 else min(out[a], b)
    return out
