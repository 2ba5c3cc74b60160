"""FairSlots: the waiting account holding the fewest slots goes first, per-account caps hold,
a flood past the in-flight limit is refused, and a cancelled waiter leaves no trace."""

from __future__ import annotations

import asyncio

import pytest

from cadenza.runtime.fair import FairSlots, OwnerBusyError


async def _hold(slots: FairSlots, owner: str, order: list[str], release: asyncio.Event) -> None:
    async with slots.slot(owner, refuse_when_busy=False):
        order.append(owner)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_flood_from_one_account_does_not_delay_another() -> None:
    slots = FairSlots(1)
    order: list[str] = []
    release = asyncio.Event()
    first = asyncio.create_task(_hold(slots, "flood", order, release))
    await _settle()
    # Ten more from the flooding account queue first, then one from a quiet account.
    waiting = [asyncio.create_task(_hold(slots, "flood", order, release)) for _ in range(10)]
    await _settle()
    quiet = asyncio.create_task(_hold(slots, "quiet", order, release))
    await _settle()
    release.set()
    await asyncio.gather(first, *waiting, quiet)
    # FIFO would serve the quiet account last (12th); fair sharing serves it second.
    assert order.index("quiet") == 1
    assert len(order) == 12


async def test_per_owner_cap_leaves_room_for_others() -> None:
    slots = FairSlots(2, per_owner=1)
    release = asyncio.Event()
    order: list[str] = []
    tasks = [asyncio.create_task(_hold(slots, "a", order, release)) for _ in range(3)]
    await _settle()
    assert order == ["a"]  # the second slot stays free for another account
    tasks.append(asyncio.create_task(_hold(slots, "b", order, release)))
    await _settle()
    assert order == ["a", "b"]
    assert slots.held == 2
    release.set()
    await asyncio.gather(*tasks)
    assert slots.held == 0 and slots.waiting == 0


async def test_past_the_in_flight_limit_an_account_is_refused_at_once() -> None:
    slots = FairSlots(1, max_in_flight_per_owner=2, what="file checks")
    release = asyncio.Event()
    order: list[str] = []
    held = asyncio.create_task(_hold(slots, "a", order, release))
    await _settle()
    async with asyncio.timeout(1):
        queued = asyncio.create_task(_hold(slots, "a", order, release))
        await _settle()
        with pytest.raises(OwnerBusyError, match="at most 2 file checks at once per account"):
            async with slots.slot("a"):
                pass
        # Another account is not affected by a's limit.
        other = asyncio.create_task(_hold(slots, "b", order, release))
        await _settle()
    release.set()
    await asyncio.gather(held, queued, other)
    assert sorted(order) == ["a", "a", "b"]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    slots = FairSlots(1)
    release = asyncio.Event()
    order: list[str] = []
    held = asyncio.create_task(_hold(slots, "a", order, release))
    await _settle()
    gone = asyncio.create_task(_hold(slots, "b", order, release))
    await _settle()
    gone.cancel()
    await _settle()
    assert slots.waiting == 0
    later = asyncio.create_task(_hold(slots, "c", order, release))
    release.set()
    await asyncio.gather(held, later)
    assert order == ["a", "c"]
    assert slots.held == 0
