"""How ranked neurons spread over sites, and one probe per site (Dalvi et al. 2019; Durrani et al. 2020).

References
----------
Dalvi, F. et al. (2019). What is one grain of sand in the desert? AAAI.
Durrani, N., Sajjad, H., Dalvi, F., Belinkov, Y. (2020). Analyzing individual neurons in
pre-trained language models. EMNLP.
"""
from __future__ import annotations

from numbers import Integral
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import clone

from neuronlab.errors import InvalidParameterError

__all__ = ["site_of", "layer_distribution", "layerwise_accuracy"]


def site_of(neuron_id: str) -> str:
    """The site of a global neuron id ``"site:index"`` (``"layers.3.mlp:1021"`` -> ``"layers.3.mlp"``)."""
    site, sep, index = str(neuron_id).rpartition(":")
    if not sep or not site or not index.isdigit():
        raise InvalidParameterError(f"neuron ids must look like 'site:index' (e.g. 'layers.3.mlp:1021'); got {neuron_id!r}")
    return site


def layer_distribution(ranking: Sequence[int] | np.ndarray, neuron_ids: Sequence[str], k: int) -> dict[str, int]:
    """Number of the top-``k`` ranked neurons in each site.

    Parameters
    ----------
    ranking : sequence of int
        Best-first column indices.
    neuron_ids : sequence of str of length n_neurons
        Global id ``"site:index"`` of each column.
    k : int
        How many top neurons to count.

    Returns
    -------
    dict of str -> int
        Every site, in the order sites first appear in ``neuron_ids`` (0 when none selected).

    References
    ----------
    Durrani et al. (2020), Analyzing individual neurons in pre-trained language models. EMNLP.

    Examples
    --------
    >>> layer_distribution([3, 0, 1, 2], ["embeddings:0", "embeddings:1", "layers.0:0", "layers.0:1"], 2)
    {'embeddings': 1, 'layers.0': 1}
    """
    sites = [site_of(n) for n in neuron_ids]
    ranking = np.asarray(ranking, dtype=np.intp)
    if isinstance(k, bool) or not isinstance(k, Integral) or not 0 <= k <= len(ranking):
        raise InvalidParameterError(f"k must be an integer in [0, {len(ranking)}]; got {k!r}")
    if ranking.size and (ranking.min() < 0 or ranking.max() >= len(sites)):
        raise InvalidParameterError(
            f"ranking indices must be in [0, {len(sites)}) (one neuron id per column); got {ranking.min()}..{ranking.max()}"
        )
    counts = dict.fromkeys(sites, 0)
    for j in ranking[:k]:
        counts[sites[j]] += 1
    return counts


def layerwise_accuracy(
    probe: Any,
    data: Mapping[str, tuple[Any, Any]],
    y_train: Any,
    y_test: Any,
) -> dict[str, float]:
    """Test accuracy of one probe per site.

    Parameters
    ----------
    probe : classifier (cloned for each site)
    data : mapping site -> (X_train, X_test)
        Activations of each site for the same train and test rows.
    y_train, y_test : array-like

    Returns
    -------
    dict of str -> float
        In the order of ``data``.

    References
    ----------
    Dalvi et al. (2019), What is one grain of sand in the desert? AAAI (layer-wise probes).
    """
    if not isinstance(data, Mapping) or not data:
        raise InvalidParameterError(f"data must be a non-empty mapping site -> (X_train, X_test); got {type(data).__name__}")
    y_test = np.asarray(y_test)
    out: dict[str, float] = {}
    for site, pair in data.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidParameterError(f"data[{site!r}] must be a pair (X_train, X_test); got {type(pair).__name__}")
        X_train, X_test = pair
        model = clone(probe).fit(X_train, y_train)
        out[site] = float(np.mean(model.predict(X_test) == y_test))
    return out
