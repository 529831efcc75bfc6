"""Typed attribution results: the values, their convergence delta and the configuration that produced them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AttributionResult"]


@dataclass
class AttributionResult:
    """What an attribution method returns.

    Attributes
    ----------
    method : str
        Registry name of the method (``layer_conductance``, ...).
    site : str
        The site whose neurons are attributed.
    attributions : ndarray
        ``(n_examples, n_tokens, width)`` for layer methods (one value per token position and neuron);
        ``(n_examples, n_tokens)`` for neuron conductance (one value per input token);
        ``(n_examples, heads, n_tokens, n_tokens)`` for self-attention attribution (one value per head,
        query token and key token; the units of a ``layers.L.attn.probs`` site are its heads). Zero at padding.
    delta : ndarray of shape (n_examples,)
        Convergence delta: ``attributions.sum() - (F(input) - F(baseline))`` per example.
    f_input, f_baseline : ndarray of shape (n_examples,)
        The target at the input and at the baseline.
    tokens : list of list of str
        Subword strings of each example (padding excluded).
    word_ids : list of list of int
        Word of each token position, -1 for special and padding tokens.
    config : dict
        Everything needed to reproduce the values (method, site, rule, steps, baseline, target, model).
    extras : dict of ndarray
        Method-specific arrays stored with the result (self-attention attribution: ``probs``, the attention
        probabilities the attribution explains).
    """

    method: str
    site: str
    attributions: np.ndarray
    delta: np.ndarray
    f_input: np.ndarray
    f_baseline: np.ndarray
    tokens: list
    word_ids: list
    config: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    @property
    def n_examples(self) -> int:
        return int(self.attributions.shape[0])

    def per_neuron(self) -> np.ndarray:
        """Attribution of each neuron summed over token positions: ``(n_examples, width)``.

        For self-attention attribution the units are the heads: each head's attribution summed over its matrix.
        """
        if self.attributions.ndim == 4:
            return self.attributions.sum(axis=(2, 3))
        if self.attributions.ndim != 3:
            raise ValueError(f"{self.method} attributes input tokens, not neurons")
        return self.attributions.sum(axis=1)

    def per_token(self) -> np.ndarray:
        """Attribution of each token position summed over neurons: ``(n_examples, n_tokens)``.

        For self-attention attribution: summed over heads and query tokens, i.e. the attribution of the
        information each (key) token hands to the others.
        """
        if self.attributions.ndim == 4:
            return self.attributions.sum(axis=(1, 2))
        return self.attributions.sum(axis=2) if self.attributions.ndim == 3 else self.attributions

    def head_importance(self) -> np.ndarray:
        """Self-attention attribution only: the maximum of each head's attribution matrix, ``(n_examples, heads)``.

        Averaged over examples this is the head importance of Hao et al. (2021), eq. 3.
        """
        if self.attributions.ndim != 4:
            raise ValueError(f"{self.method} does not attribute attention heads")
        return self.attributions.max(axis=(2, 3))

    def relative_delta(self) -> np.ndarray:
        """``|delta| / |F(input) - F(baseline)|`` per example."""
        return np.abs(self.delta) / np.maximum(np.abs(self.f_input - self.f_baseline), 1e-12)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types, JSON-serialisable."""
        return {
            "method": self.method, "site": self.site, "attributions": self.attributions.tolist(),
            "delta": self.delta.tolist(), "f_input": self.f_input.tolist(), "f_baseline": self.f_baseline.tolist(),
            "tokens": self.tokens, "word_ids": self.word_ids, "config": self.config,
            **({"extras": {k: np.asarray(v).tolist() for k, v in self.extras.items()}} if self.extras else {}),
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def to_store(self, store, name: str, *, inputs=None) -> str:
        """Write the result under ``/results/<name>`` of an :class:`~neuronlab.store.ActivationStore` (writable).

        Arrays: ``attributions``, ``delta``, ``f_input``, ``f_baseline``, ``lengths`` (tokens per example),
        ``word_ids`` (padded with -1), ``tokens`` (flat, ``lengths`` per example) and, for layer methods,
        ``per_neuron`` and ``neuron_ids`` (``site:index``). With ``inputs`` (the words of each example), also the
        values per store row (:func:`~neuronlab.attribution.store_rows.row_values`: ``row_index``,
        ``row_values``, ``example_sentence``), read back by
        :func:`~neuronlab.attribution.store_rows.read_row_attributions`.
        """
        lengths = np.array([len(t) for t in self.tokens], dtype=np.int64)
        arrays: dict[str, Any] = {
            "attributions": self.attributions.astype(np.float32), "delta": self.delta, "f_input": self.f_input,
            "f_baseline": self.f_baseline, "lengths": lengths, "word_ids": np.asarray(self.word_ids, dtype=np.int32),
            "tokens": np.array([t for ts in self.tokens for t in ts], dtype=object),
        }
        if self.attributions.ndim in (3, 4):
            arrays["per_neuron"] = self.per_neuron().astype(np.float32)
            arrays["neuron_ids"] = np.array([f"{self.site}:{i}" for i in range(arrays["per_neuron"].shape[1])],
                                            dtype=object)
        if self.attributions.ndim == 4:
            arrays["head_importance"] = self.head_importance().astype(np.float32)
        for k, v in self.extras.items():
            arrays[k] = np.asarray(v, dtype=np.float32)
        if inputs is not None:
            from .store_rows import row_values

            arrays.update(row_values(store, self, inputs))
        return store.write_result(name, arrays, config=dict(self.config, method=self.method, site=self.site),
                                  kind=f"attribution/{self.method}")
