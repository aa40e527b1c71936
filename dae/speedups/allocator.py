"""CPU memory allocator settings for training processes.

A training step on the CPU allocates and frees the same large activation buffers (megabytes
each) every step. glibc's ``malloc`` serves such sizes with fresh ``mmap`` calls, or hands freed
memory back to the system, so each step pays page faults for memory it had a moment ago;
that slows a CPU train step, as ``python -m dae.bench`` shows (experiments/speed).
Raising the thresholds keeps freed buffers in the process for reuse, as jemalloc or tcmalloc
(PyTorch's CPU tuning advice) would. Linux with glibc only; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

# mallopt() parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 * 2**20,  # buffers up to 32 MiB come from the heap (glibc's maximum)
    M_TRIM_THRESHOLD: 2**30,  # hand memory back only when 1 GiB is free at the top of the heap
    M_TOP_PAD: 256 * 2**20,  # grow the heap in steps of 256 MiB
}


def keep_freed_memory() -> bool:
    """Apply :data:`SETTINGS` with ``mallopt``; True if glibc accepted them all."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (e.g. musl): leave it as it is
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    accepted = all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
    log.debug("malloc thresholds %s: %s", "set" if accepted else "not all accepted", SETTINGS)
    return accepted
