"""Functions for the sandbox's tests to run in its child processes (they must be importable
by module name there, which test modules are not)."""

from __future__ import annotations

import os
import signal
import time

import numpy as np


def allocate(megabytes: int) -> int:
    return int(np.ones(megabytes << 20, dtype=np.uint8).sum() >> 20)


def spin() -> None:
    while True:
        pass


def burn(seconds: float) -> int:
    """Spend about `seconds` of CPU time."""
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pid() -> int:
    return os.getpid()


def crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def refuse(text: str) -> None:
    raise ValueError(text)


class OddError(ValueError):
    """An exception whose constructor does not take its message alone: it cannot be
    unpickled as it is."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def refuse_oddly(text: str) -> None:
    raise OddError(7, text)
