"""The activation store (HDF5): lazy mapping-style access, views, labels, results, NeuroX import/export."""
from .neurox import export_neurox, import_neurox
from .store import ActivationStore, Label
from .view import SiteArray, StoreView

__all__ = ["ActivationStore", "Label", "SiteArray", "StoreView", "import_neurox", "export_neurox"]
