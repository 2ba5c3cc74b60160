"""The effects worker with its event loop under cProfile, for bench.bus_profile.

SIGUSR2 starts counting; a second SIGUSR2 stops and writes the stats (pstats format) to
PROFILE_OUT. Only the main thread (the event loop) is profiled: the work's own threads are
measured by their CPU time instead.
"""

from __future__ import annotations

import cProfile
import os
import signal
import time
from types import FrameType

from cadenza.effects.__main__ import main

_profile = cProfile.Profile(time.thread_time)
_on = False


def _toggle(signum: int, frame: FrameType | None) -> None:
    global _on
    if not _on:
        _profile.enable()
    else:
        _profile.disable()
        out = os.environ["PROFILE_OUT"]
        _profile.dump_stats(out + ".part")
        os.replace(out + ".part", out)  # whole or absent for whoever waits for it
    _on = not _on


if __name__ == "__main__":
    signal.signal(signal.SIGUSR2, _toggle)
    main()
