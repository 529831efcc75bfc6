"""Packages whose names load on first access (PEP 562), so that importing the package pulls no heavy library."""
from __future__ import annotations

import importlib
from typing import Callable


def lazy_names(package: str, names: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps a public name to the submodule defining it.

    A name is imported from ``package.<submodule>`` when first accessed and then cached in ``namespace`` (the
    package's globals); ``__dir__`` lists the lazy names too, so that autodoc and ``dir()`` see them.
    """

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
