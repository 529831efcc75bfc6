"""Model loading (aliases, paths, hub ids), architecture adapters and scoped site hooks."""
from .adapters import ADAPTERS, Adapter, Hook, StackSpec, get_adapter, register_adapter
from .capture import SiteCapture, SiteHooks, StopForward, list_sites, model_sites
from .live import LiveModel, load_live
from .loading import ALIASES, LoadedModel, load_model, register_alias, resolve_model_path
from .targets import TARGETS, Target

__all__ = [
    "ADAPTERS", "Adapter", "Hook", "StackSpec", "get_adapter", "register_adapter",
    "SiteCapture", "SiteHooks", "StopForward", "list_sites", "model_sites",
    "ALIASES", "LoadedModel", "load_model", "register_alias", "resolve_model_path",
    "LiveModel", "load_live", "Target", "TARGETS",
]
