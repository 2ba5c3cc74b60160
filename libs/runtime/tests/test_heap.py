"""Freezing the start-up heap: the collector no longer walks what start-up made, and still
frees cycles made afterwards. Run in a child process: freezing is for a whole process."""

from __future__ import annotations

import subprocess
import sys

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
