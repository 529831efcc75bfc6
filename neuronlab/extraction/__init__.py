"""Extraction of per-site activations into an activation store."""
from .config import ExtractionConfig
from .extractor import Extractor, extract
from .pipeline import PipelineHooks

__all__ = ["ExtractionConfig", "Extractor", "extract", "PipelineHooks"]
