"""Registries of methods: one generic type for rankers today, attributors, explainers, interventions and
report sections tomorrow.

A :class:`Registry` maps a key (the name users type: ``rf``, ``iou``) to an :class:`Entry` that holds
everything a caller needs: the object (a class or a function; given directly or as an import path
``"package.module:Name"`` so that listing a registry imports nothing heavy), a one-line description,
the paper, and the parameters a command line may set (:class:`Param`, with types and help). A family
adds its own fields by subclassing :class:`Entry` (rankers add ``level``). Look-ups of unknown keys
raise :class:`~neuronlab.errors.UnknownKeyError` listing the registered keys and how to add one; unknown
or mistyped parameters raise :class:`~neuronlab.errors.InvalidParameterError` listing the valid ones.

Examples
--------
>>> reg = Registry("number type", how_to_add="register an Entry")
>>> params = (Param("numerator", int, "the numerator"), Param("denominator", int, "the denominator"))
>>> _ = reg.register(Entry("fraction", "fractions:Fraction", "an exact ratio", params=params))
>>> reg["fraction"].build(**reg["fraction"].parse_params({"numerator": "3", "denominator": "6"}))
Fraction(1, 2)
>>> list(reg)
['fraction']
>>> reg["real"]
Traceback (most recent call last):
...
neuronlab.errors.UnknownKeyError: unknown number type 'real'; valid: fraction (register an Entry)
>>> reg["fraction"].parse_params({"base": "2"})
Traceback (most recent call last):
...
neuronlab.errors.InvalidParameterError: unknown parameter 'base' for number type 'fraction'; valid: numerator, denominator
>>> reg["fraction"].parse_params({"numerator": "one"})
Traceback (most recent call last):
...
neuronlab.errors.InvalidParameterError: parameter 'numerator' of number type 'fraction' must be an int; got 'one'
"""
from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, Mapping, TypeVar

from neuronlab.errors import InvalidParameterError, UnknownKeyError, choices

__all__ = ["Param", "Entry", "Registry"]

_TYPE_NAMES = {bool: "true/false", int: "an int", float: "a number", str: "a string", list: "a JSON list"}


@dataclass(frozen=True)
class Param:
    """A parameter that a command line may set (``--param NAME=VALUE``).

    Parameters
    ----------
    name : str
        The keyword argument of the registered object.
    type : type or tuple of types
        Accepted Python types of the value after parsing (``bool``, ``int``, ``float``, ``str``,
        ``list``); ``float`` accepts ints. ``VALUE`` is read as JSON when it parses (``200``,
        ``0.99``, ``true``, ``[1, 2]``, ``null``), else as a string.
    help : str
        One line for ``--help``.
    choices : tuple, optional
        Allowed values (strings), if the parameter is an option.
    nullable : bool, default=False
        ``none``/``null`` is allowed (Python ``None``).
    """

    name: str
    type: type | tuple
    help: str
    choices: tuple = ()
    nullable: bool = False

    @property
    def types(self) -> tuple:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    def describe(self) -> str:
        """The accepted values in words, e.g. ``an int or none``."""
        if self.choices:
            kinds = ["one of " + ", ".join(map(str, self.choices))]
            kinds += [_TYPE_NAMES.get(t, t.__name__) for t in self.types if t is not str]
        else:
            kinds = [_TYPE_NAMES.get(t, t.__name__) for t in self.types]
        return " or ".join(kinds + (["none"] if self.nullable else []))

    def parse(self, text: str, *, owner: str = "") -> Any:
        """The typed value of ``text`` (a command-line string), or a one-line error."""
        if self.nullable and text.strip().lower() in ("none", "null"):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, str) and text.strip().lower() in ("true", "false") and bool in self.types:
            value = text.strip().lower() == "true"
        ok = any(_is_instance(value, t) for t in self.types)
        if ok and self.choices and isinstance(value, str):
            ok = value in self.choices
        if not ok:
            where = f" of {owner}" if owner else ""
            raise InvalidParameterError(
                f"parameter {self.name!r}{where} must be {self.describe()}; got {text!r}"
            )
        if float in self.types and isinstance(value, int) and not isinstance(value, bool) and int not in self.types:
            value = float(value)
        return value


def _is_instance(value: Any, t: type) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


@dataclass(frozen=True)
class Entry:
    """One registered method.

    Parameters
    ----------
    name : str
        The registry key (what users type).
    target : object or str
        The class or function, or its import path ``"package.module:Name"`` (imported on first use).
    description : str
        One line for listings and ``--help``.
    reference : str, optional
        The paper (authors, year).
    params : tuple of Param
        The parameters a command line may set.
    """

    name: str
    target: Any
    description: str
    reference: str = ""
    params: tuple = field(default=())
    kind: str = field(default="method", compare=False)

    def load(self) -> Any:
        """The registered object (importing its module if it was given as a path)."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def parse_params(self, items: Mapping[str, str]) -> dict:
        """Command-line ``NAME -> VALUE`` strings to typed keyword arguments.

        Raises
        ------
        InvalidParameterError
            For an unknown name or a value of the wrong type; the message lists the valid parameters.
        """
        by_name = {p.name: p for p in self.params}
        out = {}
        for name, text in items.items():
            if name not in by_name:
                raise InvalidParameterError(
                    f"unknown parameter {name!r} for {self.kind} {self.name!r}; valid: "
                    f"{choices(self.param_names) or '(none: this method takes no parameters)'}"
                )
            out[name] = by_name[name].parse(text, owner=f"{self.kind} {self.name!r}")
        return out

    def accepted(self) -> list[str]:
        """Every keyword the registered object accepts (its estimator parameters or signature)."""
        obj = self.load()
        if hasattr(obj, "_get_param_names"):
            return list(obj._get_param_names())
        sig = inspect.signature(obj)
        return [n for n, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def build(self, **params: Any) -> Any:
        """Call the registered object with ``params`` (unknown names: one error listing the valid ones)."""
        valid = self.accepted()
        unknown = [n for n in params if n not in valid]
        if unknown:
            raise InvalidParameterError(
                f"unknown parameter {unknown[0]!r} for {self.kind} {self.name!r}; valid: "
                f"{choices(valid) or '(none: this method takes no parameters)'}"
            )
        return self.load()(**params)


E = TypeVar("E", bound=Entry)


class Registry(Generic[E]):
    """Key -> :class:`Entry` (a read-only mapping plus :meth:`register` / :meth:`unregister`).

    Parameters
    ----------
    kind : str
        What the keys name, for messages ("ranking method").
    how_to_add : str
        Appended to the error for an unknown key.
    """

    def __init__(self, kind: str, *, how_to_add: str = "") -> None:
        self.kind = kind
        self.how_to_add = how_to_add
        self._entries: dict[str, E] = {}

    def register(self, entry: E, *, replace: bool = False) -> E:
        """Add ``entry`` under ``entry.name``; registering a taken name needs ``replace=True``."""
        if not replace and entry.name in self._entries:
            raise InvalidParameterError(
                f"{self.kind} {entry.name!r} is already registered; pass replace=True to replace it"
            )
        object.__setattr__(entry, "kind", self.kind)
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> E:
        """Remove and return the entry ``name``."""
        entry = self[name]
        del self._entries[name]
        return entry

    def __getitem__(self, name: str) -> E:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            hint = f" ({self.how_to_add})" if self.how_to_add else ""
            raise UnknownKeyError(
                f"unknown {self.kind} {name!r}; valid: {choices(sorted(self._entries))}{hint}"
            ) from None

    def get(self, name: str, default: Any = None) -> E | Any:
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[E]:
        return list(self._entries.values())

    def items(self) -> list[tuple[str, E]]:
        return list(self._entries.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, keys={sorted(self._entries)})"
