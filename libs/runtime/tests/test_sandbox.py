"""The sandbox runs functions in child processes and stops each at its memory, CPU and wall
limits with a sentence, keeps serving afterwards, and never lets the parent grow."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import psutil
import pytest

from cadenza.devstack.sandbox_tasks import (
    allocate,
    burn,
    crash,
    nap,
    pid,
    refuse,
    refuse_oddly,
    spin,
)
from cadenza.runtime.fair import OwnerBusyError
from cadenza.runtime.sandbox import Limits, Sandbox, SandboxLimitError


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(
        "test",
        workers=2,
        limits=Limits(memory_bytes=400 << 20, cpu_seconds=1.5, wall_seconds=4.0),
        max_in_flight_per_owner=2,
    )
    yield box
    box.close()


async def test_results_and_exceptions_come_back(sandbox: Sandbox) -> None:
    assert await sandbox.run("a", allocate, 50) == 50
    assert await sandbox.run("a", pid) != os.getpid()
    with pytest.raises(ValueError, match="not audio"):
        await sandbox.run("a", refuse, "not audio")
    # An exception that cannot be unpickled comes back as a plain one with its message.
    with pytest.raises(ValueError, match="odd"):
        await sandbox.run("a", refuse_oddly, "odd")
    assert await sandbox.run("a", allocate, 1) == 1


async def test_memory_past_the_limit_fails_in_the_child(sandbox: Sandbox) -> None:
    parent = psutil.Process().memory_info().rss
    with pytest.raises(SandboxLimitError, match="more than 400 MiB of memory") as caught:
        await sandbox.run("a", allocate, 1024)
    assert caught.value.limit == "memory"
    assert psutil.Process().memory_info().rss - parent < 64 << 20
    assert await sandbox.run("a", allocate, 100) == 100  # the pool still serves


async def test_cpu_time_past_the_limit_ends_the_child(sandbox: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxLimitError, match=r"more than 1.5 s of CPU time") as caught:
        await sandbox.run("a", spin)
    assert caught.value.limit == "cpu"
    assert time.monotonic() - started < 4.0
    # A fresh child: the CPU used by the one that was ended does not count against it.
    assert await sandbox.run("a", allocate, 1) == 1


async def test_wall_time_past_the_limit_ends_the_task(sandbox: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxLimitError, match="longer than 4 s") as caught:
        await sandbox.run("a", nap, 30.0)
    assert caught.value.limit == "wall"
    assert time.monotonic() - started < 6.0
    assert await sandbox.run("a", nap, 0.01) == 0.01


async def test_a_crash_is_reported_and_the_pool_goes_on(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxLimitError, match="decoder stopped") as caught:
        await sandbox.run("a", crash)
    assert caught.value.limit == "crash"
    assert await sandbox.run("a", allocate, 1) == 1


async def test_cpu_allowance_is_per_task_not_per_child(sandbox: Sandbox) -> None:
    # Ten tasks of ~0.3 s CPU each in two children: more than 1.5 s per child in all.
    for _ in range(10):
        assert await sandbox.run("a", burn, 0.3) > 0


async def test_an_account_past_its_in_flight_limit_is_refused(sandbox: Sandbox) -> None:
    running = [asyncio.create_task(sandbox.run("busy", nap, 1.0)) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(OwnerBusyError):
        await sandbox.run("busy", nap, 0.0)
    assert await sandbox.run_in_turn("busy", nap, 0.0) == 0.0  # jobs wait their turn
    assert await asyncio.gather(*running) == [1.0, 1.0]
