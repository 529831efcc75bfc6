"""Helpers shared by the analysis sections (:mod:`neuronlab.report.sections_probes`, ``sections_redundancy``, ...)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from .markup import esc

__all__ = ["note", "missing", "compact", "label_of", "figure_name"]


def note(text: str) -> str:
    """A one-line note (escaped)."""
    return f'<p class="note">{esc(text)}</p>'


def missing(what: str, command: str) -> str:
    """The line a section shows when the store has none of its results: what is missing and the command to run.

    >>> missing("redundancy results", "neuronlab redundancy STORE")[:90]
    '<p class="note">No redundancy results in this store. Run `neuronlab redundancy STORE` (the'
    """
    return note(f"No {what} in this store. Run `{command}` (the result is written into the store), then build the "
                "report again.")


def compact(value: Any) -> str:
    """A configuration value as one line of JSON text (not escaped: pass it to a table or :func:`esc`)."""
    return json.dumps(value, sort_keys=True, default=str)


def label_of(name: str, values: Iterable[str], value: str) -> str:
    """``value``, with the result ``name`` added when another result has the same ``value``."""
    return f"{value} ({name})" if list(values).count(value) > 1 else value


def figure_name(prefix: str, i: int) -> str:
    """A figure file stem ``prefix_i`` (never built from the store's text).

    >>> figure_name("umap", 2)
    'umap_2'
    """
    return f"{prefix}_{int(i)}"
