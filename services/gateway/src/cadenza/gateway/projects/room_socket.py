"""WS /api/v1/projects/{project_id}/ws: one member's connection to a project's room.

Text frames are JSON, AriaForge's shape `{type, user_id, timestamp, data}`. The server sends
`session.snapshot` first (the project, its members, who is here, and the shared mix:
`mix.state`, base64 of a Yjs update holding the whole document, and `mix.seq`), then
`presence`, every project event as it is decided (`project.member.removed`, …),
`mix.update` (another member's accepted change: `update` in base64, `seq`) and `error`s.
A client sends `{"type": "presence", "data": {"state": "active" | "idle", "looking_at":
{"track": …, "job_id": …, "position_s": …}}}`, `{"type": "ping"}` (answered `pong`), and
its own changes to the shared mix as binary frames, each one Yjs update (v1): answered
`mix.accepted` with its `seq`, or, refused (a reviewer, an archived project, out of the
document's bounds, too fast), `error` and `mix.reset` with the whole current state, which
the client's document must start over from (its later updates would build on the refused
one).

Bounds: frames of at most 64 KiB (the server's WebSocket limit); PRESENCE_PER_SECOND
presence updates per member and project, all their sockets on this replica together
(burst PRESENCE_BURST; more are answered with an error and dropped); MIX_PER_SECOND
shared-mix updates per member and project likewise (burst MIX_BURST), each
checked by `cadenza.gateway.shared_mix` (64 KiB, a 1 MiB document, 64 tracks…);
SOCKETS_PER_MEMBER connections per member and project on this replica; the
send queue of `rooms`. Credentials as for the REST API (or `?access_token=`): 4401
without them or when they end; a non-member gets 4404, as for a project that does not
exist; a member removed while connected gets 4403.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, ValidationError

from cadenza.gateway import shared_mix, shared_mix_repository
from cadenza.gateway.open_sockets import CredentialsEnded, until_ended
from cadenza.gateway.projects import membership, repository, workspace
from cadenza.gateway.projects.roles import ALLOWED, Action
from cadenza.gateway.projects.rooms import (
    MIX_PER_SECOND,
    PRESENCE_PER_SECOND,
    SEND_QUEUE_SIZE,
    LookingAt,
    Message,
    ProjectRooms,
    Seat,
    client_message,
    now_iso,
)
from cadenza.gateway.services import Services
from cadenza.gateway.socket_auth import socket_principal

SOCKETS_PER_MEMBER = 8


class PresenceData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = "active"
    looking_at: LookingAt | None = None


def error(message: str) -> Message:
    return {"type": "error", "user_id": None, "timestamp": now_iso(), "data": {"message": message}}


async def serve_project_socket(
    websocket: WebSocket, services: Services, rooms: ProjectRooms, project_id: uuid.UUID
) -> None:
    await websocket.accept()
    principal = await socket_principal(websocket, services)
    if principal is None:
        return
    project = await repository.project_for(services.pool, principal.id, project_id)
    if project is None:
        await _close(websocket, 4404, f"project {project_id} not found")
        return
    room = rooms.rooms.get(project_id)
    mine = [s for s in room.seats.values() if s.user_id == principal.id] if room else []
    if len(mine) >= SOCKETS_PER_MEMBER:
        await _close(
            websocket,
            4429,
            f"you have {SOCKETS_PER_MEMBER} connections to this project open, the most allowed",
        )
        return
    queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=SEND_QUEUE_SIZE)
    seat = Seat(
        project_id, principal.id, project.role or "reviewer", queue, archived=project.archived
    )
    members = await membership.members(services, principal.id, project_id)
    seq, state = await shared_mix_repository.read_state(services.pool, project_id)
    await rooms.join(seat)
    queue.put_nowait(
        {
            "type": "session.snapshot",
            "user_id": principal.id,
            "timestamp": now_iso(),
            "data": {
                "project": workspace.view(project).model_dump(mode="json"),
                "members": [m.model_dump(mode="json") for m in members],
                "here": rooms.roster(project_id),
                "connection_id": str(seat.connection_id),
                "mix": _mix_state(seq, state),
            },
        }
    )
    sender = asyncio.create_task(_send_loop(websocket, queue))
    mixing = Mixing(services, rooms)

    async def serve() -> None:
        while True:
            receiving = asyncio.ensure_future(websocket.receive())
            waiting: set[asyncio.Future[Any]] = {receiving, seat.closing}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if seat.closing.done():
                receiving.cancel()
                code, reason = seat.closing.result()
                await _close(websocket, code, reason)
                return
            message = receiving.result()
            if message["type"] == "websocket.disconnect" or sender.done():
                return
            if message.get("bytes") is not None:
                for answer in await mixing.change(seat, message["bytes"]):
                    seat.offer(answer, lossy=False)
                continue
            reply = await _handle(dict(message), seat, rooms)
            if reply is not None:
                seat.offer(reply, lossy=True)

    try:
        async with services.sockets.hold(principal) as ended:
            await until_ended(serve(), ended)
    except WebSocketDisconnect:
        pass
    except CredentialsEnded as e:
        await _close(websocket, 4401, e.reason)
    finally:
        await rooms.leave(seat)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _handle(frame: dict[str, Any], seat: Seat, rooms: ProjectRooms) -> Message | None:
    if frame.get("text") is None:
        return error("send JSON as text frames")
    try:
        request = client_message(frame["text"])
    except ValueError as e:
        return error(str(e))
    kind = request.get("type")
    if kind == "ping":
        return {"type": "pong", "user_id": seat.user_id, "timestamp": now_iso(), "data": {}}
    if kind == "presence":
        if rooms.presence_limits.take(seat.member):
            return error(
                f"at most {PRESENCE_PER_SECOND} presence updates a second; this one was dropped"
            )
        try:
            data = PresenceData.model_validate(request.get("data") or {})
        except ValidationError as e:
            return error(f"presence: {_first_problem(e)}")
        if data.state not in ("active", "idle"):
            return error("presence: state is 'active' or 'idle'")
        await rooms.update(seat, "idle" if data.state == "idle" else "active", data.looking_at)
        return None
    return error(f"unknown message type {kind!r}; use 'presence' or 'ping'")


def _mix_state(seq: int, state: bytes) -> Message:
    whole = shared_mix.diff(state, shared_mix.state_vector(shared_mix.new_state()))
    return {"seq": seq, "state": base64.b64encode(whole).decode()}


@dataclass
class Mixing:
    """One connection's changes to the project's shared mix."""

    services: Services
    rooms: ProjectRooms

    async def change(self, seat: Seat, update: bytes) -> list[Message]:
        """Keep and pass on a client's update; what to answer it."""
        refusal = self._refusal(seat)
        if refusal is None:
            try:
                appended = await shared_mix_repository.append(
                    self.services.pool, seat.project_id, update, seat.user_id
                )
            except shared_mix.MixUpdateRejectedError as e:
                refusal = str(e)
            else:
                await self.rooms.mixed(seat, appended.seq, update)
                return [_reply("mix.accepted", seat, {"seq": appended.seq})]
        seq, state = await shared_mix_repository.read_state(self.services.pool, seat.project_id)
        reset = _reply("mix.reset", seat, {**_mix_state(seq, state), "reason": refusal})
        return [error(f"shared mix: {refusal}"), reset]

    def _refusal(self, seat: Seat) -> str | None:
        if seat.role not in ALLOWED[Action.EDIT_MIX]:
            return (
                f"you are {_a(seat.role)} here: only owners, admins, producers and artists edit it"
            )
        if seat.archived:
            return "the project is archived: restore it to edit the mix"
        if self.rooms.mix_limits.take(seat.member):
            return (
                f"at most {MIX_PER_SECOND} changes a second (send them merged);"
                " this one was dropped"
            )
        return None


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def _reply(kind: str, seat: Seat, data: Message) -> Message:
    return {"type": kind, "user_id": seat.user_id, "timestamp": now_iso(), "data": data}


def _first_problem(e: ValidationError) -> str:
    problem = e.errors()[0]
    where = ".".join(str(p) for p in problem["loc"]) or "data"
    return f"{where}: {problem['msg']}"


async def _send_loop(websocket: WebSocket, queue: asyncio.Queue[Message]) -> None:
    while True:
        await websocket.send_text(json.dumps(await queue.get()))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason.encode()[:120].decode(errors="ignore"))
