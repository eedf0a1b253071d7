"""The C heap under Python: how much of what a build frees goes back to the system.

A build makes and frees hundreds of megabytes of short-lived buffers (rendered
documents, compressed bytes, rows read back). glibc's malloc raises its mmap
threshold each time such a buffer is freed, up to 32 MiB, so later ones come from
heaps it seldom gives back, and every thread that allocates at once may get an arena
of its own. Python frees the objects; the process keeps the pages. Fixing the
threshold at glibc's own starting value and keeping two arenas keeps a server's
memory near what it holds, and after each save the free pages inside the heaps go
back too (figures in docs/design.md, "Where bytes live"). Elsewhere (musl, macOS)
nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
from collections.abc import Callable

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt's parameter numbers, from glibc's malloc.h
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # buffers this large are mapped, and unmapped when freed
ARENAS = 2


_trim: Callable[[int], int] | None = None  # glibc's malloc_trim, once keep_small set the heap


def keep_small() -> bool:
    """Set glibc's malloc for a long-lived process that builds large sites, before
    its threads start. True when it was glibc's and took the settings."""
    global _trim
    if platform.libc_ver()[0] != "glibc":  # others' mallopt differs, or is absent
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return False
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_ARENA_MAX, ARENAS) == 1:
        _trim = trim
        return True
    log.debug("malloc options not taken: memory as glibc manages it by default")
    return False


def give_back() -> None:
    """The whole free pages inside glibc's heaps returned to the system (malloc_trim),
    in a process whose heap keep_small set. What a rebuild and its save freed among
    what the server keeps is otherwise kept for later: at 100,000 articles, 36 MB of
    an idle server after ten changes. It walks the heaps for 25-50 ms, holding each
    arena's lock meanwhile: a request that allocates then waits for it, once per save."""
    if _trim is not None:
        _trim(0)
