"""Exceptions raised for user mistakes.

Every error a user can cause derives from :class:`NeuronlabError`; the CLI prints its message
(without a stack trace) and exits with status 2. Messages name the offending parameter or file,
what was expected and what was received, and, for failed look-ups, the valid choices.
"""
from __future__ import annotations

__all__ = [
    "NeuronlabError",
    "InvalidParameterError",
    "CorpusError",
    "StoreError",
    "IncompleteStoreError",
    "DamagedStoreError",
    "StoreLockedError",
    "StoreReadOnlyError",
    "NonFiniteError",
    "UnknownSiteError",
    "UnknownModelError",
    "NotFittedError",
]


class NeuronlabError(Exception):
    """Base class of every error caused by user input."""


class InvalidParameterError(NeuronlabError, ValueError):
    """A parameter has a value outside its allowed set or range."""


class CorpusError(NeuronlabError, ValueError):
    """A corpus or label file cannot be read (names the file, line and what is wrong)."""


class StoreError(NeuronlabError, OSError):
    """An activation store is missing, corrupted, foreign or would be overwritten."""


class IncompleteStoreError(StoreError):
    """The store comes from an interrupted run and was opened without ``allow_incomplete``."""


class DamagedStoreError(StoreError):
    """A store (or one result in it) whose structure is inconsistent; the message names what is wrong."""


class StoreLockedError(StoreError):
    """The store is held by another process (a running extraction or analysis writing to it)."""


class StoreReadOnlyError(StoreError, PermissionError):
    """The store was opened for writing but the file (or its folder) is not writable."""


class NonFiniteError(NeuronlabError, ValueError):
    """Activations hold NaN or +-inf (NaN also marks rows not yet written, so they are refused by default)."""


class UnknownSiteError(NeuronlabError, KeyError):
    """A site name (or pattern) matches no site; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UnknownModelError(NeuronlabError, ValueError):
    """A model alias, path or id cannot be resolved."""


class NotFittedError(NeuronlabError, AttributeError):
    """An estimator was used before ``fit``."""


def choices(values) -> str:
    """Format a list of valid choices for an error message."""
    values = list(values)
    if len(values) > 30:
        return ", ".join(map(str, values[:30])) + f", ... ({len(values)} in all)"
    return ", ".join(map(str, values))
