"""Project rooms: the members connected to each project right now, across gateway replicas.

Every replica hears every project's events (core NATS on `project.>`, the subjects the
PROJECTS stream stores), every presence change (core NATS on `PRESENCE_SUBJECTS`, kept
by no stream: presence is of the moment) and every accepted shared-mix update (core NATS
on `MIX_SUBJECTS`; the updates themselves are kept in PostgreSQL), and pushes them to its
own sockets of that project as AriaForge's messages, `{type, user_id, timestamp, data}`.
Each replica keeps the whole roster (every connection's last presence) from those
messages, so a newcomer's snapshot lists everyone; a replica re-announces its own connections every
PRESENCE_REFRESH_S and forgets any connection not heard of for PRESENCE_TTL_S (a replica
that died without saying its members left).

Bounds: a socket's send queue holds SEND_QUEUE_SIZE messages; presence is dropped for a
socket that is that far behind, but a project event is not: that socket is closed (1013)
and its client reconnects for a fresh snapshot. A removed member's sockets of the project
are closed (4403) as soon as any replica decided the removal.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import JobCancelled, JobSubmitted, StageCompleted, StageFailed
from cadenza.contracts.projects import (
    MemberRemoved,
    MemberRoleChanged,
    OwnershipTransferred,
    ProjectArchived,
    ProjectEvent,
    ProjectRestored,
    decode_project_event,
)
from cadenza.gateway.rate_limit import RateLimiter

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "workspace.presence"
PRESENCE_SUBJECTS = f"{PRESENCE_PREFIX}.*"
# An accepted shared-mix update (already in PostgreSQL), for every replica's sockets.
MIX_PREFIX = "workspace.mix"
MIX_SUBJECTS = f"{MIX_PREFIX}.*"
SEND_QUEUE_SIZE = 1000
# What one member may send to one project, all their sockets on this replica together
# (each shared-mix update is checked against the whole document: CPU worth bounding).
PRESENCE_PER_SECOND = 10
PRESENCE_BURST = 20
MIX_PER_SECOND = 30
MIX_BURST = 60
# Jobs whose project this replica remembers, to say when they end (oldest forgotten first).
JOBS_REMEMBERED = 10_000
PRESENCE_REFRESH_S = 20.0
PRESENCE_TTL_S = 60.0
ENVELOPE = frozenset(
    {"event_id", "correlation_id", "causation_id", "occurred_at", "schema_version", "project_id"}
)

SEATS = Gauge("cadenza_project_connections", "Project WebSockets open on this gateway")

Message = dict[str, Any]
State = Literal["joined", "active", "idle", "left"]


class LookingAt(BaseModel):
    """What a member is looking at: a track (a stem or an artifact's name), a job, or a
    time position (seconds into the project's mix), or several of these."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    track: str | None = Field(default=None, min_length=1, max_length=128)
    job_id: uuid.UUID | None = None
    position_s: float | None = Field(default=None, ge=0, le=86_400)


class Presence(BaseModel):
    """One connection's presence, as replicas tell each other."""

    model_config = ConfigDict(extra="ignore")

    project_id: uuid.UUID
    connection_id: uuid.UUID
    user_id: str
    state: State
    looking_at: LookingAt | None = None
    at: float  # time.time() when it changed


class MixHeard(BaseModel):
    """A shared-mix update as replicas tell each other (base64 of the Yjs update)."""

    model_config = ConfigDict(extra="ignore")

    project_id: uuid.UUID
    connection_id: uuid.UUID
    user_id: str
    seq: int
    update: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Seat:
    """One socket in a project's room."""

    project_id: uuid.UUID
    user_id: str
    role: str
    queue: asyncio.Queue[Message]
    connection_id: uuid.UUID = field(default_factory=uuid.uuid4)
    archived: bool = False
    # Set with (code, reason) when the server ends the socket.
    closing: asyncio.Future[tuple[int, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def close(self, code: int, reason: str) -> None:
        if not self.closing.done():
            self.closing.set_result((code, reason))

    @property
    def member(self) -> str:
        """The key of this member in this project (their rate limits)."""
        return f"{self.project_id}/{self.user_id}"

    def offer(self, message: Message, *, lossy: bool) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            if not lossy:
                self.close(1013, "too far behind; reconnect for a fresh snapshot")


@dataclass
class Room:
    seats: dict[uuid.UUID, Seat] = field(default_factory=dict)
    # Every connection in the project on any replica, by connection id.
    roster: dict[uuid.UUID, Presence] = field(default_factory=dict)


class ProjectRooms:
    def __init__(
        self,
        broker: NatsBroker,
        *,
        clock: Callable[[], float] = time.time,
        on_member_removed: Callable[[str, uuid.UUID], None] | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        # Told (account, project) when a member leaves or is removed (the job feed ends
        # their subscriptions to the project's jobs).
        self.on_member_removed = on_member_removed
        self.rooms: dict[uuid.UUID, Room] = {}
        self.presence_limits = RateLimiter(PRESENCE_PER_SECOND * 60, PRESENCE_BURST)
        self.mix_limits = RateLimiter(MIX_PER_SECOND * 60, MIX_BURST)
        self._job_projects: OrderedDict[uuid.UUID, uuid.UUID] = OrderedDict()
        self._refresh: asyncio.Task[None] | None = None

    # ---- this replica's sockets ----------------------------------------------------------

    async def join(self, seat: Seat, looking_at: LookingAt | None = None) -> None:
        room = self.rooms.setdefault(seat.project_id, Room())
        room.seats[seat.connection_id] = seat
        SEATS.inc()
        await self._announce(seat, "joined", looking_at)

    async def leave(self, seat: Seat) -> None:
        room = self.rooms.get(seat.project_id)
        if room is None or room.seats.pop(seat.connection_id, None) is None:
            return
        SEATS.dec()
        with contextlib.suppress(Exception):  # NATS gone: the others forget it by TTL
            await self._announce(seat, "left", None)
        if not room.seats and not room.roster:
            self.rooms.pop(seat.project_id, None)

    async def update(self, seat: Seat, state: State, looking_at: LookingAt | None) -> None:
        await self._announce(seat, state, looking_at)

    def roster(self, project_id: uuid.UUID) -> list[Message]:
        """Who is in the project now: one entry per member (their latest connection)."""
        room = self.rooms.get(project_id)
        latest: dict[str, Presence] = {}
        for presence in room.roster.values() if room else ():
            if presence.user_id not in latest or presence.at > latest[presence.user_id].at:
                latest[presence.user_id] = presence
        return [
            {
                "user_id": p.user_id,
                "state": "active" if p.state == "joined" else p.state,
                "looking_at": p.looking_at.model_dump(mode="json", exclude_none=True)
                if p.looking_at
                else None,
            }
            for p in sorted(latest.values(), key=lambda p: p.user_id)
        ]

    async def _announce(self, seat: Seat, state: State, looking_at: LookingAt | None) -> None:
        presence = Presence(
            project_id=seat.project_id,
            connection_id=seat.connection_id,
            user_id=seat.user_id,
            state=state,
            looking_at=looking_at,
            at=self.clock(),
        )
        await self.broker.publish(
            presence.model_dump_json().encode(), subject=f"{PRESENCE_PREFIX}.{seat.project_id}"
        )

    async def mixed(self, seat: Seat, seq: int, update: bytes) -> None:
        """Tell every replica an update `seat` made to the shared mix was accepted."""
        heard = MixHeard(
            project_id=seat.project_id,
            connection_id=seat.connection_id,
            user_id=seat.user_id,
            seq=seq,
            update=base64.b64encode(update).decode(),
        )
        await self.broker.publish(
            heard.model_dump_json().encode(), subject=f"{MIX_PREFIX}.{seat.project_id}"
        )

    # ---- what the bus says -----------------------------------------------------------------

    def heard_job(self, event: Event) -> None:
        """A project's job started or ended (the gateway's live feed hears every job fact):
        activity for the project's room. Which project a job is in is learned from its
        `job.submitted` (the last JOBS_REMEMBERED of them)."""
        data: Message = {"job_id": str(event.job_id)}
        if isinstance(event, JobSubmitted):
            if event.project_id is None:
                return
            project_id = event.project_id
            self._job_projects[event.job_id] = project_id
            while len(self._job_projects) > JOBS_REMEMBERED:
                self._job_projects.popitem(last=False)
            kind, data = "job.started", {**data, "kind": event.kind}
        else:
            known = self._job_projects.get(event.job_id)
            if known is None:
                return
            project_id = known
            if isinstance(event, StageCompleted) and event.job_finished:
                kind = "job.completed"
            elif isinstance(event, StageFailed):
                kind, data = "job.failed", {**data, "reason": event.reason}
            elif isinstance(event, JobCancelled):
                kind = "job.cancelled"
            else:
                return
            self._job_projects.pop(event.job_id, None)
        room = self.rooms.get(project_id)
        if room is not None:
            self._deliver(room, _message(kind, event.owner, data), lossy=False)

    def heard_mix(self, heard: MixHeard) -> None:
        """To every socket of the project but the one that made it (its client has it)."""
        room = self.rooms.get(heard.project_id)
        if room is None:
            return
        message = _message("mix.update", heard.user_id, {"seq": heard.seq, "update": heard.update})
        for seat in room.seats.values():
            if seat.connection_id != heard.connection_id:
                seat.offer(message, lossy=False)

    def heard_presence(self, presence: Presence) -> None:
        room = self.rooms.setdefault(presence.project_id, Room())
        before = self._online(room, presence.user_id)
        if presence.state == "left":
            room.roster.pop(presence.connection_id, None)
        else:
            room.roster[presence.connection_id] = presence
        after = self._online(room, presence.user_id)
        if presence.state == "left" and after:
            return  # another of their connections is still here
        if presence.state == "joined" and before:
            state: State = "active"
        else:
            state = presence.state
        data: Message = {"state": state}
        if presence.looking_at is not None:
            data["looking_at"] = presence.looking_at.model_dump(mode="json", exclude_none=True)
        self._deliver(room, _message("presence", presence.user_id, data), lossy=True)
        if not room.seats and not room.roster:
            self.rooms.pop(presence.project_id, None)

    @staticmethod
    def _online(room: Room, user_id: str) -> bool:
        return any(p.user_id == user_id for p in room.roster.values())

    def heard_event(self, event: ProjectEvent) -> None:
        if isinstance(event, MemberRemoved) and self.on_member_removed is not None:
            self.on_member_removed(event.account_id, event.project_id)
        room = self.rooms.get(event.project_id)
        if room is None:
            return
        data = {
            k: v
            for k, v in event.model_dump(mode="json").items()
            if k not in ENVELOPE and k != "actor"
        }
        message = _message(event.subject, event.actor, data, event.occurred_at.isoformat())
        self._deliver(room, message, lossy=False)
        for seat in list(room.seats.values()):
            _follow(seat, event)

    def _deliver(self, room: Room, message: Message, *, lossy: bool) -> None:
        for seat in room.seats.values():
            seat.offer(message, lossy=lossy)

    # ---- upkeep ----------------------------------------------------------------------------

    def start(self) -> None:
        self._refresh = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_S)
            try:
                await self.refresh()
            except Exception as e:
                log.warning("could not refresh project presence: %s", e)

    async def refresh(self) -> None:
        """Say again who is connected here; forget connections no replica spoke for."""
        for room in list(self.rooms.values()):
            for seat in list(room.seats.values()):
                mine = room.roster.get(seat.connection_id)
                if mine is not None:
                    await self._announce(seat, mine.state, mine.looking_at)
        oldest = self.clock() - PRESENCE_TTL_S
        for project_id, room in list(self.rooms.items()):
            for connection_id, presence in list(room.roster.items()):
                if presence.at < oldest and connection_id not in room.seats:
                    left = presence.model_copy(update={"state": "left", "at": self.clock()})
                    self.heard_presence(left)
            if not room.seats and not room.roster:
                self.rooms.pop(project_id, None)


def _follow(seat: Seat, event: ProjectEvent) -> None:
    """What a project event changes for one socket: its role, the project's state, or
    its end (the member was removed or left)."""
    match event:
        case MemberRemoved() if event.account_id == seat.user_id:
            why = "you left the project" if event.reason == "left" else "you were removed"
            seat.close(4403, f"{why}: project {seat.project_id} is no longer yours to see")
        case MemberRoleChanged() if event.account_id == seat.user_id:
            seat.role = event.role
        case OwnershipTransferred():
            if event.to_account == seat.user_id:
                seat.role = "owner"
            elif event.from_account == seat.user_id:
                seat.role = "admin"
        case ProjectArchived():
            seat.archived = True
        case ProjectRestored():
            seat.archived = False


def _message(kind: str, user_id: str, data: Message, timestamp: str | None = None) -> Message:
    return {"type": kind, "user_id": user_id, "timestamp": timestamp or now_iso(), "data": data}


def install_room_subscribers(broker: NatsBroker, rooms: ProjectRooms) -> None:
    """Core NATS subscriptions (every replica hears everything) for the rooms."""

    # no_reply: a JetStream publish is a request; answering it would race the PubAck.
    @broker.subscriber("project.>", no_reply=True, title="project-rooms-events")
    async def project_event(msg: NatsMessage) -> None:
        try:
            event = decode_project_event(msg.raw_message.subject, msg.body)
        except (KeyError, ValidationError):
            return  # a subject this gateway does not know (a newer replica)
        rooms.heard_event(event)

    @broker.subscriber(PRESENCE_SUBJECTS, title="project-rooms-presence")
    async def presence(msg: NatsMessage) -> None:
        try:
            heard = Presence.model_validate_json(msg.body)
        except ValidationError:
            log.warning("dropping a malformed presence message")
            return
        rooms.heard_presence(heard)

    @broker.subscriber(MIX_SUBJECTS, title="project-rooms-mix")
    async def mix(msg: NatsMessage) -> None:
        try:
            heard = MixHeard.model_validate_json(msg.body)
        except ValidationError:
            log.warning("dropping a malformed shared-mix message")
            return
        rooms.heard_mix(heard)


def client_message(raw: str) -> Message:
    """A client's text frame as a JSON object; ValueError with the sentence to answer."""
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(
            'messages must be JSON, e.g. {"type": "presence", "data": {"state": "idle"}}'
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError("messages must be JSON objects")
    return parsed
