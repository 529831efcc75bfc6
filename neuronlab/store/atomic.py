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

__all__ = ["replace_member", "recover", "member", "visible_names", "PARTIAL", "OLD"]

PARTIAL = ".partial-"
OLD = ".old-"


def replace_member(file, group, name: str, build: Callable[[object, str], None]) -> None:
    """Replace ``group[name]`` by what ``build(group, tmp_name)`` creates, atomically (see module doc)."""
    tmp, old = PARTIAL + name, OLD + name
    if tmp in group:
        del group[tmp]
    build(group, tmp)
    file.flush()  # the new member is whole on disk before it becomes visible
    if old in group:
        del group[old]
    if name in group:
        group.move(name, old)
    group.move(tmp, name)
    file.flush()  # the new member is in place; the old one is still on disk under .old-
    if old in group:
        del group[old]
        file.flush()


def recover(file, group) -> None:
    """Settle leftovers of interrupted replacements (writable files only)."""
    changed = False
    for key in list(group.keys()):
        if key.startswith(PARTIAL):
            del group[key]
            changed = True
        elif key.startswith(OLD):
            name = key[len(OLD):]
            if name in group:
                del group[key]
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
