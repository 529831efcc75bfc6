"""The activation store (HDF5): lazy mapping-style access, views, labels, results, NeuroX import/export."""
from .store import ActivationStore, Label
from .view import SiteArray, StoreView

__all__ = ["ActivationStore", "Label", "SiteArray", "StoreView"]
