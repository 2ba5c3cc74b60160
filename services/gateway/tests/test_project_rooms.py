"""Project rooms over real WebSockets, with two gateway replicas on one NATS and one
PostgreSQL: presence and project events reach every member within 250 ms whichever replica
they are on; a removed member's socket is closed; presence is rate limited per connection."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import uvicorn
import websockets
from pycrdt import Doc, Map
from websockets.asyncio.client import ClientConnection

from cadenza.contracts.effects import EffectsFailed
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_tone
from cadenza.gateway import shared_mix, shared_mix_repository
from cadenza.gateway.app import create_app
from cadenza.gateway.db import create_pool
from cadenza.gateway.settings import Settings

from .conftest import bearer, settings, sign_up

WITHIN_S = 0.25


@asynccontextmanager
async def serving(config: Settings) -> AsyncIterator[str]:
    """A gateway on a loopback port in this event loop; its base URL."""
    app = create_app(config)
    async with app.router.lifespan_context(app):
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws_max_size=65536
            )
        )
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 — uvicorn offers no event to wait on
            await asyncio.sleep(0.02)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


class Member:
    def __init__(self, name: str, pair: dict[str, Any], host: str) -> None:
        self.name = name
        self.id: str = pair["user"]["id"]
        self.token: str = pair["access_token"]
        self.host = host
        self.api = httpx.AsyncClient(base_url=f"http://{host}", headers=bearer(self.token))

    @asynccontextmanager
    async def room(self, project_id: str) -> AsyncIterator[Room]:
        url = f"ws://{self.host}/api/v1/projects/{project_id}/ws?access_token={self.token}"
        async with websockets.connect(url) as socket:
            yield Room(socket)


class Room:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.heard: list[dict[str, Any]] = []

    async def next(
        self, kind: str, timeout_s: float = 5.0, by: str | None = None, **data: Any
    ) -> dict[str, Any]:
        """The next message of `kind` (from user `by`, whose data has `data`), skipping others."""
        deadline = time.monotonic() + timeout_s
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), deadline - time.monotonic())
            message: dict[str, Any] = json.loads(raw)
            self.heard.append(message)
            if (
                message["type"] == kind
                and by in (None, message["user_id"])
                and all(message["data"].get(k) == v for k, v in data.items())
            ):
                return message

    async def send(self, kind: str, **data: Any) -> None:
        await self.socket.send(json.dumps({"type": kind, "data": data}))


@pytest.fixture
async def two_gateways(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path / "store",
        auth_mode="required",
        auth_rate_limit_per_minute=1000,
    )
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serving(config))
        second = await stack.enter_async_context(serving(config))
        yield first, second


@pytest.fixture
async def signed_up(two_gateways: tuple[str, str]) -> AsyncIterator[list[Member]]:
    """Everyone `members` signs up, their API clients closed at the end."""
    everyone: list[Member] = []
    yield everyone
    for member in everyone:
        await member.api.aclose()


async def members(hosts: tuple[str, str], everyone: list[Member], *names: str) -> list[Member]:
    """Accounts named `names`, the first on the first replica, the next on the second, …"""
    found = []
    async with httpx.AsyncClient(base_url=f"http://{hosts[0]}") as api:
        for i, name in enumerate(names):
            pair = await sign_up(api, f"{name}-{uuid.uuid4().hex[:6]}@example.com")
            found.append(Member(name, pair, hosts[i % 2]))
    everyone.extend(found)
    return found


async def shared_project(owner: Member, *others: tuple[Member, str]) -> str:
    created = await owner.api.post("/api/v1/projects", json={"name": "Late Set"})
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    for member, role in others:
        invited = await owner.api.post(
            f"/api/v1/projects/{project_id}/invitations",
            json={"account_id": member.id, "role": role},
        )
        accepted = await member.api.post(f"/api/v1/invitations/{invited.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    return project_id


async def test_presence_and_changes_reach_members_on_either_replica_within_250_ms(
    two_gateways: tuple[str, str], signed_up: list[Member]
) -> None:
    ana, ben = await members(
        two_gateways, signed_up, "ana", "ben"
    )  # ana on the first, ben the second
    project_id = await shared_project(ana, (ben, "producer"))
    async with ana.room(project_id) as ana_room:
        snapshot = await ana_room.next("session.snapshot")
        assert snapshot["data"]["project"]["name"] == "Late Set"
        assert {m["account_id"] for m in snapshot["data"]["members"]} == {ana.id, ben.id}
        started = time.monotonic()
        async with ben.room(project_id) as ben_room:
            joined = await ana_room.next("presence", by=ben.id, state="joined")
            assert time.monotonic() - started < 1.0  # the handshake and sign-in included
            assert joined["user_id"] == ben.id and joined["timestamp"]
            ben_snapshot = await ben_room.next("session.snapshot")
            assert ana.id in {h["user_id"] for h in ben_snapshot["data"]["here"]}

            # What ben looks at, told to ana (another replica), and back.
            sent = time.monotonic()
            await ben_room.send(
                "presence", state="active", looking_at={"track": "vocals", "position_s": 42.5}
            )
            seen = await ana_room.next("presence", by=ben.id, state="active")
            print(f"\npresence, replica to replica: {(time.monotonic() - sent) * 1000:.1f} ms")
            assert time.monotonic() - sent < WITHIN_S
            assert seen["data"]["looking_at"] == {"track": "vocals", "position_s": 42.5}
            sent = time.monotonic()
            await ana_room.send("presence", state="idle")
            assert await ben_room.next("presence", by=ana.id, state="idle")
            assert time.monotonic() - sent < WITHIN_S

            # A change decided through one replica reaches both rooms, as its event.
            sent = time.monotonic()
            patched = await ben.api.patch(f"/api/v1/projects/{project_id}", json={"tempo_bpm": 128})
            assert patched.status_code == 403, "a producer does not manage the project"
            changed = await ana.api.patch(f"/api/v1/projects/{project_id}", json={"tempo_bpm": 128})
            assert changed.status_code == 200
            for room in (ana_room, ben_room):
                update = await room.next("project.updated")
                assert update["user_id"] == ana.id
                assert update["data"]["settings"]["tempo_bpm"] == 128
                assert update["data"]["sequence"] == changed.json()["version"]
            assert time.monotonic() - sent < WITHIN_S + 0.25  # two REST calls included
        assert await ana_room.next("presence", by=ben.id, state="left")


async def test_a_removed_member_is_disconnected_and_a_stranger_never_gets_in(
    two_gateways: tuple[str, str], signed_up: list[Member]
) -> None:
    ana, ben, cy = await members(two_gateways, signed_up, "ana", "ben", "cy")
    project_id = await shared_project(ana, (ben, "reviewer"))
    async with ben.room(project_id) as ben_room:
        await ben_room.next("session.snapshot")
        removed = await ana.api.delete(f"/api/v1/projects/{project_id}/members/{ben.id}")
        assert removed.status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ben_room.next("never", timeout_s=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        assert "you were removed" in closed.value.rcvd.reason
    assert (await ben.api.get(f"/api/v1/projects/{project_id}")).status_code == 404
    for stranger, project in ((cy, project_id), (ana, str(uuid.uuid4()))):
        async with stranger.room(project) as room:
            with pytest.raises(websockets.ConnectionClosed) as refused:
                await room.next("session.snapshot")
            assert refused.value.rcvd is not None and refused.value.rcvd.code == 4404
            assert refused.value.rcvd.reason == f"project {project} not found"


async def test_presence_is_rate_limited_per_member_and_others_are_still_heard(
    two_gateways: tuple[str, str], signed_up: list[Member]
) -> None:
    ana, ben = await members(two_gateways, signed_up, "ana", "ben")
    project_id = await shared_project(ana, (ben, "artist"))
    async with ana.room(project_id) as ana_room, ben.room(project_id) as ben_room:
        await ben_room.next("session.snapshot")
        started = time.monotonic()
        for i in range(60):
            await ana_room.send("presence", state="active", looking_at={"position_s": float(i)})
        refused = await ana_room.next("error")
        assert "at most 10 presence updates a second" in refused["data"]["message"]
        # Another socket of hers shares the budget (her sockets together are bounded).
        async with ana.room(project_id) as again:
            await again.next("session.snapshot")
            for i in range(30):
                await again.send("presence", state="active", looking_at={"position_s": 100.0 + i})
            assert "at most 10 presence updates" in (await again.next("error"))["data"]["message"]
        await ben_room.send("presence", state="idle")
        assert await ana_room.next("presence", by=ben.id, state="idle")

        def from_ana(message: dict[str, Any]) -> bool:
            looking = message["data"].get("looking_at") or {}
            return message["type"] == "presence" and "position_s" in looking

        heard = [m for m in ben_room.heard if from_ana(m)]
        await asyncio.sleep(0.5)
        while True:
            try:
                raw = await asyncio.wait_for(ben_room.socket.recv(), 0.3)
            except TimeoutError:
                break
            if from_ana(message := json.loads(raw)):
                heard.append(message)
        # The burst, and what refilled while they were taken in (10 a second), no more.
        refilled = 10 * (time.monotonic() - started)
        assert 20 <= len(heard) <= 20 + refilled + 1, (len(heard), refilled)
        assert len(heard) < 60
        while True:  # what ana was told about the dropped ones
            try:
                await asyncio.wait_for(ana_room.socket.recv(), 0.3)
            except TimeoutError:
                break
        await asyncio.sleep(1.0)  # the bucket refills
        for bad, sentence in (
            ({"type": "presence", "data": {"state": "asleep"}}, "state is 'active' or 'idle'"),
            (
                {"type": "presence", "data": {"looking_at": {"track": "x" * 200}}},
                "looking_at.track",
            ),
            ({"type": "dance"}, "unknown message type 'dance'"),
        ):
            await asyncio.sleep(0.2)  # a token back
            await ana_room.socket.send(json.dumps(bad))
            assert sentence in (await ana_room.next("error"))["data"]["message"]
        await ana_room.socket.send("not json")
        assert "messages must be JSON" in (await ana_room.next("error"))["data"]["message"]


class MixDoc:
    """A member's copy of the shared mix, as a client keeps it (pycrdt, Yjs's format)."""

    def __init__(self, message: dict[str, Any], client_id: int) -> None:
        """From a session snapshot's mix, or a mix.reset's state."""
        self.doc: Doc[Any] = Doc(client_id=client_id)
        state = (
            message["data"]["mix"]["state"]
            if "mix" in message["data"]
            else message["data"]["state"]
        )
        self.doc.apply_update(base64.b64decode(state))

    def set(self, track: str, control: str, value: Any) -> bytes:
        """Change one control; the update to send."""
        before = self.doc.get_state()
        tracks = self.doc.get("tracks", type=Map)
        if track not in tracks:
            tracks[track] = Map({control: value})
        else:
            tracks[track][control] = value
        return self.doc.get_update(before)

    def heard(self, message: dict[str, Any]) -> None:
        self.doc.apply_update(base64.b64decode(message["data"]["update"]))

    def as_json(self) -> dict[str, Any]:
        return shared_mix.as_json(self.doc.get_update())


async def test_the_shared_mix_is_edited_live_converges_and_a_reviewer_cannot_touch_it(
    two_gateways: tuple[str, str], signed_up: list[Member], fresh_database: str
) -> None:
    ana, ben, cy = await members(two_gateways, signed_up, "ana", "ben", "cy")
    project_id = await shared_project(ana, (ben, "producer"), (cy, "reviewer"))
    async with ana.room(project_id) as ana_room, ben.room(project_id) as ben_room:
        ana_mix = MixDoc(await ana_room.next("session.snapshot"), client_id=1)
        ben_mix = MixDoc(await ben_room.next("session.snapshot"), client_id=2)

        # One moves a fader; the other, on the other replica, hears it within 250 ms.
        sent = time.monotonic()
        await ben_room.socket.send(ben_mix.set("vocals", "gain", 0.5))
        assert (await ben_room.next("mix.accepted"))["data"]["seq"] == 1
        ana_mix.heard(await ana_room.next("mix.update", by=ben.id))
        print(f"\na fader, replica to replica: {(time.monotonic() - sent) * 1000:.1f} ms")
        assert time.monotonic() - sent < WITHIN_S
        assert ana_mix.as_json()["vocals"]["gain"] == 0.5

        # Both at once: different controls, and the same control.
        await asyncio.gather(
            ana_room.socket.send(ana_mix.set("vocals", "pan", -0.25)),
            ben_room.socket.send(ben_mix.set("drums", "mute", True)),
        )
        await asyncio.gather(
            ana_room.socket.send(ana_mix.set("vocals", "gain", 1.25)),
            ben_room.socket.send(ben_mix.set("vocals", "gain", 0.75)),
        )
        for _ in range(2):
            ana_mix.heard(await ana_room.next("mix.update", by=ben.id))
            ben_mix.heard(await ben_room.next("mix.update", by=ana.id))
        pool = await create_pool(fresh_database, 1)
        try:
            _, state = await shared_mix_repository.read_state(pool, uuid.UUID(project_id))
        finally:
            await pool.close()
        in_database = shared_mix.as_json(state)
        assert ana_mix.as_json() == ben_mix.as_json() == in_database
        assert in_database["vocals"]["pan"] == -0.25 and in_database["drums"]["mute"] is True
        assert in_database["vocals"]["gain"] in (1.25, 0.75)

        # A reviewer's change is refused, and told the state to start over from.
        async with cy.room(project_id) as cy_room:
            cy_mix = MixDoc(await cy_room.next("session.snapshot"), client_id=3)
            assert cy_mix.as_json() == in_database, "a late joiner gets the current mix"
            await cy_room.socket.send(cy_mix.set("vocals", "gain", 0.0))
            refused = await cy_room.next("error")
            assert (
                "a reviewer here: only owners, admins, producers and artists"
                in (refused["data"]["message"])
            )
            reset = await cy_room.next("mix.reset")
            assert MixDoc(reset, client_id=4).as_json() == in_database

        # Out of the document's bounds: refused with its sentence.
        await ana_room.socket.send(ana_mix.set("vocals", "gain", 7.0))
        assert "gain" in (await ana_room.next("error"))["data"]["message"]
        assert MixDoc(await ana_room.next("mix.reset"), client_id=5).as_json() == in_database


async def test_a_projects_jobs_are_seen_by_its_members_started_by_makers_and_told_to_the_room(
    two_gateways: tuple[str, str], signed_up: list[Member], nats_server: NatsServer, tmp_path: Path
) -> None:
    ana, ben, cy = await members(two_gateways, signed_up, "ana", "ben", "cy")
    project_id = await shared_project(ana, (ben, "reviewer"))
    tone = write_tone(tmp_path / "tone.wav", 1.0)
    into = {"project_id": project_id}
    files = {"file": ("t.wav", tone.read_bytes())}
    uploaded = await ana.api.post("/api/v1/uploads", params=into, files=files)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["project_id"] == project_id
    upload_id = uploaded.json()["id"]
    # The project's members read what is uploaded into it; a reviewer uploads nothing there.
    assert (await ben.api.get(f"/api/v1/uploads/{upload_id}")).status_code == 200
    content = await ben.api.get(f"/api/v1/uploads/{upload_id}/content")
    assert content.status_code == 200 and content.content == tone.read_bytes()
    assert (await cy.api.get(f"/api/v1/uploads/{upload_id}")).status_code == 404
    refused = await ben.api.post("/api/v1/uploads", params=into, files=files)
    assert refused.status_code == 403 and "may start jobs in the project" in refused.text
    stranger = await cy.api.post("/api/v1/uploads", params=into, files=files)
    assert stranger.status_code == 422 and "you are in no project" in stranger.text
    job = {
        "kind": "effects",
        "input": {"upload_id": uploaded.json()["id"]},
        "params": {"chain": [{"type": "gain", "gain_db": -3}]},
        "project_id": project_id,
    }
    async with ben.room(project_id) as ben_room:
        await ben_room.next("session.snapshot")
        started = await ana.api.post("/api/v1/jobs", json=job)
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert started.json()["project_id"] == project_id
        said = await ben_room.next("job.started")
        assert said["user_id"] == ana.id and said["data"] == {"job_id": job_id, "kind": "effects"}

        # Every member reads it; a reviewer neither starts nor cancels one; others see nothing.
        assert (await ben.api.get(f"/api/v1/jobs/{job_id}")).json()["owner"] == ana.id
        listed = await ben.api.get("/api/v1/jobs", params={"project_id": project_id})
        assert [j["id"] for j in listed.json()["items"]] == [job_id]
        assert (await ben.api.get("/api/v1/jobs")).json()["items"] == [], "not ben's own"
        refused = await ben.api.post("/api/v1/jobs", json=job)
        assert refused.status_code == 403
        assert (
            "only owners, admins, producers or artists may start jobs in the project"
            in (refused.json()["detail"])
        )
        cancel = await ben.api.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancel.status_code == 403
        assert (await cy.api.get(f"/api/v1/jobs/{job_id}")).status_code == 404
        stranger = await cy.api.get("/api/v1/jobs", params={"project_id": project_id})
        assert stranger.status_code == 422
        assert stranger.json()["errors"] == [
            {"field": "project_id", "message": f"you are in no project {project_id}"}
        ]
        elsewhere = await cy.api.post("/api/v1/jobs", json=job)
        assert elsewhere.status_code == 422

        # Members follow it on the job feed; others are told it does not exist.
        feed = await websockets.connect(f"ws://{ben.host}/api/v1/ws?access_token={ben.token}")
        await feed.send(json.dumps({"action": "subscribe", "job_id": job_id}))
        assert json.loads(await feed.recv())["type"] == "job.snapshot"
        async with websockets.connect(f"ws://{cy.host}/api/v1/ws?access_token={cy.token}") as other:
            await other.send(json.dumps({"action": "subscribe", "job_id": job_id}))
            assert json.loads(await other.recv())["message"] == f"job {job_id} not found"

        # The job's end (a worker's fact on the bus) is the room's activity too.
        submitted = JobSubmitted(
            job_id=uuid.UUID(job_id),
            owner=ana.id,
            correlation_id=uuid.uuid4(),
            kind="effects",
            input={},
            params={},
            stages=["effects"],
        )
        failed = EffectsFailed.caused_by(
            submitted, stage="effects", code="invalid_input", reason="the file went away"
        )
        bus = await nats.connect(nats_server.url)
        try:
            await bus.jetstream().publish(failed.subject, failed.model_dump_json().encode())
        finally:
            await bus.close()
        ended = await ben_room.next("job.failed")
        assert ended["data"] == {"job_id": job_id, "reason": "the file went away"}
        assert json.loads(await feed.recv())["type"] == "job.failed"

        # Removed from the project: the job feed says so and sends nothing more of it.
        removed = await ana.api.delete(f"/api/v1/projects/{project_id}/members/{ben.id}")
        assert removed.status_code == 204
        told = json.loads(await asyncio.wait_for(feed.recv(), 5))
        assert told["type"] == "error" and "no longer a member" in told["message"]
        await feed.close()
