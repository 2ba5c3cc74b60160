"""The garbage collector and real-time work: a full collection walks every object the
process holds, most of them made at start-up (imported modules, pedalboard, numpy, torch…)
and never freed. In the effects worker that took 74 ms, seven 10 ms live blocks late for
every session at once. Freezing what start-up made leaves the collector only what came
after: a full collection then takes microseconds."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then move every surviving object out of the collector's reach (it is
    never freed by the cycle collector again; reference counting still frees it). Call it
    once a service has started; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
