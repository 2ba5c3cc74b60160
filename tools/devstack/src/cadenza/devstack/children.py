"""Child processes that the platform stops in order, and that die with their parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child in its own session, so a terminal's Ctrl-C reaches only the platform,
    which then stops services before the servers they depend on. If the platform itself
    dies, the child gets SIGTERM (Linux `PR_SET_PDEATHSIG`)."""
    return subprocess.Popen(
        args,
        start_new_session=True,
        preexec_fn=_die_with_parent(),  # only calls prctl
        **kwargs,
    )


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """Crash it (SIGKILL), for fault tests."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
