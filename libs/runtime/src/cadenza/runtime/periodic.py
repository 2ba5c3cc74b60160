"""A coroutine run every few seconds in the background, for the life of a service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls `action` every `interval_s`; a failure (a dependency down) is logged and the
    next round tries again."""

    def __init__(
        self, name: str, interval_s: float, action: Callable[[], Awaitable[object]]
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.action = action
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.action()
            except Exception as e:
                log.warning("%s failed this round: %s", self.name, e)
