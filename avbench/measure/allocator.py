"""Keep freed memory in the process so timed repeats don't pay for page faults.

glibc's malloc serves large blocks (>= 128 KiB, rising with use) with mmap
and gives freed heap memory back to the kernel. An eager PyTorch pipeline
frees and re-allocates its activations every call, so each call re-faults
them: the fast HiFi-GAN over 10 s of audio took ~70,000 minor page faults a
call, ~25 % of its time, and spread its timings (measured: median 531 ->
401 ms, CV 8.8 -> 6.0 %). ``retain_freed_memory`` raises the mmap threshold
and the trim threshold with ``mallopt`` (what jemalloc/tcmalloc users get by
default), once, before anything is timed. ONNX Runtime and CUDA use their
own arenas and are unaffected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 1 << 30


_applied = False  # mallopt settings last for the process (a sweep runs its cells in one)


def retain_freed_memory(enabled: bool) -> dict[str, str]:
    """Apply the glibc settings when ``enabled``; returns the ``bench.malloc`` tag."""
    global _applied
    if not enabled:
        # glibc's pristine dynamic thresholds cannot be restored once set: say so.
        return {"bench.malloc": "retain (set by an earlier run of this process)" if _applied
                else "default"}
    if not sys.platform.startswith("linux"):
        return {"bench.malloc": "default (not glibc)"}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return {"bench.malloc": "default (no mallopt)"}
    ok = mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1
    ok = mallopt(M_TRIM_THRESHOLD, THRESHOLD_BYTES) == 1 and ok
    _applied = _applied or ok
    return {"bench.malloc": "retain" if ok else "default (mallopt refused)"}


def minor_faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
