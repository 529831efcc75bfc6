"""Hand freed heap pages back to the OS between write chunks (glibc ``malloc_trim``; a no-op elsewhere)."""
from __future__ import annotations

__all__ = ["trim_heap"]


def _load_malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def trim_heap() -> None:
    """Hand freed heap pages back to the OS after each chunk.

    Chunk buffers and per-batch temporaries are a few MB each; glibc raises its mmap threshold after
    freeing such blocks and then serves them from per-thread arenas, whose free pages it keeps. Without a
    trim, peak RSS creeps up with the number of chunks (+18% from 2k to 8k EWT sentences); with it, it
    stays flat.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
