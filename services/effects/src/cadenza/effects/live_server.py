"""The effects worker's side of live sessions (cadenza.contracts.live): answers `live.open` in
a queue group, then owns each session it accepted until the gateway closes it, it goes idle,
or this worker stops. Blocks are processed as they arrive, in order, on the event loop:
a 10 ms block through a few plugins takes a small fraction of a millisecond."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Counter, Gauge, Histogram
from pydantic import TypeAdapter, ValidationError

from cadenza.contracts.live import (
    KIND_HEADER,
    OPEN_QUEUE,
    OPEN_SUBJECT,
    SEQ_HEADER,
    TIMING_HEADER,
    LiveClosed,
    LiveControl,
    LiveOpen,
    LiveOpened,
    session_in,
    session_out,
)
from cadenza.effects.live_session import LiveInputError, LiveSession, NoRoomError
from cadenza.runtime.heap import release_free_memory

log = logging.getLogger(__name__)

CONTROL = TypeAdapter(LiveControl)
SESSIONS = Gauge("cadenza_live_sessions", "Live sessions this worker holds")
BLOCKS = Counter("cadenza_live_blocks_total", "Live blocks processed")
BLOCK_SECONDS = Histogram(
    "cadenza_live_block_seconds",
    "Time to process one live block",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025),
)
CLOSED = Counter("cadenza_live_sessions_closed_total", "Live sessions ended, by why", ["why"])


class LiveServer:
    def __init__(
        self,
        nc: Client,
        worker: str,
        *,
        max_sessions: int,
        idle_timeout_s: float,
        timing: bool = False,
        session_memory_bytes: int | None = None,
        memory_bytes: int | None = None,
    ) -> None:
        self.nc = nc
        self.session_memory_bytes = session_memory_bytes
        self.memory_bytes = memory_bytes
        self.timing = timing
        self.worker = worker
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.sessions: dict[uuid.UUID, tuple[LiveSession, Subscription]] = {}
        self._open_sub: Subscription | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._open_sub = await self.nc.subscribe(OPEN_SUBJECT, queue=OPEN_QUEUE, cb=self._on_open)
        self._sweeper = asyncio.create_task(self._sweep_idle(), name="live-idle-sweep")

    async def stop(self) -> None:
        if self._open_sub is not None:
            await self._open_sub.unsubscribe()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for session_id in list(self.sessions):
            await self._close(
                session_id,
                "the effects worker is shutting down; reconnect to open a new session",
                code=1012,
                why="worker_stopping",
            )
        await self.nc.flush()

    async def _on_open(self, msg: Msg) -> None:
        try:
            request = LiveOpen.model_validate_json(msg.data)
        except ValidationError as e:
            await self._answer(msg, LiveOpened(ok=False, reason=f"bad open request: {e}"))
            return
        if len(self.sessions) >= self.max_sessions:
            await self._answer(msg, LiveOpened(ok=False, reason="busy"))
            return
        try:
            session = LiveSession(
                request, max_memory_bytes=self.session_memory_bytes, room=self._room
            )
        except NoRoomError:  # another worker may have room: the gateway asks again
            await self._answer(msg, LiveOpened(ok=False, reason="busy"))
            return
        except LiveInputError as e:
            await self._answer(msg, LiveOpened(ok=False, reason=str(e)))
            return
        sub = await self.nc.subscribe(session_in(session.id), cb=self._handler(session))
        self.sessions[session.id] = (session, sub)
        SESSIONS.set(len(self.sessions))
        log.info("live session %s opened for %s (%s)", session.id, session.owner, request.format)
        await self._answer(msg, LiveOpened(ok=True, worker=self.worker))

    def _room(self, asking: LiveSession | None) -> int:
        """Bytes of chain memory this worker can still give (to `asking`, beyond what it
        holds now)."""
        if self.memory_bytes is None:
            return 1 << 62
        held = sum(s.memory_bytes for s, _ in self.sessions.values() if s is not asking)
        mine = asking.memory_bytes if asking is not None else 0
        return self.memory_bytes - held - mine

    def _handler(self, session: LiveSession) -> Callable[[Msg], Awaitable[None]]:
        out = session_out(session.id)

        async def on_message(msg: Msg) -> None:
            kind = (msg.headers or {}).get(KIND_HEADER, "audio")
            try:
                if kind == "audio":
                    started = time.perf_counter()
                    processed = session.process(msg.data)
                    finished = time.perf_counter()
                    BLOCK_SECONDS.observe(finished - started)
                    BLOCKS.inc()
                    seq = (msg.headers or {}).get(SEQ_HEADER, str(session.blocks))
                    headers = {KIND_HEADER: "audio", SEQ_HEADER: seq}
                    if self.timing:
                        headers[TIMING_HEADER] = f"{started:.6f},{finished:.6f}"
                    await self.nc.publish(out, processed, headers=headers)
                elif kind == "control":
                    session.apply(CONTROL.validate_json(msg.data))
                elif kind == "close":
                    await self._close(session.id, None, why="client_left")
            except (LiveInputError, ValidationError) as e:
                await self._close(session.id, str(e), code=4400, why="bad_input")

        return on_message

    async def _close(
        self, session_id: uuid.UUID, reason: str | None, *, code: int = 1000, why: str
    ) -> None:
        entry = self.sessions.pop(session_id, None)
        if entry is None:
            return
        session, sub = entry
        await sub.unsubscribe()
        SESSIONS.set(len(self.sessions))
        CLOSED.labels(why).inc()
        if reason is not None:
            closed = LiveClosed(reason=reason, code=code).model_dump_json().encode()
            await self.nc.publish(session_out(session_id), closed, headers={KIND_HEADER: "close"})
        log.info("live session %s closed after %d blocks (%s)", session_id, session.blocks, why)
        session.close()
        release_free_memory()  # its delay lines go back to the system, not to the heap

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle_timeout_s / 4, 5.0))
            now = time.monotonic()
            for session_id, (session, _) in list(self.sessions.items()):
                if now - session.last_active > self.idle_timeout_s:
                    await self._close(
                        session_id,
                        f"no audio for {self.idle_timeout_s:.0f} s; the session was closed",
                        code=4408,
                        why="idle",
                    )

    async def _answer(self, msg: Msg, answer: LiveOpened) -> None:
        if msg.reply:
            await self.nc.publish(msg.reply, answer.model_dump_json().encode())
