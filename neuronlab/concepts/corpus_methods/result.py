"""Top contexts and top n-grams of a store's neurons as one typed result."""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from neuronlab.results import Result

from .columns import read_neurons
from .contexts import top_contexts
from .ngrams import top_ngrams

__all__ = ["ContextsResult", "describe_contexts"]


@dataclasses.dataclass
class ContextsResult(Result):
    """Per neuron: its top-k contexts (rows with sentence windows) and its top n-grams for each n.

    ``neurons`` is a list of dicts ``{"neuron", "contexts": [...], "ngrams": {"1": [...], "2": [...]}}`` with the
    entries of :func:`~neuronlab.concepts.corpus_methods.contexts.top_contexts` and
    :func:`~neuronlab.concepts.corpus_methods.ngrams.top_ngrams`.
    """

    kind = "contexts"

    neurons: list
    config: dict

    def arrays(self) -> dict[str, np.ndarray]:
        k = max((len(n["contexts"]) for n in self.neurons), default=0)
        rows = np.full((len(self.neurons), k), -1, dtype=np.int64)
        acts = np.full((len(self.neurons), k), np.nan)
        for i, n in enumerate(self.neurons):
            for j, c in enumerate(n["contexts"]):
                rows[i, j], acts[i, j] = c["row"], c["activation"]
        return {"neuron_ids": np.array([n["neuron"] for n in self.neurons], dtype=object), "top_rows": rows,
                "top_activations": acts}

    def table(self) -> str:
        lines = []
        for n in self.neurons:
            lines.append(f"{n['neuron']}")
            for c in n["contexts"]:
                lines.append(f"  {c['activation']:8.3f}  {c['context']}")
            for size, grams in n["ngrams"].items():
                shown = ", ".join(f"{g['ngram']!r} {g['activation']:.2f} (x{g['count']})" for g in grams)
                lines.append(f"  top {size}-grams: {shown}")
        return "\n".join(lines)


def describe_contexts(store: Any, neurons: str | Sequence[str], *, k: int = 10, window: int = 5,
                      ngram_sizes: Sequence[int] = (1, 2, 3), ngram_k: int = 10, min_count: int = 2,
                      reduce: str = "mean", lowercase: bool = True) -> ContextsResult:
    """Top contexts and n-grams of neurons of an activation store (word or token granularity).

    Parameters
    ----------
    store : ActivationStore
    neurons : str or sequence of str
        Neuron ids ``site:index`` or site names/globs.
    k, window
        See :func:`~neuronlab.concepts.corpus_methods.contexts.top_contexts`.
    ngram_sizes, ngram_k, min_count, reduce, lowercase
        See :func:`~neuronlab.concepts.corpus_methods.ngrams.top_ngrams` (``ngram_k`` is its ``k``).
    """
    from neuronlab.errors import InvalidParameterError

    if store.granularity == "sentence":
        raise InvalidParameterError("top contexts need a word or token store; the rows of this store are sentences")
    X, ids = read_neurons(store, neurons)
    tokens, offsets = store.tokens(), store.offsets
    out = []
    for j, nid in enumerate(ids):
        out.append({"neuron": nid, "contexts": top_contexts(X[:, j], tokens, offsets, k=k, window=window),
                    "ngrams": {str(n): top_ngrams(X[:, j], tokens, offsets, n=n, k=ngram_k, min_count=min_count,
                                                  reduce=reduce, lowercase=lowercase) for n in ngram_sizes}})
    config = {"k": k, "window": window, "ngram_sizes": list(ngram_sizes), "ngram_k": ngram_k,
              "min_count": min_count, "reduce": reduce, "lowercase": lowercase}
    return ContextsResult(out, config)
