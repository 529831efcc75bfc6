"""Aggregation views of explanations: subwords to words, words to spans, and the difference of two attributions
(issue 15).

Every view takes an :class:`~neuronlab.explain.base.Explanation` (a classifier's, one score per token/word)
or a :class:`~neuronlab.explain.gen_result.GenerationExplanation` (a [steps x columns] matrix per sentence)
and returns the same type at the coarser unit, so the tables, the store and the report keep working:

- :func:`to_words`: subword tokens grouped into words (the columns of a generation matrix, and its rows:
  the steps that produced the subwords of one target word). ``how`` picks the aggregation
  (:data:`AGGREGATIONS`); the default ``sum`` keeps completeness (a step's scores still sum to
  ``f_t(x) - f_t(x')``; the rows of a word sum to the attribution of the word's summed step targets, e.g.
  its log-probability). NaN entries (target tokens not produced yet) are skipped; a group of NaN only stays
  NaN.
- :func:`to_spans`: words grouped into spans, given as ``(start, end)`` word ranges per sentence or found by
  a chunker function ``words -> spans``; words outside every span stay words.
- :func:`difference`: ``a - b`` of two attributions, aligned by their units (words or tokens, with
  :class:`difflib.SequenceMatcher`): two targets on one input (same units: elementwise), or two inputs
  that differ in a few words (a unit present in one input only counts 0 in the other, and is marked).

References
----------
Sarti et al. (2023), "Inseq: an interpretability toolkit for sequence generation models" (aggregators);
Yin & Neubig (2022), "Interpreting language models with contrastive explanations".
"""
from __future__ import annotations

import copy
import difflib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, choices
from ..results import Result
from .base import Explanation
from .gen_result import GenerationExplanation

__all__ = [
    "AGGREGATIONS",
    "AttributionDifference",
    "aggregate",
    "align_tokens",
    "difference",
    "groups_of",
    "to_spans",
    "to_words",
]


def _nan_if_empty(fn):
    def agg(a: np.ndarray, axis: int) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        empty = np.isnan(a).all(axis=axis)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups: NaN, set below
            out = fn(a, axis)
        return np.where(empty, np.nan, out)
    return agg


def _absmax(a, axis):
    filled = np.where(np.isnan(a), 0.0, a)
    idx = np.expand_dims(np.abs(filled).argmax(axis=axis), axis)
    return np.take_along_axis(filled, idx, axis=axis).squeeze(axis)


#: how the scores of a group become one: sum (keeps completeness), mean, max, absmax (largest ``|score|``, signed)
AGGREGATIONS: dict[str, Callable] = {
    "sum": _nan_if_empty(lambda a, ax: np.nansum(a, axis=ax)),
    "mean": _nan_if_empty(lambda a, ax: np.nanmean(a, axis=ax)),
    "max": _nan_if_empty(lambda a, ax: np.nanmax(a, axis=ax)),
    "absmax": _nan_if_empty(_absmax),
}


def _check_how(how: str) -> Callable:
    if how not in AGGREGATIONS:
        raise InvalidParameterError(f"aggregation {how!r} is unknown; choose one of {choices(AGGREGATIONS)}")
    return AGGREGATIONS[how]


def groups_of(ids: Sequence[int]) -> list[list[int]]:
    """Positions grouped by id, in order of first appearance; every id -1 (special token) is a group of its own.

    >>> groups_of([-1, 0, 0, 1, -1])
    [[0], [1, 2], [3], [4]]
    """
    out: list[list[int]] = []
    seen: dict[int, int] = {}
    for pos, g in enumerate(ids):
        g = int(g)
        if g < 0 or g not in seen:
            if g >= 0:
                seen[g] = len(out)
            out.append([pos])
        else:
            out[seen[g]].append(pos)
    return out


def aggregate(values: Any, groups: Sequence[Sequence[int]], how: str = "sum", axis: int = -1) -> np.ndarray:
    """Aggregate ``values`` over the positions of each group along ``axis``.

    >>> aggregate(np.array([1., 2., np.nan, 4.]), [[0, 1], [2], [3]])
    array([ 3., nan,  4.])
    >>> aggregate(np.array([[1., -5.], [2., 3.]]), [[0, 1]], "absmax", axis=1)
    array([[-5.],
           [ 3.]])
    """
    fn = _check_how(how)
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    out = np.stack([fn(values[..., list(g)], -1) for g in groups], axis=-1) if groups else \
        np.zeros(values.shape[:-1] + (0,))
    return np.moveaxis(out, -1, axis)


def _clean(tok: str) -> str:
    return tok[2:] if tok.startswith("##") else tok.lstrip("\u0120\u2581 ")


def align_tokens(tokens: Sequence[str], words: Sequence[str]) -> list[int]:
    """Word of each token (-1: a token that belongs to no word, such as [CLS]) by matching characters.

    >>> align_tokens(["[CLS]", "nob", "##ody", "liked", "it", "[SEP]"], ["nobody", "liked", "it"])
    [-1, 0, 0, 1, 2, -1]

    Raises
    ------
    InvalidParameterError
        If the tokens do not spell the words (pass the word ids yourself then).
    """
    out, w, used = [], 0, 0
    norm = [str(x).lower() for x in words]
    for tok in tokens:
        piece = _clean(str(tok)).lower()
        if w < len(norm) and piece and norm[w].startswith(piece, used):
            out.append(w)
            used += len(piece)
            if used >= len(norm[w]):
                w, used = w + 1, 0
        else:
            out.append(-1)
    if w < len(norm):
        raise InvalidParameterError(f"the tokens {list(tokens)} do not spell the words {list(words)}; pass word_ids")
    return out


# ------------------------------------------------------------------ words
def to_words(ex: Any, how: str = "sum", *, rows: str | None = None, word_ids: Sequence[Sequence[int]] | None = None):
    """The explanation with subword tokens grouped into words.

    Parameters
    ----------
    ex : Explanation or GenerationExplanation
    how : str
        Aggregation of the columns (:data:`AGGREGATIONS`).
    rows : str, optional
        Aggregation of the rows of a generation matrix (the steps of one target word); default ``how``.
    word_ids : list of list of int, optional
        Explanation only: the word of each token (-1: none); default from the tokens and words.

    Returns
    -------
    Explanation or GenerationExplanation
        An Explanation with ``word_scores`` aggregated by ``how`` (``token_scores`` kept); a
        GenerationExplanation whose source and target tokens are words (special tokens stay as they are).
    """
    _check_how(how)
    if isinstance(ex, GenerationExplanation):
        return _gen_words(ex, how, how if rows is None else rows)
    if not isinstance(ex, Explanation):
        raise InvalidParameterError(f"to_words takes an Explanation or a GenerationExplanation; got {type(ex).__name__}")
    out = copy.deepcopy(ex)
    if ex.token_scores is None or (how == "sum" and word_ids is None):
        return out  # word-unit methods, or the sum the explanation already holds
    ids = word_ids or [align_tokens(ex.tokens[i], ex.words[i]) for i in range(len(ex.words))]
    scores = []
    for i, ts in enumerate(ex.token_scores):
        ids_i = list(ids[i])[:len(ts)]
        groups = [[p for p, w in enumerate(ids_i) if w == k] for k in range(len(ex.words[i]))]
        scores.append(aggregate(ts, groups, how).tolist())
    out.word_scores = scores
    out.config = {**ex.config, "view": f"words:{how}"}
    return out


def _gen_groups(ex: GenerationExplanation, i: int):
    src = groups_of(ex.source_word_ids[i])
    n_src, n_pre = len(ex.source_tokens[i]), len(ex.prefix_tokens[i])
    pre = [[n_src + k] for k in range(n_pre)]
    tgt_rows = groups_of(ex.target_word_ids[i])
    tgt = [[n_src + n_pre + p for p in g] for g in tgt_rows]
    return src, pre, tgt, tgt_rows


def _label(tokens: Sequence[str], group: Sequence[int], sep: str = "") -> str:
    if sep:
        return sep.join(str(tokens[p]) for p in group)
    return "".join(_clean(tokens[p]) if k else str(tokens[p]).lstrip("\u0120\u2581 ")
                   for k, p in enumerate(group)) or str(tokens[group[0]])


def _regroup(ex: GenerationExplanation, src_groups, tgt_groups, how: str, rows: str, view: str, sep: str = ""):
    """A generation explanation with its source / target tokens merged by the given groups (lists of lists of
    token positions; the prefix columns stay)."""
    rows_fn = _check_how(rows)
    out = copy.deepcopy(ex)
    out.scores, out.source_tokens, out.target_tokens = [], [], []
    out.source_word_ids, out.target_word_ids, out.step_values = [], [], []
    out.reference_values = None if ex.reference_values is None else []
    for i in range(len(ex.sources)):
        n_src, n_pre = len(ex.source_tokens[i]), len(ex.prefix_tokens[i])
        sg, tg = src_groups[i], tgt_groups[i]
        cols = sg + [[n_src + k] for k in range(n_pre)] + [[n_src + n_pre + p for p in g] for g in tg]
        mat = aggregate(np.asarray(ex.scores[i], dtype=np.float64), cols, how, axis=1)
        out.scores.append(aggregate(mat, tg, rows, axis=0) if tg else mat[:0])
        out.source_tokens.append([_label(ex.source_tokens[i], g, sep) for g in sg])
        out.target_tokens.append([_label(ex.target_tokens[i], g, sep) for g in tg])
        out.source_word_ids.append(_unit_ids(ex.source_word_ids[i], sg))
        out.target_word_ids.append(_unit_ids(ex.target_word_ids[i], tg))
        out.step_values.append([float(rows_fn(np.asarray(ex.step_values[i], dtype=np.float64)[g], 0)) for g in tg])
        if ex.reference_values is not None:
            out.reference_values.append([float(rows_fn(np.asarray(ex.reference_values[i], dtype=np.float64)[g], 0))
                                         for g in tg])
    out.config = {**ex.config, "view": view}
    return out


def _unit_ids(ids: Sequence[int], groups) -> list[int]:
    """Unit ids after grouping: special tokens stay -1, every other group is a unit of its own."""
    out, k = [], 0
    for g in groups:
        if len(g) == 1 and int(ids[g[0]]) < 0:
            out.append(-1)
        else:
            out.append(k)
            k += 1
    return out


def _gen_words(ex: GenerationExplanation, how: str, rows: str) -> GenerationExplanation:
    src, tgt = [], []
    for i in range(len(ex.sources)):
        s, _, _, t = _gen_groups(ex, i)
        src.append(s)
        tgt.append(t)
    return _regroup(ex, src, tgt, how, rows, f"words:{how}/{rows}")


# ------------------------------------------------------------------ spans
def _span_groups(n_words: int, spans: Sequence[Sequence[int]], i: int) -> list[list[int]]:
    """Word groups of one sentence: the spans ``(start, end)`` (end exclusive), other words alone."""
    owner = [-1] * n_words
    for k, sp in enumerate(spans):
        if len(sp) != 2:
            raise InvalidParameterError(f"sentence {i}: a span is (start, end); got {sp!r}")
        a, b = int(sp[0]), int(sp[1])
        if not 0 <= a < b <= n_words:
            raise InvalidParameterError(f"sentence {i}: span ({a}, {b}) is not within its {n_words} words "
                                        f"(0 <= start < end <= {n_words})")
        for w in range(a, b):
            if owner[w] >= 0:
                raise InvalidParameterError(f"sentence {i}: spans overlap at word {w}")
            owner[w] = k
    groups, seen = [], {}
    for w in range(n_words):
        k = owner[w]
        if k < 0:
            groups.append([w])
        elif k in seen:
            groups[seen[k]].append(w)
        else:
            seen[k] = len(groups)
            groups.append([w])
    return groups


def _spans_for(words_per_sentence, spans, chunker) -> list:
    if (spans is None) == (chunker is None):
        raise InvalidParameterError("give spans (a list of (start, end) word ranges per sentence) or a chunker "
                                    "function words -> spans, not both")
    if spans is None:
        spans = [list(chunker(list(w))) for w in words_per_sentence]
    if len(spans) != len(words_per_sentence):
        raise InvalidParameterError(f"spans: give one list per sentence ({len(words_per_sentence)}); got "
                                    f"{len(spans)}")
    return spans


def to_spans(ex: Any, spans: Sequence | None = None, *, chunker: Callable | None = None, how: str = "sum",
             target_spans: Sequence | None = None):
    """The explanation with words grouped into spans (after :func:`to_words` with ``sum``).

    Parameters
    ----------
    ex : Explanation or GenerationExplanation
    spans : list (per sentence) of list of (start, end), optional
        Word ranges (end exclusive) of the input (the source of a generation explanation).
    chunker : callable, optional
        ``words -> spans`` for each sentence (instead of ``spans``), e.g. a noun-phrase chunker.
    how : str
        Aggregation over the words of a span (:data:`AGGREGATIONS`).
    target_spans : list of list of (start, end), optional
        Generation only: spans of the target words (their rows and columns).
    """
    _check_how(how)
    if isinstance(ex, GenerationExplanation):
        words = to_words(ex, "sum")
        src_spans = _spans_for(_content_words(words.source_tokens, words.source_word_ids), spans, chunker)
        src = [_lift(_span_groups(max(ids, default=-1) + 1, src_spans[i], i), ids)
               for i, ids in enumerate(words.source_word_ids)]
        if target_spans is None:
            tgt = [[[p] for p in range(len(t))] for t in words.target_tokens]
        else:
            tsp = _spans_for(_content_words(words.target_tokens, words.target_word_ids), target_spans, None)
            tgt = [_lift(_span_groups(max(ids, default=-1) + 1, tsp[i], i), ids)
                   for i, ids in enumerate(words.target_word_ids)]
        return _regroup(words, src, tgt, how, how, f"spans:{how}", sep=" ")
    if not isinstance(ex, Explanation):
        raise InvalidParameterError(f"to_spans takes an Explanation or a GenerationExplanation; got {type(ex).__name__}")
    spans = _spans_for(ex.words, spans, chunker)
    out = copy.deepcopy(ex)
    out.words, out.word_scores = [], []
    for i, words in enumerate(ex.words):
        groups = _span_groups(len(words), spans[i], i)
        out.words.append([" ".join(words[w] for w in g) for g in groups])
        out.word_scores.append(aggregate(ex.word_scores[i], groups, how).tolist())
    out.token_scores = None
    out.config = {**ex.config, "view": f"spans:{how}"}
    return out


def _content_words(tokens, ids) -> list[list[str]]:
    return [[t for t, w in zip(tok, wid) if w >= 0] for tok, wid in zip(tokens, ids)]


def _lift(word_groups: list[list[int]], ids: Sequence[int]) -> list[list[int]]:
    """Word groups (word indices) to column groups (positions), special columns as groups of their own, in
    column order."""
    pos_of = {int(w): p for p, w in enumerate(ids) if w >= 0}
    first = {pos_of[g[0]]: [pos_of[w] for w in g] for g in word_groups}
    out = []
    for p, w in enumerate(ids):
        if w < 0:
            out.append([p])
        elif p in first:
            out.append(first[p])
    return out


# ------------------------------------------------------------------ differences
@dataclass
class AttributionDifference(Result):
    """``a - b`` per sentence, over the units (words or tokens) of the two attributions aligned.

    Attributes
    ----------
    units : list of list of str
        The aligned units (a's label where both have the unit).
    ops : list of list of str
        Per unit: ``equal`` (in both), ``a_only`` or ``b_only`` (counted 0 on the other side).
    diff : list of list
        Per sentence: one value per unit (Explanation) or a [steps x units] matrix (generation; the steps
        and the decoder prefix / target columns must be the same in both).
    config : dict
    """

    kind = "attribution_difference"

    units: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    diff: list = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        flat = [np.asarray(d, dtype=np.float64).ravel() for d in self.diff]
        off = np.concatenate([[0], np.cumsum([len(f) for f in flat])]).astype(np.int64)
        return {"diff_flat": np.concatenate(flat) if flat else np.zeros(0), "diff_offsets": off}


def _align(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, str, int, int]]:
    """``(label, op, index in a or -1, index in b or -1)`` for the alignment of two unit sequences."""
    out = []
    sm = difflib.SequenceMatcher(a=list(a), b=list(b), autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            out += [(a[i1 + k], "equal", i1 + k, j1 + k) for k in range(i2 - i1)]
            continue
        out += [(a[i], "a_only", i, -1) for i in range(i1, i2)]
        out += [(b[j], "b_only", -1, j) for j in range(j1, j2)]
    return out


def _pick(values: np.ndarray, idx: int, axis: int) -> np.ndarray:
    if idx < 0:
        return np.zeros(values.shape[:axis] + values.shape[axis + 1:])
    return np.take(values, idx, axis=axis)


def difference(a: Any, b: Any) -> AttributionDifference:
    """``a - b`` of two explanations of the same type, sentence by sentence, aligned by their units.

    Two targets (or methods) on one input: the units coincide and the difference is elementwise. Two inputs
    that differ in some words: units are aligned by :class:`difflib.SequenceMatcher`; a unit of one input
    only counts 0 on the other side (``ops`` marks it). For generation explanations the source columns are
    aligned; the target tokens (rows) must be the same (apply :func:`to_words` to both first for words).

    Raises
    ------
    InvalidParameterError
        If the types or numbers of sentences differ, or two generation explanations have different targets.
    """
    if type(a) is not type(b) or not isinstance(a, (Explanation, GenerationExplanation)):
        raise InvalidParameterError("difference takes two Explanations or two GenerationExplanations; got "
                                    f"{type(a).__name__} and {type(b).__name__}")
    n = len(a.sources) if isinstance(a, GenerationExplanation) else len(a.words)
    m = len(b.sources) if isinstance(b, GenerationExplanation) else len(b.words)
    if n != m:
        raise InvalidParameterError(f"the explanations have {n} and {m} sentences; give explanations of as many")
    units, ops, diffs = [], [], []
    for i in range(n):
        if isinstance(a, Explanation):
            al = _align(a.words[i], b.words[i])
            va, vb = np.asarray(a.word_scores[i], dtype=float), np.asarray(b.word_scores[i], dtype=float)
            diffs.append([float(_pick(va, ia, 0) - _pick(vb, ib, 0)) for _, _, ia, ib in al])
        else:
            if list(a.target_tokens[i]) != list(b.target_tokens[i]) or \
                    list(a.prefix_tokens[i]) != list(b.prefix_tokens[i]):
                raise InvalidParameterError(f"sentence {i}: the two generation explanations have different target "
                                            f"tokens ({a.target_tokens[i]} vs {b.target_tokens[i]}); force the same "
                                            "target text in both")
            al = _align(a.source_tokens[i], b.source_tokens[i])
            sa, sb = np.asarray(a.scores[i], dtype=float), np.asarray(b.scores[i], dtype=float)
            na, nb = len(a.source_tokens[i]), len(b.source_tokens[i])
            src = np.stack([_pick(sa, ia, 1) - _pick(sb, ib, 1) for _, _, ia, ib in al], axis=1) if al else \
                np.zeros((sa.shape[0], 0))
            diffs.append(np.concatenate([src, sa[:, na:] - sb[:, nb:]], axis=1).tolist())
            al += [(lab, "equal", -1, -1) for lab in list(a.prefix_tokens[i]) + list(a.target_tokens[i])]
        units.append([lab for lab, _, _, _ in al])
        ops.append([op for _, op, _, _ in al])
    cfg = {"a": {"method": a.method, "config": a.config}, "b": {"method": b.method, "config": b.config}}
    return AttributionDifference(units=units, ops=ops, diff=diffs, config=cfg)
