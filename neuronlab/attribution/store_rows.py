"""Attributions per store row: an attribution result aligned with the rows of the activation store it explains.

An :class:`~neuronlab.attribution.result.AttributionResult` holds one value per *model token* (subword) and
unit. The store holds one row per word, per token or per sentence (its granularity). :func:`row_values` maps
each input to the store sentence with the same words (texts are the words joined by spaces) and each token
to that sentence's rows, summing where several tokens make one row (attributions are additive: the row's
value is the attribution of everything it stands for):

=============== ================================================================================
granularity     row value
=============== ================================================================================
``word``        sum over the word's subword tokens (special tokens belong to no row)
``token``       the token's value (rows for special tokens where the store kept them)
``sentence``    sum over every token of the sentence
=============== ================================================================================

Units: the neurons of a layer method (``(n_rows, width)``), the one neuron of neuron conductance
(``(n_rows, 1)``), the heads of self-attention attribution (``(n_rows, heads)``: the attribution of what the
row's token hands to the others, summed over the queries). :func:`read_row_attributions` reads them back,
sparse or as a dense ``(store rows, units)`` matrix with NaN for rows that were not attributed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, StoreError

__all__ = ["row_values", "RowAttributions", "read_row_attributions", "ROW_ARRAYS"]

#: the arrays a result gains when written with its inputs (see AttributionResult.to_store)
ROW_ARRAYS = ("row_index", "row_values", "example_sentence")


def _token_units(attr: np.ndarray, e: int) -> np.ndarray:
    """``(n_tokens, units)`` of example e."""
    a = attr[e]
    if a.ndim == 1:  # neuron conductance: one neuron
        return a[:, None]
    if a.ndim == 3:  # heads x query x key: what each key token hands out, per head
        return a.sum(axis=1).T
    return a


def row_values(store, result, inputs) -> dict[str, np.ndarray]:
    """The result's values per store row.

    Parameters
    ----------
    store : ActivationStore
    result : AttributionResult
    inputs : list of list of str
        The words of each attributed input (as given to the method).

    Returns
    -------
    dict
        ``row_index`` (int64, the store rows that received values, ascending), ``row_values`` (float32,
        ``(len(row_index), units)``) and ``example_sentence`` (int64, the store sentence of each input, -1 where
        the store has no sentence with those words).

    Raises
    ------
    StoreError
        If a sentence's rows cannot be matched to the model's tokens (another tokenizer or truncation).
    """
    if len(inputs) != result.n_examples:
        raise InvalidParameterError(f"inputs: expected {result.n_examples} (one per example), got {len(inputs)}")
    texts = store.texts()
    where: dict[str, int] = {}
    for i, t in enumerate(texts):
        where.setdefault(t, i)
    offsets = store.offsets
    gran = store.granularity
    row_word = store.row_words() if gran == "token" else None
    n_done = store.n_done
    rows: dict[int, np.ndarray] = {}
    sentence = np.full(len(inputs), -1, dtype=np.int64)
    for e, words in enumerate(inputs):
        s = where.get(" ".join(str(w) for w in words), -1)
        if s < 0 or s >= n_done:
            continue
        sentence[e] = s
        vals = _token_units(result.attributions, e)
        wid = np.asarray(result.word_ids[e][: vals.shape[0]])
        r0, r1 = int(offsets[s]), int(offsets[s + 1])
        if gran == "sentence":
            rows[r0] = vals.sum(axis=0)  # zero at padding
        elif gran == "word":
            for w in range(r1 - r0):
                rows[r0 + w] = vals[wid == w].sum(axis=0)
        else:
            n_tok = len(result.tokens[e])
            content = np.flatnonzero(wid[:n_tok] >= 0)
            if r1 - r0 == n_tok:
                picks = np.arange(n_tok)
            elif r1 - r0 == len(content):
                picks = content
            else:
                raise StoreError(f"store sentence {s} has {r1 - r0} token rows, the model has {n_tok} tokens "
                                 f"({len(content)} without special tokens): the store was tokenised differently")
            if row_word is not None and not np.array_equal(row_word[r0:r1], wid[picks]):
                raise StoreError(f"store sentence {s}: its token rows belong to other words than the model's tokens")
            for k, t in enumerate(picks):
                rows[r0 + k] = vals[t]
    idx = np.array(sorted(rows), dtype=np.int64)
    units = _token_units(result.attributions, 0).shape[1]
    vals = np.stack([rows[i] for i in idx]).astype(np.float32) if len(idx) else np.zeros((0, units), np.float32)
    return {"row_index": idx, "row_values": vals, "example_sentence": sentence}


@dataclass
class RowAttributions:
    """Attributions of a stored result per store row.

    Attributes
    ----------
    rows : ndarray of int64, shape (n,)
        Store rows that received values.
    values : ndarray of shape (n, units)
    unit_ids : list of str
        ``site:index`` of each unit (neurons, or heads of an ``attn.probs`` site).
    example_sentence : ndarray of int64
        Store sentence of each attributed input (-1: not in the store).
    site, method : str
    """

    rows: np.ndarray
    values: np.ndarray
    unit_ids: list
    example_sentence: np.ndarray
    site: str
    method: str

    def dense(self, n_rows: int) -> np.ndarray:
        """``(n_rows, units)`` float32, NaN at rows without a value."""
        out = np.full((n_rows, self.values.shape[1]), np.nan, dtype=np.float32)
        out[self.rows] = self.values
        return out


def read_row_attributions(store, name: str) -> RowAttributions:
    """Read the per-row attributions of ``/results/<name>`` (written by ``AttributionResult.to_store(...,
    inputs=...)`` or ``neuronlab attribute --store``).

    Raises
    ------
    InvalidParameterError
        If the result does not exist or holds no per-row values.
    """
    res = store.read_result(name)
    if "row_index" not in res:
        raise InvalidParameterError(f"result {name!r} has no per-row attributions; write it with its inputs "
                                    "(neuronlab attribute --store, or AttributionResult.to_store(..., inputs=...))")
    cfg = res["config"]
    ids = [str(x) for x in res.get("neuron_ids", [])]
    if not ids:  # neuron conductance: the one neuron
        ids = [f"{cfg.get('site')}:{cfg.get('neuron')}"]
    return RowAttributions(np.asarray(res["row_index"], dtype=np.int64), np.asarray(res["row_values"]), ids,
                           np.asarray(res["example_sentence"], dtype=np.int64), cfg.get("site"), cfg.get("method"))
