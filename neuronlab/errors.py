"""Exceptions raised for user mistakes.

Every error a user can cause derives from :class:`NeuronlabError`; the CLI prints its message
(without a stack trace) and exits with status 2. Messages name the offending parameter or file,
what was expected and what was received, and, for failed look-ups, the valid choices.
"""
from __future__ import annotations

import re
from typing import Mapping

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
    "ParameterConstraintError",
    "UnknownKeyError",
    "as_cli_flags",
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


class UnknownKeyError(InvalidParameterError, KeyError):
    """A registry look-up failed (method, attributor, ...); the message lists the registered keys."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


# ``NotFittedError`` and ``ParameterConstraintError`` also subclass scikit-learn's exceptions, so that
# code catching either library's error catches them. They are built on first access (PEP 562), so
# importing this module (every CLI command does) does not import scikit-learn.
def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as SkNotFittedError

    class NotFittedError(NeuronlabError, SkNotFittedError):
        """An estimator was used before ``fit`` (also a scikit-learn ``NotFittedError``, hence an
        ``AttributeError``: ``hasattr`` and ``check_is_fitted`` keep working)."""

    return NotFittedError


def _parameter_constraint_error() -> type:
    from sklearn.utils._param_validation import InvalidParameterError as SkInvalidParameterError

    class ParameterConstraintError(InvalidParameterError, SkInvalidParameterError):
        """A hyper-parameter violates its estimator's constraints table (also scikit-learn's
        ``InvalidParameterError``). The message names the parameter, the allowed values and the value
        received."""

    return ParameterConstraintError


_LAZY = {"NotFittedError": _not_fitted_error, "ParameterConstraintError": _parameter_constraint_error}


def __getattr__(name: str):
    if name in _LAZY:
        cls = _LAZY[name]()
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def as_cli_flags(message: str, flags: Mapping[str, str]) -> str:
    """Rewrite the Python spelling of parameters in ``message`` into command-line flags.

    Library errors name Python parameters (``overwrite=True``, ``sites=``, ``granularity='sentence'``);
    the CLI passes its own messages through this function with the flags of the command.

    Examples
    --------
    >>> as_cli_flags("select fewer sites (sites=) or raise max_memory_gb=", {"sites": "--sites",
    ...              "max_memory_gb": "--max-memory-gb"})
    'select fewer sites (--sites) or raise --max-memory-gb'
    >>> as_cli_flags("pass overwrite=True; extract with granularity='sentence'; got k=3",
    ...              {"overwrite": "--overwrite", "granularity": "--granularity", "k": "--top-k"})
    'pass --overwrite; extract with --granularity sentence; got k=3'
    """

    def flag(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        if name not in flags:
            return m.group(0)
        if value.startswith("'"):
            return f"{flags[name]} {value[1:-1]}"
        return flags[name]

    return re.sub(r"\b([A-Za-z_][A-Za-z0-9_]*)=(True\b|'[^']*'|(?![\w'\"(\[{.-]))", flag, message)


def choices(values) -> str:
    """Format a list of valid choices for an error message."""
    values = list(values)
    if len(values) > 30:
        return ", ".join(map(str, values[:30])) + f", ... ({len(values)} in all)"
    return ", ".join(map(str, values))
