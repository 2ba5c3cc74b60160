"""Child processes that the platform stops in order, and that die with their parent."""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import functools
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
TAIL_LINES = 15


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
    stop_all([process], timeout_s)


def stop_all(processes: Iterable[subprocess.Popen[bytes] | None], timeout_s: float) -> None:
    """SIGTERM to every one at once, then SIGKILL to those still running after `timeout_s`:
    stopping N children takes the longest one's time, not the sum."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """Crash it (SIGKILL), for fault tests."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


@functools.cache
def standard_output() -> IO[bytes]:
    """This process's file descriptor 1, where a child would have written by itself."""
    return open(1, "wb", buffering=0, closefd=False)  # kept open for the process


class OutputTail:
    """Reads a child's output in a thread: passes each line on to `echo` (when given) and
    keeps the last `lines`, to say why the child failed."""

    def __init__(self, stream: IO[bytes], echo: IO[bytes] | None, lines: int = TAIL_LINES):
        self._stream = stream
        self._echo = echo
        self._lines: collections.deque[bytes] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self._stream:
            for line in self._stream:
                self._lines.append(line)
                if self._echo is not None:
                    try:
                        self._echo.write(line)
                        self._echo.flush()
                    except (OSError, ValueError):  # the terminal went away
                        self._echo = None

    def text(self, wait_s: float = 1.0) -> str:
        """The last lines (after waiting up to `wait_s` for an exited child's last words)."""
        self._thread.join(wait_s)
        return b"".join(self._lines).decode(errors="replace").rstrip()


def tail_of_file(path: Path | None, lines: int = TAIL_LINES) -> str:
    """The last lines of a log file ("" when there is none)."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 64 * 1024))
        text = f.read().decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


class ServiceFailedError(RuntimeError):
    """A part of the platform did not start: which one, why, and the end of its output."""

    def __init__(self, name: str, reason: str, output: str = "") -> None:
        self.name = name
        self.reason = reason
        self.output = output
        message = f"{name} failed to start: {reason}"
        if output:
            indented = "\n".join(f"    {line}" for line in output.splitlines())
            message += f"\n  last lines of its output:\n{indented}"
        super().__init__(message)
