"""The ``neuronlab`` command: one sub-command per task, registered in :data:`COMMANDS`.

User mistakes (:class:`~neuronlab.errors.NeuronlabError`) print one ``neuronlab: error: ...`` line
and exit with status 2; no stack trace. ``NEURONLAB_DEBUG=1`` shows the trace anyway.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from .. import __version__
from ..errors import NeuronlabError
from .registry import COMMANDS, command, emit

__all__ = ["main", "build_parser", "COMMANDS", "command", "emit"]


def _load_commands() -> None:
    # import for registration side effects (each module registers its commands)
    from . import commands_extract  # noqa: F401
    from . import commands_concepts  # noqa: F401
    from . import commands_attribution  # noqa: F401
    from . import commands_compositional  # noqa: F401
    from . import commands_unsupervised  # noqa: F401
    from . import commands_multimodel  # noqa: F401
    from . import commands_bridge  # noqa: F401
    from . import commands_scale  # noqa: F401
    from . import commands_report  # noqa: F401
    from . import commands_redundancy  # noqa: F401
    from . import commands_demo  # noqa: F401
    from . import commands_explain  # noqa: F401
    from . import commands_explain_compare  # noqa: F401
    from . import commands_attention  # noqa: F401
    from . import commands_explain_generate  # noqa: F401


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a default only where it says something (not None/False, not already in the text)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        if action.default is True:
            return text
        return f"{text} (default: {action.default})"


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = argparse.ArgumentParser(
        prog="neuronlab",
        description=(
            "Neuron-level interpretation of NLP models: extract activations of any transformers model into one "
            "HDF5 store, find, rank and evaluate the neurons that encode a concept, and attribute a task model's "
            "predictions to its neurons (conductance, ablation)."
        ),
        epilog="Run `neuronlab COMMAND --help` for the options of a command. Docs: docs/cli.md",
    )
    parser.add_argument("--version", action="version", version=f"neuronlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (configure, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=_HelpFormatter)
        p.set_defaults(_run=configure(p))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    _setup_logging(quiet=getattr(args, "quiet", False))
    try:
        return int(args._run(args) or 0)
    except NeuronlabError as exc:
        if os.environ.get("NEURONLAB_DEBUG"):
            raise
        print(f"neuronlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuronlab: interrupted; an extraction can be continued with --resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of the output has gone (`neuronlab info STORE | head -1`): stop quietly; stdout goes to
        # /dev/null so that the interpreter's final flush raises nothing either (Python docs, "Note on SIGPIPE")
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0


def _setup_logging(*, quiet: bool) -> None:
    """Log lines of neuronlab itself (not of third-party libraries) to stderr as ``neuronlab: ...``."""
    logger = logging.getLogger("neuronlab")
    ours = [h for h in logger.handlers if getattr(h, "_neuronlab", False)]
    if ours:  # a later call (tests, embedding programs) writes to the stderr of now, not of the first call
        try:
            ours[0].setStream(sys.stderr)
        except ValueError:  # flushing the old stream, already closed
            ours[0].stream = sys.stderr
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("neuronlab: %(message)s"))
        handler._neuronlab = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
