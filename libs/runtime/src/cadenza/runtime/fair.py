"""Fair sharing of a few slots (worker processes, job runners) between accounts.

A plain semaphore serves waiters first come, first served: one account that asks for ten
slots at once makes everyone behind it wait for all ten. `FairSlots` instead takes turns
between accounts: the waiting account that holds the fewest slots goes first, then the one
served least recently (round robin), then whoever has waited longest; it caps how many
slots one account may hold at once, and can refuse an account that already has too
many requests waiting, so a flood is turned away at the door instead of queueing.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


class OwnerBusyError(Exception):
    """The account already has as many requests in flight as it may; the message says so."""


@dataclass(order=True)
class _Waiter:
    ticket: int
    owner: str = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class FairSlots:
    """At most `capacity` holders at once and at most `per_owner` per owner (None: no cap).

    `max_in_flight_per_owner` (None: no limit) refuses an owner with that many requests
    already holding or waiting for a slot, with `OwnerBusyError`. Used from one event loop.
    """

    def __init__(
        self,
        capacity: int,
        *,
        per_owner: int | None = None,
        max_in_flight_per_owner: int | None = None,
        what: str = "requests",
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.per_owner = per_owner
        self.max_in_flight = max_in_flight_per_owner
        self.what = what
        self._holding: Counter[str] = Counter()
        self._waiting: dict[str, deque[_Waiter]] = {}
        self._tickets = itertools.count()
        # When each account with slots held or wanted was last given one (round robin).
        self._served: dict[str, int] = {}

    @property
    def held(self) -> int:
        return sum(self._holding.values())

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def in_flight(self, owner: str) -> int:
        return self._holding[owner] + len(self._waiting.get(owner, ()))

    def free_for(self, owner: str) -> bool:
        """Whether `slot(owner)` would be granted at once: a slot is free, nobody waits
        for one, and the owner holds fewer than its share."""
        return self.held < self.capacity and not self._waiting and self._eligible(owner)

    @asynccontextmanager
    async def slot(self, owner: str, *, refuse_when_busy: bool = True) -> AsyncIterator[None]:
        """Hold one slot for `owner` while the block runs. Past `max_in_flight_per_owner`
        the request is refused (`OwnerBusyError`), or with `refuse_when_busy=False` waits
        its turn like any other."""
        if (
            refuse_when_busy
            and self.max_in_flight is not None
            and self.in_flight(owner) >= self.max_in_flight
        ):
            raise OwnerBusyError(
                f"at most {self.max_in_flight} {self.what} at once per account; "
                "wait for one to finish"
            )
        waiter = _Waiter(next(self._tickets), owner, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(owner, deque()).append(waiter)
        self._dispatch()
        try:
            await waiter.future
        except BaseException:
            if waiter.future.done() and not waiter.future.cancelled():
                self._release(owner)  # granted as it was cancelled: give it straight back
            else:
                self._forget(waiter)
            raise
        try:
            yield
        finally:
            self._release(owner)

    def _forget(self, waiter: _Waiter) -> None:
        queue = self._waiting.get(waiter.owner)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[waiter.owner]
        self._forget_idle(waiter.owner)

    def _forget_idle(self, owner: str) -> None:
        if not self._holding[owner] and owner not in self._waiting:
            self._served.pop(owner, None)

    def _release(self, owner: str) -> None:
        self._holding[owner] -= 1
        if self._holding[owner] <= 0:
            del self._holding[owner]
        self._forget_idle(owner)
        self._dispatch()

    def _eligible(self, owner: str) -> bool:
        return self.per_owner is None or self._holding[owner] < self.per_owner

    def _dispatch(self) -> None:
        while self.held < self.capacity:
            candidates = [
                (self._holding[owner], self._served.get(owner, -1), queue[0])
                for owner, queue in self._waiting.items()
                if queue and self._eligible(owner)
            ]
            if not candidates:
                return
            *_, waiter = min(candidates)
            if waiter.future.done():  # cancelled while waiting
                self._forget(waiter)
                continue
            self._holding[waiter.owner] += 1
            self._served[waiter.owner] = next(self._tickets)
            self._forget(waiter)
            waiter.future.set_result(None)
