"""Read the activations of chosen neurons (``site:index`` ids, or whole sites) from a store, chunk by chunk."""
from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from neuronlab.errors import InvalidParameterError, choices
from neuronlab.sites import expand_sites, neuron_id, parse_neuron_id

__all__ = ["resolve_neurons", "read_neurons"]

_NEURON = re.compile(r".+:\d+\Z")


def resolve_neurons(store: Any, neurons: str | Sequence[str]) -> list[tuple[str, int]]:
    """``(site, index)`` of every neuron named: ids ``site:index``, or site names/globs for all their neurons.

    Parameters
    ----------
    store : ActivationStore
    neurons : str or sequence of str
        Comma-separated or a list, e.g. ``"layers.3.mlp:1021,layers.2:5"`` or ``"layers.5.mlp"``.

    Raises
    ------
    InvalidParameterError
        An empty selection, an unknown site, or an index outside its site (the message gives the width).
    """
    items = [s.strip() for s in (neurons.split(",") if isinstance(neurons, str) else neurons)]
    items = [s for s in items if s]
    if not items:
        raise InvalidParameterError("neurons: give neuron ids site:index (e.g. layers.3.mlp:1021) or site names")
    out: list[tuple[str, int]] = []
    for item in items:
        if _NEURON.match(item):
            site, idx = parse_neuron_id(item)
            if site not in store.sites:
                raise InvalidParameterError(f"neuron {item!r}: site {site!r} is not in the store; stored sites: "
                                            f"{choices(store.sites)}")
            width = store[site].shape[1]
            if idx >= width:
                raise InvalidParameterError(f"neuron {item!r} is out of range: site {site!r} has {width} neurons "
                                            f"(0..{width - 1})")
            out.append((site, idx))
        else:
            for site in expand_sites(item, store.sites):
                out.extend((site, i) for i in range(store[site].shape[1]))
    return out


def read_neurons(store: Any, neurons: str | Sequence[str], *, chunk_rows: int = 8192) -> tuple[np.ndarray, list[str]]:
    """Activations of the named neurons over all rows, float32 of shape (n_rows, n_selected), and their ids.

    Rows are read in chunks of ``chunk_rows`` per site, so only the selected columns are ever held in full.
    """
    pairs = resolve_neurons(store, neurons)
    out = np.empty((store.n_rows, len(pairs)), dtype=np.float32)
    by_site: dict[str, list[tuple[int, int]]] = {}
    for col, (site, idx) in enumerate(pairs):
        by_site.setdefault(site, []).append((col, idx))
    for site, cols in by_site.items():
        ds = store[site]
        dest = np.array([c for c, _ in cols])
        src = np.array([i for _, i in cols])
        for start in range(0, store.n_rows, chunk_rows):
            block = ds[start:start + chunk_rows]
            out[start:start + block.shape[0], dest] = block[:, src]
    return out, [neuron_id(s, i) for s, i in pairs]
