"""The gateway's half of a live effects session: a WebSocket on one side, an effects worker on
the other (cadenza.contracts.live). The gateway validates, counts and forwards; the audio is
processed by the worker.

Bounds: at most `max_in_flight` blocks are with the worker at once (the client's next block
waits, so a flood slows to the worker's pace rather than queueing), at most OUT_QUEUE
processed blocks wait for a slow client (past that the session closes: it has fallen
behind), frames are checked before they are forwarded, and a session with no frame for
`idle_timeout_s` closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter as Tally
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from cadenza.contracts.effect_chain import EffectChain
from cadenza.contracts.live import (
    KIND_HEADER,
    OPEN_SUBJECT,
    SEQ_HEADER,
    LiveClosed,
    LiveControl,
    LiveFormat,
    LiveOpen,
    LiveOpened,
    live_problems,
    session_in,
    session_out,
)
from cadenza.gateway.errors import UnprocessableError, validation_errors
from cadenza.gateway.open_sockets import CredentialsEnded, until_ended

SESSIONS = Gauge("cadenza_live_gateway_sessions", "Live sessions bridged by this gateway")
ENDED = Counter("cadenza_live_gateway_sessions_ended_total", "Live sessions ended", ["code"])

OUT_QUEUE = 64
OPEN_ATTEMPTS = 4
OPEN_TIMEOUT_S = 2.0
MAX_TEXT = 64 * 1024
CONTROL = TypeAdapter(LiveControl)
OPEN_EXAMPLE = '{"type": "open", "chain": […], "format": {…}}'


class OpenRequest(BaseModel):
    type: str
    chain: EffectChain
    format: LiveFormat = LiveFormat()


class LiveClose(Exception):  # noqa: N818 — a close of the socket, not an error of ours
    """End the session: `code` and a reason for the client (also sent in full as text)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class PrincipalSessions:
    """Live sessions per principal in this gateway replica."""

    limit: int
    open: Tally[str] = field(default_factory=Tally)

    def take(self, owner: str) -> None:
        if self.open[owner] >= self.limit:
            raise LiveClose(4429, f"at most {self.limit} live sessions at once per account")
        self.open[owner] += 1

    def give_back(self, owner: str) -> None:
        self.open[owner] -= 1
        if self.open[owner] <= 0:
            del self.open[owner]


@dataclass
class LiveLimits:
    idle_timeout_s: float
    max_in_flight: int
    stall_timeout_s: float


async def run_session(
    ws: WebSocket,
    nc: Client,
    owner: str,
    sessions: PrincipalSessions,
    limits: LiveLimits,
    ended: asyncio.Future[str] | None = None,
) -> None:
    """The whole session, from the open message to the close; never raises. If `ended`
    gets a reason first (the credentials ended), the session closes with 4401 and it."""
    bridge: Bridge | None = None
    taken = False
    code, reason = 1000, "session closed"

    async def work() -> None:
        nonlocal bridge, taken
        request = await _open_request(ws, limits.idle_timeout_s)
        sessions.take(owner)
        taken = True
        SESSIONS.inc()
        bridge = Bridge(ws, nc, owner, request, limits)
        await bridge.open()
        await bridge.run()

    try:
        if ended is None:
            await work()
        else:
            await until_ended(work(), ended)
    except LiveClose as e:
        code, reason = e.code, e.reason
    except CredentialsEnded as e:
        code, reason = 4401, e.reason
    except WebSocketDisconnect:
        code, reason = 1000, ""
    finally:
        if bridge is not None:
            await bridge.close()
        if taken:
            sessions.give_back(owner)
            SESSIONS.dec()
        ENDED.labels(str(code)).inc()
        await close_live_socket(ws, code, reason)


async def _open_request(ws: WebSocket, idle_timeout_s: float) -> OpenRequest:
    try:
        message = await asyncio.wait_for(ws.receive(), idle_timeout_s)
    except TimeoutError:
        raise LiveClose(4408, f"no open message within {idle_timeout_s:.0f} s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise LiveClose(4400, f"send the open message first, as text: {OPEN_EXAMPLE}")
    try:
        raw = json.loads(text[:MAX_TEXT])
    except ValueError:
        raise LiveClose(4400, f"the first message must be JSON: {OPEN_EXAMPLE}") from None
    try:
        request = OpenRequest.model_validate(raw)
    except ValidationError as e:
        raise LiveClose(4400, _sentence(e)) from None
    if request.type != "open":
        raise LiveClose(4400, f'the first message must be "open", not "{request.type[:40]}"')
    if problems := live_problems(list(request.chain), request.format.sample_rate):
        raise LiveClose(4400, "; ".join(problems))
    return request


class Bridge:
    def __init__(
        self, ws: WebSocket, nc: Client, owner: str, request: OpenRequest, limits: LiveLimits
    ) -> None:
        self.ws, self.nc, self.owner, self.limits = ws, nc, owner, limits
        self.request = request
        self.format = request.format
        self.session_id = uuid.uuid4()
        self.credits = asyncio.Semaphore(limits.max_in_flight)
        self.out: asyncio.Queue[bytes] = asyncio.Queue(OUT_QUEUE)
        self.in_flight = 0
        self.last_answer = time.monotonic()
        self.last_message = time.monotonic()
        self.sent = 0
        self._sub: Any = None
        self._ended: asyncio.Future[LiveClose] = asyncio.get_running_loop().create_future()

    async def open(self) -> None:
        self._sub = await self.nc.subscribe(session_out(self.session_id), cb=self._from_worker)
        ask = LiveOpen(
            session_id=self.session_id,
            owner=self.owner,
            chain=self.request.chain,
            format=self.format,
        ).model_dump_json()
        for _ in range(OPEN_ATTEMPTS):  # a queue group picks a worker at random: retry busy
            try:
                reply = await self.nc.request(OPEN_SUBJECT, ask.encode(), timeout=OPEN_TIMEOUT_S)
            except (NoRespondersError, NatsTimeoutError):
                raise LiveClose(4503, "no effects worker is available for live sessions") from None
            opened = LiveOpened.model_validate_json(reply.data)
            if opened.ok:
                await self.ws.send_text(
                    json.dumps(
                        {
                            "type": "ready",
                            "session_id": str(self.session_id),
                            "format": self.format.model_dump(),
                            "block_bytes": self.format.block_bytes,
                            "block_ms": self.format.block_seconds * 1000,
                            "max_in_flight": self.limits.max_in_flight,
                        }
                    )
                )
                return
            if opened.reason != "busy":
                raise LiveClose(4400, opened.reason or "the session could not be opened")
        raise LiveClose(4503, "every effects worker asked is full; try again shortly")

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._receive(), name="live-receive"),
            asyncio.create_task(self._send(), name="live-send"),
            asyncio.create_task(self._watch(), name="live-watch"),
        ]
        waiting: list[asyncio.Future[Any]] = [self._ended, *tasks]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if self._ended.done():
                raise self._ended.result()
            for task in tasks:
                if task.done() and (error := task.exception()) is not None:
                    raise error
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            with contextlib.suppress(Exception):
                await self.nc.publish(
                    session_in(self.session_id), b"", headers={KIND_HEADER: "close"}
                )

    def _end(self, close: LiveClose) -> None:
        if not self._ended.done():
            self._ended.set_result(close)

    # --- client → worker -----------------------------------------------------------------

    async def _receive(self) -> None:
        subject = session_in(self.session_id)
        while True:
            # No timeout here: a wait_for per block costs a task and a timer (~10-20 µs of
            # the gateway's CPU per block); `_watch` closes a session that went idle.
            message = await self.ws.receive()
            self.last_message = time.monotonic()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            data = message.get("bytes")
            if data is not None:
                await self._forward_block(subject, data)
                continue
            kind, payload = self._control(message.get("text") or "")
            if kind == "close":
                raise LiveClose(1000, "closed by the client")
            await self.nc.publish(subject, payload, headers={KIND_HEADER: "control"})

    async def _forward_block(self, subject: str, data: bytes) -> None:
        if len(data) != self.format.block_bytes:
            raise LiveClose(
                4400,
                f"a block of {len(data)} bytes; this session takes {self.format.block_bytes} "
                f"({self.format.block_frames} frames × {self.format.channels} channels × "
                f"{self.format.bytes_per_sample} bytes, {self.format.sample_format})",
            )
        if self.credits.locked():  # all in flight: wait, but not for a worker that is gone
            try:
                await asyncio.wait_for(self.credits.acquire(), self.limits.stall_timeout_s)
            except TimeoutError:
                raise self._worker_gone() from None
        else:
            await self.credits.acquire()  # returns at once
        if self.in_flight == 0:
            self.last_answer = time.monotonic()
        self.in_flight += 1
        self.sent += 1
        await self.nc.publish(
            subject, data, headers={KIND_HEADER: "audio", SEQ_HEADER: str(self.sent)}
        )

    def _control(self, text: str) -> tuple[str, bytes]:
        if len(text) > MAX_TEXT:
            raise LiveClose(4400, f"a control message longer than {MAX_TEXT} characters")
        try:
            raw = json.loads(text)
        except ValueError:
            raise LiveClose(4400, "text frames must be JSON control messages") from None
        if isinstance(raw, dict) and raw.get("type") == "close":
            return "close", b""
        try:
            control = CONTROL.validate_python(raw)
        except ValidationError as e:
            raise LiveClose(4400, _sentence(e)) from None
        if control.type == "chain" and (
            problems := live_problems(list(control.chain), self.format.sample_rate)
        ):
            raise LiveClose(4400, "; ".join(problems))
        return "control", CONTROL.dump_json(control)

    # --- worker → client -----------------------------------------------------------------

    async def _from_worker(self, msg: Msg) -> None:
        kind = (msg.headers or {}).get(KIND_HEADER, "audio")
        if kind == "close":
            closed = _closed(msg.data)
            self._end(LiveClose(closed.code, closed.reason))
            return
        self.in_flight = max(self.in_flight - 1, 0)
        self.last_answer = time.monotonic()
        self.credits.release()
        try:
            self.out.put_nowait(msg.data)
        except asyncio.QueueFull:
            self._end(
                LiveClose(4409, "the client is not reading the processed blocks; it fell behind")
            )

    async def _send(self) -> None:
        while True:
            await self.ws.send_bytes(await self.out.get())

    async def _watch(self) -> None:
        """A worker that stopped answering, or a client that stopped sending."""
        step = min(self.limits.stall_timeout_s / 4, self.limits.idle_timeout_s / 4, 0.25)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            if self.in_flight and now - self.last_answer > self.limits.stall_timeout_s:
                raise self._worker_gone()
            if now - self.last_message > self.limits.idle_timeout_s:
                raise LiveClose(
                    4408, f"no audio for {self.limits.idle_timeout_s:.0f} s; the session was closed"
                )

    def _worker_gone(self) -> LiveClose:
        return LiveClose(
            4503,
            f"the effects worker stopped answering ({self.limits.stall_timeout_s:g} s); "
            "reconnect to open a new session",
        )


def _closed(data: bytes) -> LiveClosed:
    try:
        return LiveClosed.model_validate_json(data)
    except ValidationError:
        return LiveClosed(reason="the effects worker closed the session")


def _sentence(error: ValidationError) -> str:
    return str(UnprocessableError(validation_errors(error.errors())))


async def close_live_socket(ws: WebSocket, code: int, reason: str) -> None:
    """The full reason as a text message, then the close (whose reason is capped at 123
    bytes by the protocol): how every live session ends."""
    with contextlib.suppress(Exception):
        if reason and code != 1000:
            await ws.send_text(json.dumps({"type": "closed", "code": code, "reason": reason}))
        short = reason.encode()[:120].decode(errors="ignore")
        await ws.close(code=code, reason=short)
