"""File names inside a report directory that several parts of the report agree on.

>>> dossier_path("layers.3.mlp:1021")
'neurons/layers.3.mlp-1021.html'
"""
from __future__ import annotations

from neuronlab.sites import parse_neuron_id

__all__ = ["dossier_path", "DOSSIER_DIR", "EXPLORER_ANCHOR"]

#: folder of the neuron dossiers, relative to the report directory
DOSSIER_DIR = "neurons"
#: id of the explorer's element in index.html (links from dossiers go to ``../index.html#explorer``)
EXPLORER_ANCHOR = "explorer"


def dossier_path(neuron_id: str) -> str:
    """Relative path of a neuron's dossier page: ``neurons/<site>-<index>.html``.

    Site names only hold ``[a-z0-9.]`` (see :mod:`neuronlab.sites`), so the path never carries text from
    the store; an id that is not ``site:index`` is refused.
    """
    site, index = parse_neuron_id(neuron_id)
    return f"{DOSSIER_DIR}/{site}-{int(index)}.html"
