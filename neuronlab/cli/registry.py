"""The command registry and the output helpers of the CLI (a leaf module: it imports no other CLI module).

The command modules (``commands_*.py``) register themselves here with :func:`command` and print with
:func:`emit`; :mod:`neuronlab.cli.main` builds the parser from :data:`COMMANDS`. Imports flow one way:
``main -> commands_* -> registry``.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
from typing import Callable, Iterator

__all__ = ["COMMANDS", "Configure", "Run", "command", "emit", "json_default", "json_output", "safe_out",
           "add_out_arguments", "check_out", "OVERWRITE_FLAG", "speaks_flags"]

#: ``run(args) -> exit status``, returned by a command's configure function
Run = Callable[[argparse.Namespace], int]
#: ``configure(parser) -> run``: adds the command's arguments to its sub-parser
Configure = Callable[[argparse.ArgumentParser], Run]

#: name -> (configure(parser) -> run, one-line help)
COMMANDS: dict[str, tuple[Configure, str]] = {}


def command(name: str, help: str) -> Callable[[Configure], Configure]:
    """Register a sub-command: decorate a ``configure(parser)`` function returning ``run(args) -> int``."""

    def deco(configure: Configure) -> Configure:
        COMMANDS[name] = (configure, help)
        return configure

    return deco


def json_default(o):
    """``json.dumps`` fallback: numpy scalars and arrays as Python values, anything else as ``str``."""
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    """Print ``payload`` as JSON with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=False, default=json_default))
    else:
        print(text)


#: how the CLI spells "overwrite" in the messages of :mod:`neuronlab.outputs`
OVERWRITE_FLAG = "--overwrite"


def safe_out(args: argparse.Namespace, inputs=(), *, in_place: bool = False):
    """:func:`neuronlab.outputs.safe_output` for ``args.out`` with ``args.overwrite`` and the CLI's wording."""
    from ..outputs import safe_output

    return safe_output(args.out, overwrite=getattr(args, "overwrite", False), inputs=inputs, in_place=in_place,
                       overwrite_hint=OVERWRITE_FLAG)


@contextlib.contextmanager
def json_output(args: argparse.Namespace, inputs=()) -> Iterator[Callable[[dict], None]]:
    """Guard ``--out FILE`` for the whole command; yields ``write(payload)`` (a no-op without ``--out``).

    The output is checked (not a directory, not an input, not existing unless ``--overwrite``, writable)
    and locked when the block starts, before any work; the JSON is renamed into place when it ends.
    """
    if not getattr(args, "out", None):
        yield lambda payload: None
        return
    with safe_out(args, inputs) as tmp:
        def write(payload: dict) -> None:
            tmp.write_text(json.dumps(payload, indent=2, default=json_default) + "\n")

        yield write


def add_out_arguments(p: argparse.ArgumentParser, help: str = "write the full result as JSON to this file") -> None:
    """``--out FILE`` and ``--overwrite`` of a command whose output is optional JSON."""
    p.add_argument("--out", default=None, metavar="FILE", help=help + " (never one of the inputs)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (only once the command "
                                                            "succeeded: a failure leaves the old file as it was)")


def check_out(args: argparse.Namespace, inputs=()) -> None:
    """Check ``args.out`` up front, before any work (nothing to check without ``--out``)."""
    from ..outputs import check_output

    if getattr(args, "out", None):
        check_output(args.out, overwrite=getattr(args, "overwrite", False), inputs=inputs,
                     overwrite_hint=OVERWRITE_FLAG)


def speaks_flags(run: "Run", flags: dict[str, str]) -> "Run":
    """Wrap a command's ``run``: the library's errors are re-raised with command-line flags (``flags``: Python
    parameter name -> flag) in place of the parameter names, so the one-line error names what the user typed."""

    @functools.wraps(run)
    def wrapped(args) -> int:
        from ..errors import NeuronlabError, as_cli_flags

        try:
            return run(args)
        except NeuronlabError as exc:
            text = as_cli_flags(str(exc), flags)
            if text == str(exc):
                raise
            raise type(exc)(text) from exc

    return wrapped
