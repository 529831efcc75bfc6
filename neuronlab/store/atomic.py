"""Atomic replacement of one member (a result group or a label dataset) of an HDF5 group.

HDF5 has no transactions, so a member is never rewritten in place. :func:`replace_member` builds the
new member under a hidden name (``.partial-<name>``), flushes, moves the old member aside
(``.old-<name>``), moves the new one into place, flushes, and only then deletes the old one. A process
killed at any moment therefore leaves, on disk, either the old member or the new one under ``<name>``,
plus hidden leftovers that readers ignore and that :func:`recover` settles on the next writable open:

- ``.partial-<name>``: an unfinished new member; deleted.
- ``.old-<name>`` while ``<name>`` is present: the replaced member; deleted.
- ``.old-<name>`` while ``<name>`` is absent (killed between the two moves): moved back.

A read-only reader that meets the last case reads ``.old-<name>`` in place of ``<name>``
(:func:`member`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["replace_member", "recover", "member", "visible_names", "set_text_attr", "text_attr", "fixed_strings",
           "PARTIAL", "OLD"]

PARTIAL = ".partial-"
OLD = ".old-"


def replace_member(file, group, name: str, build: Callable[[object, str], None]) -> None:
    """Replace ``group[name]`` by what ``build(group, tmp_name)`` creates, atomically (see module doc)."""
    old = OLD + name
    tmp = PARTIAL + name
    k = 1
    while tmp in group and not _delete(group, tmp):  # an undeletable leftover of a torn write: use another name
        k += 1
        tmp = f"{PARTIAL}{name}.{k}"
    build(group, tmp)
    file.flush()  # the new member is whole on disk before it becomes visible
    if old in group and not _delete(group, old):
        raise OSError(f"cannot remove the leftover {old!r} of an interrupted write")
    if name in group:
        group.move(name, old)
    group.move(tmp, name)
    file.flush()  # the new member is in place; the old one is still on disk under .old-
    if old in group:
        del group[old]
        file.flush()


def _delete(group, key: str) -> bool:
    """Unlink ``group[key]``; False if its metadata is too damaged to unlink (a kill during a flush)."""
    try:
        del group[key]
        return True
    except (OSError, KeyError, RuntimeError, ValueError):
        return False


def recover(file, group) -> None:
    """Settle leftovers of interrupted replacements (writable files only).

    Leftovers that cannot be unlinked (torn by a kill during a flush) stay, hidden: readers never list them.
    """
    changed = False
    for key in list(group.keys()):
        if key.startswith(PARTIAL):
            changed |= _delete(group, key)
        elif key.startswith(OLD):
            name = key[len(OLD):]
            if name in group:
                changed |= _delete(group, key)
            else:
                group.move(key, name)
                changed = True
    if changed:
        file.flush()


def member(group, name: str):
    """``group[name]``, or its replaced predecessor if a replacement was killed between its two moves."""
    if name in group:
        return group[name]
    return group.get(OLD + name)


def visible_names(group) -> list[str]:
    """Member names, leftovers of interrupted replacements resolved (see :func:`member`)."""
    names = {k for k in group.keys() if not k.startswith(".")}
    names |= {k[len(OLD):] for k in group.keys() if k.startswith(OLD)}
    return sorted(names)


# Strings written into members that get replaced are fixed-length: HDF5 keeps variable-length strings (of
# datasets and attributes alike) in global heap collections shared between objects, so writing a new
# member could rewrite, and a kill tear, the collection that a finished member's strings live in.
def set_text_attr(obj, key: str, text: str) -> None:
    """Store ``text`` as a fixed-length UTF-8 attribute (kept in the object's own header)."""
    data = text.encode("utf-8")
    obj.attrs.create(key, np.array(data, dtype=f"S{max(1, len(data))}"))


def text_attr(value) -> str:
    """An attribute read back as text, whether it was written fixed-length (bytes) or variable-length (str)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)


def fixed_strings(arr: np.ndarray) -> np.ndarray:
    """An array of str as fixed-length UTF-8 bytes (stored in the dataset itself, not in a global heap)."""
    enc = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr.ravel()]
    enc = [e.encode("utf-8") for e in enc]
    n = max([1] + [len(e) for e in enc])
    return np.array(enc, dtype=f"S{n}").reshape(arr.shape)
