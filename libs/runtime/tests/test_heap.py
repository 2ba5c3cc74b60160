"""Freezing the start-up heap: the collector no longer walks what start-up made, and still
frees cycles made afterwards (in a child process: freezing is for a whole process); and
the free heap given back once a worker is idle, not between two short jobs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from cadenza.runtime import heap

CHILD = """
import gc, weakref
import faststream, nats, pydantic  # a start-up heap of some size
from cadenza.runtime.heap import freeze_startup_heap

tracked_before = len(gc.get_objects())
frozen = freeze_startup_heap()
assert frozen > 10_000 and frozen >= tracked_before // 2, (frozen, tracked_before)
assert len(gc.get_objects()) < tracked_before // 10, len(gc.get_objects())

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
assert gone() is None, "a cycle made after the freeze was not collected"
print("ok", frozen)
"""


def test_freeze_leaves_the_collector_only_what_came_after_start_up() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


async def test_the_free_heap_goes_back_only_once_the_worker_has_stayed_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jobs ending 50 ms apart keep their pages (no trim between them); 0.2 s after the
    last one the trim comes, once; none while something is at work."""
    trims: list[float] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda *a: trims.append(time.monotonic()))
    busy = False
    started = time.monotonic()
    for _ in range(6):
        heap.release_when_idle(lambda: not busy, after_s=0.2)
        await asyncio.sleep(0.05)
    last_end = time.monotonic() - 0.05
    assert trims == [], "no trim between jobs 50 ms apart"
    await asyncio.sleep(0.3)
    assert len(trims) == 1
    assert trims[0] - last_end >= 0.19 and trims[0] - started >= 0.45
    heap.release_when_idle(lambda: not busy, after_s=0.1)
    busy = True  # work began again before the check
    await asyncio.sleep(0.25)
    assert len(trims) == 1, "no trim while something is at work"
