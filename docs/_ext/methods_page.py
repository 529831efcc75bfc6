"""Sphinx extension: the "Methods and papers" page, generated from the method registries at build time.

``docs/methods.md`` holds the marker line ``<!-- registries -->``; on ``source-read`` it is replaced by one
table per :class:`neuronlab.registry.Registry` (key, command-line name, what it does, paper, implementation),
read from the registries themselves. Registries not listed in :data:`KNOWN` are found by walking the package,
so a registry added later appears without an edit here.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- registries -->"


@dataclass(frozen=True)
class Known:
    """How to present one registry: where it lives, its heading and the command that offers its keys."""

    path: str      # "package.module:NAME"
    title: str
    command: str   # how a user calls an entry; "{key}" and "{short}" are filled in; "" = Python only


KNOWN = (
    Known("neuronlab.concepts.rankers:RANKERS", "Neuron rankers", "rank --method {key}"),
    Known("neuronlab.attribution.methods:METHODS", "Attribution methods", "{command} --method {short}"),
    Known("neuronlab.concepts.multimodel.study:CROSSMODEL_METHODS", "Several models", "crossmodel --method {key}"),
    Known("neuronlab.concepts.unsupervised.discover:DISCOVERY", "Unsupervised discovery", "discover --method {key}"),
    Known("neuronlab.report.sections:SECTIONS", "Report sections", "report --sections {key}"),
)


def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def discover_registries() -> list[tuple[str, object]]:
    """Every :class:`~neuronlab.registry.Registry` instance defined in a neuronlab module, as ``(path, registry)``.

    Modules that fail to import (an optional dependency missing) are skipped; ``neuronlab.__main__`` is never
    imported (it runs the command line).
    """
    import neuronlab
    from neuronlab.registry import Registry

    found: dict[int, tuple[str, object]] = {}
    for info in pkgutil.walk_packages(neuronlab.__path__, "neuronlab."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional dependency; autodoc reports real import errors
            continue
        for name, value in list(vars(module).items()):
            if isinstance(value, Registry) and id(value) not in found:
                found[id(value)] = (f"{info.name}:{name}", value)
    return list(found.values())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip() or "-"


def documented_modules() -> set[str]:
    """The modules the API pages document (``.. automodule::`` lines of ``docs/api-*.md``)."""
    docs = Path(__file__).resolve().parents[1]
    return {m for page in docs.glob("api-*.md")
            for m in re.findall(r"^\.\. automodule:: *([\w.]+)", page.read_text(encoding="utf-8"), re.M)}


def public_path(target: str) -> str | None:
    """``package.module.name`` under which the API reference documents ``target`` (``"module:Name"``).

    That is the deepest documented module, the defining one or a package above it, whose ``__all__`` exports the
    name (the API pages document modules by their ``__all__``); None if none does (a private implementation).
    """
    module, _, name = target.partition(":")
    parts = module.split(".")
    documented = documented_modules()
    for i in range(len(parts), 0, -1):
        path = ".".join(parts[:i])
        if path not in documented:
            continue
        try:
            mod = importlib.import_module(path)
        except ImportError:
            continue
        if name in getattr(mod, "__all__", ()):
            return f"{path}.{name}"
    return None


def _target(entry) -> str:
    target = entry.target
    if not isinstance(target, str):
        target = f"{target.__module__}:{target.__qualname__}"
    public = public_path(target)
    if public is None:
        return f"`{target.replace(':', '.')}`"
    return "{py:obj}`~" + public + "`"


def _cli_commands() -> set[str]:
    from neuronlab.cli.main import build_parser
    from neuronlab.cli.registry import COMMANDS

    build_parser()          # registers every command
    return set(COMMANDS)


def registry_table(reg, command: str) -> list[str]:
    """Markdown lines: one row per entry of ``reg``."""
    lines = ["| key | how to call it | what it does | paper | implementation |",
             "|---|---|---|---|---|"]
    for key, entry in reg.items():
        fields = {"key": key, "short": getattr(entry, "short", key) or key,
                  "command": getattr(entry, "command", "") or ""}
        call = command.format(**fields) if command else ""
        if command.startswith("{command}") and not fields["command"]:
            # not offered by attribute/ablate: its own command if one has its name (tcav), else Python only
            call = key if key in _cli_commands() else ""
        call = f"`neuronlab {call}`" if call else "Python API"
        lines.append(f"| `{key}` | {call} | {_cell(entry.description)} | {_cell(entry.reference)} | "
                     f"{_target(entry)} |")
    return lines


def registries_markdown() -> str:
    """The generated part of the page: the known registries first, then any other one found in the package."""
    out: list[str] = []
    seen: set[int] = set()
    for known in KNOWN:
        reg = _load(known.path)
        seen.add(id(reg))
        out += [f"## {known.title}", "",
                f"`{known.path.replace(':', '.')}` ({len(reg)} {reg.kind}s).", ""]
        out += registry_table(reg, known.command) + [""]
    for path, reg in discover_registries():
        if id(reg) in seen or not len(reg):
            continue
        out += [f"## {reg.kind.capitalize()}s", "", f"`{path.replace(':', '.')}`.", ""]
        out += registry_table(reg, "") + [""]
    return "\n".join(out)


def _source_read(app, docname: str, source: list[str]) -> None:
    if docname == "methods" and MARKER in source[0]:
        source[0] = source[0].replace(MARKER, registries_markdown())


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
