"""Issue 17 item 5: a CLI without an import circle; the registry and output helpers live in a leaf module."""
from __future__ import annotations

import ast
import configparser
import importlib
import inspect
from pathlib import Path

import neuronlab

CLI = Path(neuronlab.__file__).parent / "cli"


def _imports(path: Path) -> list[str]:
    """Absolute names of the neuronlab modules ``path`` imports (relative imports resolved)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["neuronlab", "cli"][: max(0, 3 - node.level)] if node.level <= 2 else []
                name = ".".join(base + ([node.module] if node.module else []))
                out.append(name)
                out.extend(f"{name}.{a.name}" for a in node.names)
            else:
                out.append(node.module or "")
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_command_modules_do_not_import_main():
    modules = sorted(CLI.glob("commands_*.py"))
    assert modules
    for path in modules:
        names = _imports(path)
        assert not [n for n in names if n == "neuronlab.cli.main" or n.startswith("neuronlab.cli.main.")], path.name


def test_registry_is_a_leaf():
    names = _imports(CLI / "registry.py")
    assert not [n for n in names if n.startswith("neuronlab.cli")], names


def test_cli_package_does_not_hide_the_main_submodule():
    import neuronlab.cli

    main_module = importlib.import_module("neuronlab.cli.main")
    assert inspect.ismodule(neuronlab.cli.main) and neuronlab.cli.main is main_module
    assert callable(main_module.main)


def test_console_script_resolves_and_commands_are_registered_as_pairs():
    cfg = configparser.ConfigParser()
    cfg.read(Path(neuronlab.__file__).parents[1] / "setup.cfg")
    target = cfg["options.entry_points"]["console_scripts"].split("=", 1)[1].strip()
    module, func = target.split(":")
    assert callable(getattr(importlib.import_module(module), func))
    from neuronlab.cli.main import build_parser
    from neuronlab.cli.registry import COMMANDS

    build_parser()
    assert {"extract", "probe", "rank", "compare", "import-neurox", "export-neurox"} <= set(COMMANDS)
    for name, entry in COMMANDS.items():
        assert len(entry) == 2 and callable(entry[0]) and isinstance(entry[1], str), name
