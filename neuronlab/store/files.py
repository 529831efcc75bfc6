"""Opening HDF5 files for the store: failures said plainly (locked, read-only, corrupted, foreign)."""
from __future__ import annotations

import errno
import os
from pathlib import Path

from ..errors import InvalidParameterError, StoreError, StoreLockedError, StoreReadOnlyError

__all__ = ["h5py_module", "open_h5", "looks_neurox", "check_member_name"]


def h5py_module():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a hard dependency
        raise ImportError("neuronlab's activation store needs h5py: pip install h5py") from exc
    return h5py


def check_member_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or "/" in name or name.startswith(".") or name in (".", ".."):
        raise InvalidParameterError(f"{what} name must be a non-empty string without '/' that does not start "
                                    f"with '.', got {name!r}")


def open_h5(path: Path, mode: str):
    """``h5py.File(path, mode)`` with the reason for a failure said plainly (locked, read-only, not HDF5)."""
    h5py = h5py_module()
    if mode == "r+" and not os.access(path, os.W_OK):
        raise StoreReadOnlyError(f"{str(path)!r} is read-only (no write permission): make it writable "
                                 "(chmod u+w) to write results into it, or open it with mode='r'")
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        text = str(exc)
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in text:
            raise StoreLockedError(
                f"{str(path)!r} is in use by another process (a running extraction or analysis holds its lock); "
                "wait for it to finish and try again") from None
        if exc.errno in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
            raise StoreReadOnlyError(
                f"{str(path)!r} cannot be opened{' for writing' if mode == 'r+' else ''}: no permission "
                f"({exc.strerror or text}); fix its permissions" + (" or open it with mode='r'" if mode == "r+" else "")
            ) from None
        raise StoreError(
            f"{str(path)!r} is not a readable HDF5 file (corrupted, truncated or not HDF5): {exc}. "
            "If it comes from an interrupted extraction, extract it again with overwrite=True."
        ) from None


def looks_neurox(path: Path) -> bool:
    try:
        import h5py

        with h5py.File(path, "r") as f:
            return "sentence_to_index" in f
    except OSError:
        return False
