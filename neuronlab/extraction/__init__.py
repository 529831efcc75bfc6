"""Extraction of per-site activations into an activation store."""
from .config import ExtractionConfig
from .extractor import Extractor, extract

__all__ = ["ExtractionConfig", "Extractor", "extract"]
