"""Safe outputs: one layer that every writer of a file goes through.

A researcher's store can hold hours of extraction and every analysis result; this module makes sure
that no command destroys it by accident. :func:`safe_output` is used by every command that writes a
file (``extract``, ``import-neurox``, ``export-neurox``, the ``--out`` of ``probe``/``rank``/``compare``)
and by future ones in one line::

    with safe_output(path, overwrite=overwrite, inputs=[corpus, labels]) as tmp:
        write_everything_to(tmp)          # renamed over ``path`` only if this block succeeds

The rules, checked up front (before a model loads or any work starts):

1. the output is not a directory, and its directory (or the nearest existing ancestor) is a writable
   directory;
2. the output is not the same file as any input (symlinks resolved, hard links detected with
   :func:`os.path.samefile`), with or without ``overwrite``;
3. an existing output is replaced only with ``overwrite``;
4. one writer at a time: an exclusive :func:`fcntl.flock` on the sidecar ``PATH.lock`` (removed
   afterwards); a second writer is refused with a message that names the holder's pid;
5. the new content goes to a temporary file in the same directory (``.NAME.<random>.neuronlab-tmp``),
   which is flushed to disk and renamed over the old file only on success; on failure (an exception,
   Ctrl-C) it is removed and the old file is untouched. A SIGKILL can leave a temporary file behind but
   never a half-written file at ``PATH``; the next writer (holding the lock) removes stale temporaries.

``in_place=True`` skips rule 5 (the lock and the checks still apply): ``extract`` writes a fresh store and
``--resume`` continues an incomplete one in place so that an interrupted run can be resumed.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .errors import NeuronlabError

__all__ = ["OutputError", "check_output", "output_lock", "safe_output", "safe_output_dir", "TMP_SUFFIX", "LOCK_SUFFIX"]

#: suffix of the temporary files written by :func:`safe_output`
TMP_SUFFIX = ".neuronlab-tmp"
#: suffix of the sidecar lock file taken by :func:`output_lock`
LOCK_SUFFIX = ".lock"


class OutputError(NeuronlabError, OSError):
    """An output cannot be written safely (exists, is an input, is a directory, not writable, in use)."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _writable_dir(path: Path) -> Path:
    """The nearest existing ancestor of ``path``; raise unless it is a writable directory."""
    parent = path.parent if str(path.parent) else Path(".")
    anc = parent
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: {str(anc)!r} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {str(path)!r}: no write permission in the directory {str(anc)!r}; "
                          "choose an output in a directory you can write to")
    return anc


def check_output(path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable = (),
                 in_place: bool = False, overwrite_hint: str = "overwrite=True") -> Path:
    """Check, before any work starts, that ``path`` can be written without losing data.

    Parameters
    ----------
    path : path-like
        The output file.
    overwrite : bool, default False
        Allow replacing an existing file.
    inputs : iterable of path-like or None
        Files the command reads; the output may be none of them (``None`` entries are ignored).
    in_place : bool, default False
        The output will be modified in place (it must then be writable itself if it exists).
    overwrite_hint : str
        How the caller spells "overwrite" in the message (``"--overwrite"`` for the CLI).

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        If the output is a directory, is one of the inputs, exists without ``overwrite`` (and without
        ``in_place``), or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "corpus.txt").write_text("a b\\n")
    >>> check_output(d / "out.json", inputs=[d / "corpus.txt"]).name
    'out.json'
    >>> check_output(d / "corpus.txt", overwrite=True, inputs=[d / "corpus.txt"])
    Traceback (most recent call last):
    ...
    neuronlab.outputs.OutputError: ... is also an input of this command; choose another output file
    """
    out = Path(path)
    if not str(path):
        raise OutputError("the output path is empty")
    if out.is_dir():
        raise OutputError(f"output {str(out)!r} is a directory; give a file name (e.g. {str(out / 'out')!r})")
    for src in inputs:
        if src is not None and _same_file(out, Path(src)):
            raise OutputError(f"output {str(out)!r} is also an input of this command; choose another output file")
    _writable_dir(out)
    if out.exists() or out.is_symlink():
        if not (overwrite or in_place):
            raise OutputError(f"{str(out)!r} exists; pass {overwrite_hint} to replace it")
        if in_place and not os.access(out, os.R_OK | os.W_OK):
            raise OutputError(f"cannot write {str(out)!r}: no write permission on the file")
    return out


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (via the sidecar ``PATH.lock``) for the duration of the block.

    Raises
    ------
    OutputError
        If another process holds the lock (the message names its pid).
    """
    out = Path(path)
    lock = out.with_name(out.name + LOCK_SUFFIX)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot create the lock file {str(lock)!r}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise OutputError(f"cannot lock {str(lock)!r}: {exc.strerror or exc}") from None
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputError(f"{str(out)!r} is being written by another neuronlab process{who}; wait for it "
                              f"to finish or choose another output (if no such process runs, remove {str(lock)!r})"
                              ) from None
        # the holder before us may have removed the file between our open and our lock: lock the current one
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield out
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not fsync directories
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        path.unlink()


def _remove_stale_temporaries(out: Path) -> None:
    """Temporaries of ``out`` left by killed writers (safe: the caller holds the lock)."""
    # ours (``.OUT.<random>.neuronlab-tmp``) and those a writer derived from ours (``..OUT.<random>.neuronlab-tmp.*``,
    # e.g. the NeuroX importer's own temporary name)
    for pattern in (f".{out.name}.*{TMP_SUFFIX}*", f"..{out.name}.*{TMP_SUFFIX}*"):
        for stale in out.parent.glob(pattern):
            _remove(stale)


@contextlib.contextmanager
def safe_output(path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable = (),
                in_place: bool = False, overwrite_hint: str = "overwrite=True") -> Iterator[Path]:
    """Write ``path`` safely: checks up front, an exclusive lock, a temporary file renamed on success.

    Parameters
    ----------
    path : path-like
        The output file.
    overwrite : bool, default False
        Replace an existing file (only once the block succeeded).
    inputs : iterable of path-like or None
        Files the command reads; the output may be none of them.
    in_place : bool, default False
        Yield ``path`` itself instead of a temporary name (the caller writes in place, under the lock).
    overwrite_hint : str
        How the caller spells "overwrite" in messages (``"--overwrite"`` for the CLI).

    Yields
    ------
    Path
        Where to write: a not yet existing temporary file in the same directory as ``path`` (or
        ``path`` itself with ``in_place``). The caller must have closed it when the block ends.

    Raises
    ------
    OutputError
        See :func:`check_output` and :func:`output_lock`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> with safe_output(out) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> out.read_text()
    '{}'
    >>> try:
    ...     with safe_output(out, overwrite=True) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("the work failed")
    ... except RuntimeError:
    ...     pass
    >>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
    ('{}', ['r.json'])
    """
    out = check_output(path, overwrite=overwrite, inputs=inputs, in_place=in_place, overwrite_hint=overwrite_hint)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the directory {str(out.parent)!r}: {exc.strerror or exc}") from None
    with output_lock(out):
        # checked again under the lock: another writer may have created it meanwhile
        check_output(out, overwrite=overwrite, inputs=inputs, in_place=in_place, overwrite_hint=overwrite_hint)
        _remove_stale_temporaries(out)
        if in_place:
            yield out
            return
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
        try:
            yield tmp
            if not tmp.exists():
                raise OutputError(f"nothing was written to {str(out)!r}")
            _fsync_path(tmp)
            os.replace(tmp, out)
            _fsync_path(out.parent, directory=True)
        finally:
            _remove(tmp)
            for pattern in (f"{tmp.name}*", f".{tmp.name}*"):  # a writer's own ``tmp.tmp`` or ``.tmp.importing-PID``
                for extra in out.parent.glob(pattern):
                    _remove(extra)


def _check_output_dir(out: Path, *, overwrite: bool, inputs: Iterable, marker: str, overwrite_hint: str) -> None:
    if not str(out):
        raise OutputError("the output path is empty")
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {str(out)!r} is a file; give a directory name")
    for src in inputs:
        if src is None:
            continue
        s = Path(src)
        if _same_file(out, s) or out.resolve() in s.resolve().parents:
            raise OutputError(f"output {str(out)!r} is (or holds) an input of this command; choose another directory")
    _writable_dir(out)
    if out.exists():
        if not overwrite:
            raise OutputError(f"{str(out)!r} exists; pass {overwrite_hint} to replace it")
        if any(out.iterdir()) and not (out / marker).is_file():
            raise OutputError(f"{str(out)!r} is a directory neuronlab did not write (it has no {marker}); it is "
                              "never replaced: choose another output directory")


@contextlib.contextmanager
def safe_output_dir(path: str | os.PathLike, *, marker: str, overwrite: bool = False, inputs: Iterable = (),
                    overwrite_hint: str = "overwrite=True") -> Iterator[Path]:
    """:func:`safe_output` for a directory output (a saved model): written to a temporary directory, renamed on success.

    An existing directory is replaced only with ``overwrite`` and only if it is empty or holds ``marker``
    (a file that the writer puts in every directory it writes), so that no other directory is ever removed.
    The output may neither be nor contain an input. The temporary directory sits beside ``path``
    (``.NAME.<random>.neuronlab-tmp``); on failure it is removed and the old directory is untouched.
    """
    import shutil

    out = Path(path)
    _check_output_dir(out, overwrite=overwrite, inputs=inputs, marker=marker, overwrite_hint=overwrite_hint)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the directory {str(out.parent)!r}: {exc.strerror or exc}") from None
    with output_lock(out):
        _check_output_dir(out, overwrite=overwrite, inputs=inputs, marker=marker, overwrite_hint=overwrite_hint)
        for stale in out.parent.glob(f".{out.name}.*{TMP_SUFFIX}"):
            if out.exists() or ".replaced" not in stale.name:  # a replaced copy is kept while ``out`` is missing
                shutil.rmtree(stale, ignore_errors=True)
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
        tmp.mkdir()
        try:
            yield tmp
            old = None
            if out.exists():
                old = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.replaced{TMP_SUFFIX}")
                os.replace(out, old)
            os.replace(tmp, out)
            _fsync_path(out.parent, directory=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
