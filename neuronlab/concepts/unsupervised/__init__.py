"""Unsupervised concept analysis: NMF neuron groups, UMAP maps, latent concepts and cluster evaluation.

Estimators follow the scikit-learn contract and read arrays or lazy store views; nothing here imports
torch. Importing the package does no work: names load on first access (PEP 562), and umap-learn (an
optional extra, ``pip install 'neuronlab[umap]'``) only when a map is fitted.

- :class:`ActivationNMF` (``nmf.py``): non-negative factorisation into groups of neurons (as Ecco).
- :class:`NeuronUMAP`, :class:`TokenUMAP` (``umap_embed.py``).
- :class:`LatentConcepts` (``latent.py``): Ward clusters of contextual representations (Dalvi et al. 2022).
- ``metrics.py``: :func:`bcubed`, :func:`npmi`, :func:`cluster_alignment`, :class:`ClusterLabelClassifier`.
- ``discover.py``: the store-level drivers and the :data:`DISCOVERY` registry behind ``neuronlab discover``.
"""
from __future__ import annotations

import importlib

__all__ = ["ActivationNMF", "NeuronUMAP", "TokenUMAP", "LatentConcepts", "sample_per_type", "bcubed", "npmi",
           "cluster_alignment", "ClusterLabelClassifier", "DISCOVERY", "discover_nmf", "discover_umap",
           "discover_latent", "NMFResult", "UMAPResult", "LatentConceptsResult"]

_LAZY = {
    "ActivationNMF": ".nmf", "NeuronUMAP": ".umap_embed", "TokenUMAP": ".umap_embed",
    "LatentConcepts": ".latent", "sample_per_type": ".latent",
    "bcubed": ".metrics", "npmi": ".metrics", "cluster_alignment": ".metrics", "ClusterLabelClassifier": ".metrics",
    "DISCOVERY": ".discover", "discover_nmf": ".discover", "discover_umap": ".discover",
    "discover_latent": ".discover",
    "NMFResult": ".results", "UMAPResult": ".results", "LatentConceptsResult": ".results",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
