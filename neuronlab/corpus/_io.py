"""Low-level helpers shared by the corpus readers: reading lines and raising located errors."""
from __future__ import annotations

import functools
import gc
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from neuronlab.errors import CorpusError

__all__ = ["read_lines", "iter_lines", "fail", "require_sentences", "gc_paused"]

F = TypeVar("F", bound=Callable)


def gc_paused(func: F) -> F:
    """Run ``func`` with the cyclic garbage collector paused.

    Readers allocate hundreds of thousands of small lists that hold no reference cycles;
    generational collections triggered by those allocations roughly double the parse time of a
    200k-word CoNLL-U file. The previous collector state is restored in ``finally``.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return wrapper  # type: ignore[return-value]


def fail(path: Path | str, line: int | None, message: str) -> CorpusError:
    """Build a :class:`CorpusError` located at ``path`` (and 1-based ``line`` when given).

    Parameters
    ----------
    path : path-like
        The file the problem is in.
    line : int or None
        1-based line number, or None when the problem concerns the whole file.
    message : str
        What is wrong (expected vs. received).

    Returns
    -------
    CorpusError
        To be raised by the caller (``raise fail(...)``) so tracebacks point at the reader.
    """
    where = f"{path}, line {line}" if line is not None else f"{path}"
    return CorpusError(f"{where}: {message}")


def read_lines(path: Path | str) -> list[str]:
    """Read a UTF-8 text file into lines without their line terminators.

    Only ``\\n`` (optionally preceded by ``\\r``) ends a line: other Unicode line separators
    may occur inside sentences. A single final terminator does not open an extra line, so a
    file ``"a\\nb\\n"`` has two lines; any further blank line is kept so that callers can
    report it.

    Parameters
    ----------
    path : path-like
        The file to read.

    Returns
    -------
    list of str
        The lines, in order.

    Raises
    ------
    CorpusError
        When the file is missing, is a directory, is not valid UTF-8 (with the line of the
        first bad byte), or contains a NUL byte (with its line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail(path, None, "file not found") from None
    except IsADirectoryError:
        raise fail(path, None, "is a directory, expected a text file") from None
    except OSError as exc:
        raise fail(path, None, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(
            path, line,
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "corpus files must be encoded as UTF-8",
        ) from None
    if text.startswith("\ufeff"):  # byte-order mark written by some editors
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        raise fail(path, text.count("\n", 0, nul) + 1,
                   f"contains a NUL byte (\\x00) at offset {nul}: not a text file, or a damaged one; remove the "
                   "NUL bytes (e.g. tr -d '\\000')")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def iter_lines(path: Path | str) -> Iterator[str]:
    """Stream the lines of a UTF-8 text file, one at a time, with the rules and errors of :func:`read_lines`.

    The file is read in binary through Python's buffered reader and each line decoded on its own, so
    memory holds one line (plus the reader's buffer) whatever the file's size. Line ends, the byte-order
    mark, the UTF-8 and NUL checks and their messages (line numbers, byte and character offsets) are
    those of :func:`read_lines`; an error is raised when the reader reaches the bad line.

    Parameters
    ----------
    path : path-like
        The file to read.

    Yields
    ------
    str
        Each line without its terminator (``\\n``, optionally preceded by ``\\r``).

    Raises
    ------
    CorpusError
        As :func:`read_lines`.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise fail(path, None, "file not found") from None
    except IsADirectoryError:
        raise fail(path, None, "is a directory, expected a text file") from None
    except OSError as exc:
        raise fail(path, None, f"cannot be read ({exc.strerror or exc})") from None
    with fh:
        byte_pos = 0  # file offset of the line's first byte
        char_pos = 0  # offset of the line's first character in the decoded text (after a byte-order mark)
        try:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    offset = byte_pos + exc.start
                    raise fail(
                        path, lineno,
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {offset}); "
                        "corpus files must be encoded as UTF-8",
                    ) from None
                byte_pos += len(raw)
                if lineno == 1 and line.startswith("\ufeff"):  # byte-order mark written by some editors
                    line = line[1:]
                nul = line.find("\x00")
                if nul >= 0:
                    raise fail(path, lineno,
                               f"contains a NUL byte (\\x00) at offset {char_pos + nul}: not a text file, or a "
                               "damaged one; remove the NUL bytes (e.g. tr -d '\\000')")
                char_pos += len(line)
                if line.endswith("\n"):
                    line = line[:-1]
                elif not line:  # a file of a byte-order mark only: no line, as in read_lines
                    continue
                yield line[:-1] if line.endswith("\r") else line
        except OSError as exc:
            raise fail(path, None, f"cannot be read ({exc.strerror or exc})") from None


def require_sentences(path: Path | str, n_sentences: int) -> None:
    """Raise a :class:`CorpusError` when a file yielded no sentence at all."""
    if n_sentences == 0:
        raise fail(path, None, "the corpus is empty (no sentences found)")
