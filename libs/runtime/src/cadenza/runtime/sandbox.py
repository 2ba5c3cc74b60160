"""Work on untrusted bytes in a bounded pool of worker processes, each task under limits.

Decoding a file someone sent us can cost far more than its size says (a few kilobytes of
FLAC may hold hours of 768 kHz silence; a MIDI file millions of events). Such work never
runs in the threads that serve requests or consume commands: it runs here, in one of a
fixed number of child processes (pebble's pool, started by a fork server so no lock or
thread of the parent is copied), and each task is bounded three ways:

- memory: the child's address space is capped (RLIMIT_AS), so an allocation past the limit
  fails in the child (MemoryError), never in the parent;
- CPU time: the child's CPU limit is set to what it has used so far plus the task's
  allowance (RLIMIT_CPU); past it the kernel ends the child;
- wall time: the pool ends a task that runs too long and starts a fresh child.

A child that dies is replaced; the caller gets a `SandboxLimitError` whose message says
which limit was hit, in words for the person who sent the file. Callers are served fairly
by account (`cadenza.runtime.fair`): one account's flood waits behind everyone else's turn
and is refused past `max_in_flight_per_owner`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import pickle
import resource
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from pebble import ProcessExpired, ProcessPool

from cadenza.runtime.fair import FairSlots

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
MIB = 1 << 20


class SandboxLimitError(Exception):
    """A task hit one of its limits (or crashed its process); the message is for people."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    cpu_seconds: float
    wall_seconds: float


def _start_child(memory_bytes: int) -> None:
    """In each child, once: cap its address space and ignore Ctrl-C (the parent decides when
    children stop). Numerical libraries were made single-threaded in the fork server
    (cadenza.runtime.sandbox_child), before they loaded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or memory_bytes < hard:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_limited(
    function: Callable[..., T], cpu_seconds: float, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """In the child: allow `cpu_seconds` more CPU time for this task, then lift the cap."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used() + cpu_seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        return function(*args, **kwargs)
    except Exception as e:
        raise _picklable(e) from None
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _picklable(error: Exception) -> Exception:
    """The error itself if it survives the trip to the parent, else a plain one with its
    message (an exception class whose constructor takes other arguments than its message
    cannot be unpickled, and would break the pool)."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes, just made)
    except Exception:
        plain = ValueError if isinstance(error, ValueError) else RuntimeError
        return plain(str(error))
    return error


class Sandbox:
    """`await sandbox.run(owner, function, *args)`: `function(*args)` in a child process
    under `limits`, at most `workers` at once, shared fairly between owners. `function` and
    its arguments must pickle (a module-level function, plain values and paths)."""

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        limits: Limits,
        max_in_flight_per_owner: int | None = None,
        preload: Sequence[str] = (),
        max_tasks_per_child: int = 200,
    ) -> None:
        self.name = name
        self.limits = limits
        self.workers = workers
        self.slots = FairSlots(
            workers,
            per_owner=None,
            max_in_flight_per_owner=max_in_flight_per_owner,
            what=f"{name} tasks",
        )
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["cadenza.runtime.sandbox_child", *preload])
        self._max_tasks = max_tasks_per_child
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPool:
        return ProcessPool(
            max_workers=self.workers,
            max_tasks=self._max_tasks,
            initializer=_start_child,
            initargs=(self.limits.memory_bytes,),
            context=self._context,
        )

    def _restart(self) -> None:
        broken, self._pool = self._pool, self._new_pool()
        broken.stop()  # type: ignore[no-untyped-call]

    async def run(
        self, owner: str, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The function's result, or its exception; `SandboxLimitError` past a limit;
        `cadenza.runtime.fair.OwnerBusyError` when `owner` already has too many in flight."""
        return await self._run(owner, True, function, args, kwargs)

    async def run_in_turn(
        self, owner: str, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `run`, but waits its turn however many `owner` has in flight (for work
        already accepted, such as a job)."""
        return await self._run(owner, False, function, args, kwargs)

    async def _run(
        self,
        owner: str,
        refuse_when_busy: bool,
        function: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        async with self.slots.slot(owner, refuse_when_busy=refuse_when_busy):
            future = self._pool.schedule(
                _run_limited,
                args=(function, self.limits.cpu_seconds, args, kwargs),
                timeout=self.limits.wall_seconds,
            )
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                future.cancel()  # type: ignore[no-untyped-call]  # pebble ends the child
                raise
            except FutureTimeoutError:
                raise SandboxLimitError(
                    "wall",
                    f"it took longer than {self.limits.wall_seconds:g} s to process "
                    "(the limit per file)",
                ) from None
            except MemoryError:
                raise SandboxLimitError(
                    "memory",
                    f"processing it needs more than {self.limits.memory_bytes // MIB} MiB "
                    "of memory (the limit per file)",
                ) from None
            except ProcessExpired as e:
                raise self._expired(e) from None
            except BrokenProcessPool as e:  # pebble could not read a child's answer
                log.error("%s pool broke (%s); starting a new one", self.name, e)
                self._restart()
                raise SandboxLimitError(
                    "crash", "the file could not be checked; try again"
                ) from None

    def _expired(self, error: ProcessExpired) -> SandboxLimitError:
        code = error.exitcode
        if code == -signal.SIGXCPU:
            return SandboxLimitError(
                "cpu",
                f"it needs more than {self.limits.cpu_seconds:g} s of CPU time to process "
                "(the limit per file)",
            )
        log.warning("%s child process died (exit code %s)", self.name, code)
        return SandboxLimitError(
            "crash",
            "the decoder stopped on this file (it is damaged or built to crash decoders)",
        )

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)
