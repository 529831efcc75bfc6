"""Agglomerative contextual decomposition (ACD): a hierarchy of phrases built from CD interactions.

Singh, Murdoch & Yu (2019) explain one prediction by a tree: the leaves are the words, and phrases are
joined, level by level, where the model's CD scores show that the words act *together*. The interaction of
two adjacent phrases ``A`` and ``B`` is

    ``I(A, B) = CD(A u B) - CD(A) - CD(B)``

(``CD``: the ``beta`` of :class:`~neuronlab.explain.decomposition.ContextualDecomposition` for the target
logit). The algorithm here, as in the paper's agglomeration for text (contiguous phrases only):

1. level 0: every word is a phrase, scored by its CD score;
2. every pair of adjacent phrases is a candidate join, scored by its interaction (``priority``:
   ``interaction`` (default), ``abs_interaction`` (largest ``|I|``, as the authors' code thresholds
   ``|score|``), or ``score`` (the joined phrase's CD score));
3. the best candidate is joined (ties: the leftmost), giving the next level; only the candidates touching
   the new phrase are scored anew (CD scores are cached by span);
4. until one phrase covers the sentence.

Every level tiles the sentence; a sentence of ``n`` words has ``n`` levels and costs about ``4n`` decomposed
rows. The paper pops the top-k groups per step; one join per level (k = 1) gives the full binary tree
(``collapse`` in the authors' code keeps its shape).

References
----------
Singh, Murdoch & Yu (2019), "Hierarchical interpretations for neural network predictions", ICLR.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result

__all__ = ["PRIORITIES", "CDTree", "agglomerate"]


def _interaction(joined, a, b):
    return joined - a - b


#: candidate join -> priority, from (CD(A u B), CD(A), CD(B))
PRIORITIES = {
    "interaction": _interaction,
    "abs_interaction": lambda joined, a, b: abs(_interaction(joined, a, b)),
    "score": lambda joined, a, b: joined,
}


@dataclass
class CDTree(Result):
    """The ACD hierarchy of one input.

    Attributes
    ----------
    words : list of str
    target : dict
    target_value : float
        The target logit f(x).
    levels : list of list of [int, int, float]
        Level ``k``: the phrases ``[start, stop, CD score]`` tiling the sentence after ``k`` joins.
    joins : list of dict
        Join ``k`` (making level ``k + 1``): ``left`` and ``right`` spans, ``score`` (CD of the joined phrase)
        and ``interaction``.
    config : dict
    """

    kind = "cd_tree"

    words: list = field(default_factory=list)
    target: dict = field(default_factory=dict)
    target_value: float = 0.0
    levels: list = field(default_factory=list)
    joins: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        rows = [(k, s, e, v) for k, level in enumerate(self.levels) for s, e, v in level]
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        return {"level": arr[:, 0].astype(np.int64), "start": arr[:, 1].astype(np.int64),
                "stop": arr[:, 2].astype(np.int64), "score": arr[:, 3]}

    def phrase(self, start: int, stop: int) -> str:
        return " ".join(self.words[start:stop])

    def text(self, *, digits: int = 3) -> str:
        """The tree as text: one line per level, top (the whole sentence) first, each phrase with its score.

        Each line lists the phrases of that level in brackets; the join that made the level is marked ``*``.
        """
        head = (f"f(x) = {self.target_value:.{digits}g} (logit of class {_cls(self.target)}); "
                f"{len(self.levels)} levels, CD score of each phrase")
        lines = [head]
        for k in range(len(self.levels) - 1, -1, -1):
            made = self.joins[k - 1] if k > 0 else None
            parts = []
            for s, e, v in self.levels[k]:
                mark = "*" if made is not None and [s, e] == [made["left"][0], made["right"][1]] else ""
                parts.append(f"{mark}[{self.phrase(s, e)} {v:+.{digits}g}]")
            extra = f"  (interaction {made['interaction']:+.{digits}g})" if made is not None else ""
            lines.append(f"{k:>3}: " + " ".join(parts) + extra)
        return "\n".join(lines)


def _cls(target: dict) -> Any:
    idx = target.get("index")
    return idx[0] if isinstance(idx, (list, tuple)) and len(idx) == 1 else idx


def agglomerate(explainer: Any, sentence: Any, *, target: Any = None, priority: str = "interaction") -> CDTree:
    """Build the ACD hierarchy of one input.

    Parameters
    ----------
    explainer : ContextualDecomposition
        Holds the model, the CD rules, the batch size and the default target.
    sentence : str or list of str
    target : optional
        Overrides the explainer's target (a class logit).
    priority : {"interaction", "abs_interaction", "score"}, default="interaction"
        How candidate joins are ranked (:data:`PRIORITIES`).

    Returns
    -------
    CDTree

    Examples
    --------
    >>> from neuronlab.explain.decomposition import ContextualDecomposition    # doctest: +SKIP
    >>> print(agglomerate(ContextualDecomposition(live), "not a good movie").text())   # doctest: +SKIP
    """
    if priority not in PRIORITIES:
        raise InvalidParameterError(f"priority {priority!r} is unknown; choose one of {choices(PRIORITIES)}")
    rank = PRIORITIES[priority]
    enc, tgt, resolved, c = explainer._prepare(sentence, target)
    n = enc.n_words(0)
    cache: dict[tuple[int, int], float] = {}

    def score(spans):
        todo = sorted({s for s in spans if s not in cache})
        if todo:
            got = explainer._set_scores(enc, c, [tuple(range(s, e)) for s, e in todo])
            cache.update({(s, e): got[tuple(range(s, e))][0] for s, e in todo})

    tiling = [(i, i + 1) for i in range(n)]
    score(tiling + [(a[0], b[1]) for a, b in pairwise(tiling)])
    levels = [[[s, e, cache[(s, e)]] for s, e in tiling]]
    joins = []
    while len(tiling) > 1:
        pri = [rank(cache[(a[0], b[1])], cache[a], cache[b]) for a, b in pairwise(tiling)]
        j = int(np.argmax(pri))
        a, b = tiling[j], tiling[j + 1]
        joined = (a[0], b[1])
        joins.append({"left": list(a), "right": list(b), "score": cache[joined],
                      "interaction": cache[joined] - cache[a] - cache[b], "priority": float(pri[j])})
        tiling = tiling[:j] + [joined] + tiling[j + 2:]
        fresh = []
        if j > 0:
            fresh.append((tiling[j - 1][0], joined[1]))
        if j + 1 < len(tiling):
            fresh.append((joined[0], tiling[j + 1][1]))
        score(fresh)
        levels.append([[s, e, cache[(s, e)]] for s, e in tiling])
    from .base import _words

    return CDTree(words=_words(enc)[0], target=tgt.to_dict(), target_value=explainer._f_x(enc, resolved),
                  levels=levels, joins=joins,
                  config={**explainer.params(), "priority": priority, "rows": explainer.forward_passes})
