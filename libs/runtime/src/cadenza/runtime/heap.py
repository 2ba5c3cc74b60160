"""The garbage collector and real-time work: a full collection walks every object the
process holds, most of them made at start-up (imported modules, pedalboard, numpy, torch…)
and never freed. In the effects worker that took 74 ms, seven 10 ms live blocks late for
every session at once. Freezing what start-up made leaves the collector only what came
after: a full collection then takes microseconds."""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import math
import time
from collections.abc import Callable


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object out of the collector's reach (it is
    never freed by the cycle collector again; reference counting still frees it). Call it
    once a service has started; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


# glibc's malloc, for the memory a job or live session gives back.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20
# Free memory at the top of the heap that free() leaves there for the next job. At 1 MiB
# (as before issue 22) every short job's buffers went back to the system as it ended, and
# the next job faulted them in again: 400 page faults and about 1 ms of kernel time per
# 1 s effects job (bench.bus_profile). The rest goes back once the worker is idle.
TRIM_THRESHOLD_BYTES = 16 << 20
# How long a worker stays idle before its free heap goes back to the system.
IDLE_RELEASE_S = 0.25


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return None


def return_large_blocks_to_the_system() -> bool:
    """Make every allocation of MMAP_THRESHOLD_BYTES or more a mapping of its own, returned
    to the system when freed. glibc raises this threshold as large blocks are freed (up to
    32 MiB), after which a finished job's delay lines and buffers stay in the heap and the
    process keeps their memory. Smaller blocks stay in the heap up to TRIM_THRESHOLD_BYTES
    free, for the next job, until `release_when_idle` gives them back. Call once at start;
    False where the C library is not glibc."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


_last_release = -math.inf


def release_free_memory(min_interval_s: float = 0.0) -> bool:
    """Give the heap's free pages back to the system (after a job or a live session); with
    `min_interval_s`, only if that was not done more recently. Returns whether it was done.

    Trimming after every short job costs more than the job's own bookkeeping: the trim
    walks the heap, and the next job faults the same pages back in. Workers busy with
    short jobs trim at most once a second, and `release_when_idle` once they fall idle."""
    global _last_release
    now = time.monotonic()
    if now - _last_release < min_interval_s:
        return False
    _last_release = now
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    return True


# The check due, and the loop it is due on (a test runs several loops one after another).
_idle_check: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
_last_job_end = -math.inf


def release_when_idle(idle: Callable[[], bool], after_s: float = IDLE_RELEASE_S) -> None:
    """From the event loop, as a job ends with nothing else at work: give the free heap
    back once the worker has stayed idle for `after_s` (no job ended meanwhile, and `idle()`
    still says so). A worker taking one short job after another keeps its pages for the
    next one: a trim between two of them made the second fault them in again."""
    global _idle_check, _last_job_end
    _last_job_end = time.monotonic()
    loop = asyncio.get_running_loop()
    if _idle_check is not None and _idle_check[0] is loop:
        return  # a check is already due; it looks at the latest job's end

    def check() -> None:
        global _idle_check
        quiet_for = time.monotonic() - _last_job_end
        if quiet_for < after_s:  # another job ended meanwhile: look again later
            _idle_check = (loop, loop.call_later(after_s - quiet_for, check))
            return
        _idle_check = None
        if idle():
            release_free_memory()

    _idle_check = (loop, loop.call_later(after_s, check))
