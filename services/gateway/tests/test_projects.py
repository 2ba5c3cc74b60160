"""Projects through the API against real NATS JetStream and PostgreSQL: the life of a
project and its members, what each role may do (a table: role × action), the bounds, and
the PROJECTS stream rebuilding the same tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from pycrdt import Doc, Map

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.postgres import Postgres
from cadenza.gateway import shared_mix_repository
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.projects.mix_jobs import mix_settings
from cadenza.gateway.replay import compare, rebuild_projects
from cadenza.gateway.services import Services

from .conftest import bearer, running_gateway, settings, sign_up

ROLES = ("owner", "admin", "producer", "artist", "reviewer")
SETTINGS = {"name": "Night Drive", "tempo_bpm": 96, "key": "F# minor", "time_signature": "6/8"}


@dataclass
class Person:
    id: str
    email: str
    headers: dict[str, str]


@dataclass
class World:
    services: Services
    api: httpx.AsyncClient
    people: dict[str, Person]  # by name

    async def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.request(method, path, headers=self.people[who].headers, **kwargs)

    async def project(self, owner: str = "owner", **members: str) -> str:
        """A new project of `owner` with each person named in `members` at that role."""
        created = await self.call(owner, "POST", "/api/v1/projects", json=SETTINGS)
        assert created.status_code == 201, created.text
        project_id: str = created.json()["id"]
        for person, role in members.items():
            await self.join(project_id, person, role, by=owner)
        return project_id

    async def join(self, project_id: str, person: str, role: str, by: str = "owner") -> None:
        invited = await self.call(
            by,
            "POST",
            f"/api/v1/projects/{project_id}/invitations",
            json={"account_id": self.people[person].id, "role": role},
        )
        assert invited.status_code == 201, invited.text
        accepted = await self.call(
            person, "POST", f"/api/v1/invitations/{invited.json()['id']}/accept"
        )
        assert accepted.status_code == 200, accepted.text


NAMES = ("owner", "admin", "producer", "artist", "reviewer", "stranger", "target")


@pytest.fixture
async def world(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> AsyncIterator[World]:
    """Seven signed-up accounts on a gateway of their own (its own nats-server: the PROJECTS
    stream holds only this test's projects)."""
    config = settings(
        fresh_database,
        fresh_nats.url,
        tmp_path / "store",
        auth_mode="required",
        projects_per_account=500,
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        auth_rate_limit_per_minute=1000,
    )
    async with running_gateway(config) as (services, api):
        people = {}
        for name in NAMES:
            email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
            pair = await sign_up(api, email)
            people[name] = Person(pair["user"]["id"], email, bearer(pair["access_token"]))
        yield World(services, api, people)


async def test_a_project_from_creation_to_members_invitations_transfer_and_archive(
    world: World,
) -> None:
    owner, admin, producer = (world.people[n] for n in ("owner", "admin", "producer"))
    created = await world.call("owner", "POST", "/api/v1/projects", json=SETTINGS)
    assert created.status_code == 201, created.text
    project = created.json()
    pid = project["id"]
    assert created.headers["Location"] == f"/api/v1/projects/{pid}"
    assert {k: project[k] for k in SETTINGS} == SETTINGS
    assert project["your_role"] == "owner" and project["members"] == 1
    assert project["owner_id"] == owner.id and project["version"] == 1

    changed = await world.call("owner", "PATCH", f"/api/v1/projects/{pid}", json={"tempo_bpm": 100})
    assert changed.json()["tempo_bpm"] == 100 and changed.json()["name"] == "Night Drive"
    cleared = await world.call("owner", "PATCH", f"/api/v1/projects/{pid}", json={"key": None})
    assert cleared.json()["key"] is None and cleared.json()["version"] == 3

    # By account id, accepted; by email, the invitee finds it among theirs.
    await world.join(pid, "admin", "admin")
    by_email = await world.call(
        "admin",
        "POST",
        f"/api/v1/projects/{pid}/invitations",
        json={"email": producer.email.upper(), "role": "producer"},
    )
    assert by_email.status_code == 201, by_email.text
    mine = (await world.call("producer", "GET", "/api/v1/invitations")).json()["items"]
    assert [(i["id"], i["project_name"], i["role"]) for i in mine] == [
        (by_email.json()["id"], "Night Drive", "producer")
    ]
    again = await world.call(
        "owner",
        "POST",
        f"/api/v1/projects/{pid}/invitations",
        json={"email": producer.email, "role": "artist"},
    )
    assert again.status_code == 409 and "already has an invitation" in again.json()["detail"]
    # Someone else cannot answer it: it is not theirs.
    other = await world.call("artist", "POST", f"/api/v1/invitations/{mine[0]['id']}/accept")
    assert other.status_code == 404
    accepted = await world.call("producer", "POST", f"/api/v1/invitations/{mine[0]['id']}/accept")
    assert accepted.json()["status"] == "accepted"
    twice = await world.call("producer", "POST", f"/api/v1/invitations/{mine[0]['id']}/accept")
    assert twice.status_code == 409 and "already accepted" in twice.json()["detail"]

    # Declined and revoked invitations.
    to_artist = await world.call(
        "owner",
        "POST",
        f"/api/v1/projects/{pid}/invitations",
        json={"account_id": world.people["artist"].id, "role": "artist"},
    )
    declined = await world.call(
        "artist", "POST", f"/api/v1/invitations/{to_artist.json()['id']}/decline"
    )
    assert declined.json()["status"] == "declined"
    to_reviewer = await world.call(
        "owner",
        "POST",
        f"/api/v1/projects/{pid}/invitations",
        json={"account_id": world.people["reviewer"].id, "role": "reviewer"},
    )
    revoked = await world.call(
        "owner", "DELETE", f"/api/v1/projects/{pid}/invitations/{to_reviewer.json()['id']}"
    )
    assert revoked.status_code == 204
    late = await world.call(
        "reviewer", "POST", f"/api/v1/invitations/{to_reviewer.json()['id']}/accept"
    )
    assert late.status_code == 409 and "revoked" in late.json()["detail"]
    statuses = (await world.call("owner", "GET", f"/api/v1/projects/{pid}/invitations")).json()
    assert [i["status"] for i in statuses["items"]] == [
        "accepted",
        "accepted",
        "declined",
        "revoked",
    ]

    members = (await world.call("producer", "GET", f"/api/v1/projects/{pid}/members")).json()
    assert [(m["account_id"], m["role"], m["email"]) for m in members["items"]] == [
        (owner.id, "owner", owner.email),
        (admin.id, "admin", admin.email),
        (producer.id, "producer", producer.email),
    ]

    # Roles change; members leave or are removed; the owner hands over and stays as admin.
    demoted = await world.call(
        "admin", "PATCH", f"/api/v1/projects/{pid}/members/{producer.id}", json={"role": "artist"}
    )
    assert demoted.json()["role"] == "artist"
    owner_leaves = await world.call("owner", "POST", f"/api/v1/projects/{pid}/leave")
    assert owner_leaves.status_code == 409 and "transfer it" in owner_leaves.json()["detail"]
    handed = await world.call(
        "owner", "POST", f"/api/v1/projects/{pid}/transfer", json={"account_id": admin.id}
    )
    assert handed.status_code == 204
    seen = (await world.call("owner", "GET", f"/api/v1/projects/{pid}")).json()
    assert seen["your_role"] == "admin" and seen["owner_id"] == admin.id
    left = await world.call("producer", "POST", f"/api/v1/projects/{pid}/leave")
    assert left.status_code == 204
    gone = await world.call("producer", "GET", f"/api/v1/projects/{pid}")
    assert gone.status_code == 404, "a former member is told it does not exist"
    removed = await world.call("admin", "DELETE", f"/api/v1/projects/{pid}/members/{owner.id}")
    assert removed.status_code == 204
    assert (await world.call("owner", "GET", f"/api/v1/projects/{pid}")).status_code == 404

    # Archived: read-only until restored; listed apart.
    archived = await world.call("admin", "POST", f"/api/v1/projects/{pid}/archive")
    assert archived.json()["archived"] is True
    frozen = await world.call("admin", "PATCH", f"/api/v1/projects/{pid}", json={"name": "X"})
    assert frozen.status_code == 409 and "is archived" in frozen.json()["detail"]
    listed = (await world.call("admin", "GET", "/api/v1/projects")).json()["items"]
    assert pid not in [p["id"] for p in listed]
    listed = (await world.call("admin", "GET", "/api/v1/projects?archived=true")).json()["items"]
    assert [p["id"] for p in listed] == [pid]
    restored = await world.call("admin", "POST", f"/api/v1/projects/{pid}/restore")
    assert restored.json()["archived"] is False

    activity = (await world.call("admin", "GET", f"/api/v1/projects/{pid}/activity")).json()
    types = [a["type"] for a in activity["items"]]
    assert types[0] == "project.restored" and types[-1] == "project.created"
    assert [a["sequence"] for a in activity["items"]] == list(range(len(types), 0, -1))
    assert "project.ownership.transferred" in types and types.count("project.member.removed") == 2


# Each action as (method, path template, body); {p} is the project, {t} a producer member
# that managers may act on, {j} a finished job of the project with stems (the target's),
# {q} a queued one.
ACTIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "read": ("GET", "/api/v1/projects/{p}", None),
    "members": ("GET", "/api/v1/projects/{p}/members", None),
    "activity": ("GET", "/api/v1/projects/{p}/activity", None),
    "update": ("PATCH", "/api/v1/projects/{p}", {"description": "new words"}),
    "archive": ("POST", "/api/v1/projects/{p}/archive", None),
    "list invitations": ("GET", "/api/v1/projects/{p}/invitations", None),
    "invite": (
        "POST",
        "/api/v1/projects/{p}/invitations",
        {"email": "x@example.com", "role": "artist"},
    ),
    "change a role": ("PATCH", "/api/v1/projects/{p}/members/{t}", {"role": "artist"}),
    "remove a member": ("DELETE", "/api/v1/projects/{p}/members/{t}", None),
    "transfer": ("POST", "/api/v1/projects/{p}/transfer", {"account_id": "{t}"}),
    "leave": ("POST", "/api/v1/projects/{p}/leave", None),
    "comment": ("POST", "/api/v1/projects/{p}/comments", {"body": "the bridge drags"}),
    "read comments": ("GET", "/api/v1/projects/{p}/comments", None),
    "read approvals": ("GET", "/api/v1/projects/{p}/approvals", None),
    "approve": (
        "POST",
        "/api/v1/projects/{p}/approvals",
        {"job_id": "{j}", "artifact": "vocals.wav", "decision": "approved"},
    ),
    "read the mix": ("GET", "/api/v1/projects/{p}/mix", None),
    "start a mix job": ("POST", "/api/v1/projects/{p}/mix/jobs", {"job_id": "{j}"}),
    "read its jobs": ("GET", "/api/v1/jobs/{j}", None),
    "cancel a job": ("POST", "/api/v1/jobs/{q}/cancel", None),
}
OK, NO, GONE, CONFLICT = 200, 403, 404, 409
# What each role gets for each action (200 stands for any 2xx).
MATRIX: dict[str, dict[str, int]] = {
    "read": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "members": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "activity": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "update": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "archive": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "list invitations": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "invite": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "change a role": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "remove a member": {"owner": OK, "admin": OK, "producer": NO, "artist": NO, "reviewer": NO},
    "transfer": {"owner": OK, "admin": NO, "producer": NO, "artist": NO, "reviewer": NO},
    "leave": {"owner": CONFLICT, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "comment": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "read comments": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "read approvals": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "approve": {"owner": OK, "admin": NO, "producer": NO, "artist": NO, "reviewer": OK},
    "read the mix": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "start a mix job": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": NO},
    "read its jobs": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": OK},
    "cancel a job": {"owner": OK, "admin": OK, "producer": OK, "artist": OK, "reviewer": NO},
}


async def test_every_role_and_action_as_the_table_says_and_non_members_get_404(
    world: World,
) -> None:
    outcomes: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for action, (method, template, body) in ACTIONS.items():
        for role in (*ROLES, "stranger"):
            members = {r: r for r in ROLES if r != "owner"}
            pid = await world.project(**members, target="producer")
            target = world.people["target"].id
            job = await a_finished_job(world, "target", pid, names=("vocals.wav", "drums.wav"))
            queued = await a_finished_job(world, "target", pid, finished=False)
            path = template.format(p=pid, t=target, j=job, q=queued)
            values = {"{t}": target, "{j}": job}
            sent = None
            if body is not None:
                sent = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
            answer = await world.call(role, method, path, json=sent)
            outcomes[(action, role)] = OK if answer.is_success else answer.status_code
            expected[(action, role)] = MATRIX[action].get(role, GONE)
            if not answer.is_success:
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["detail"], "a sentence"
            if answer.status_code == NO:
                assert (
                    f"you are a{'n' if role[0] in 'aeiou' else ''} {role}"
                    in answer.json()["detail"]
                )
    assert outcomes == expected


async def test_bounds_projects_per_account_members_per_project_and_invalid_settings(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path / "store",
        auth_mode="required",
        projects_per_account=2,
        members_per_project=3,
        auth_rate_limit_per_minute=1000,
    )
    async with running_gateway(config) as (_, api):
        pairs = [await sign_up(api, f"b{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(4)]
        heads = [bearer(p["access_token"]) for p in pairs]
        made = [
            await api.post("/api/v1/projects", json=SETTINGS, headers=heads[0]) for _ in range(2)
        ]
        assert [m.status_code for m in made] == [201, 201]
        third = await api.post("/api/v1/projects", json=SETTINGS, headers=heads[0])
        assert third.status_code == 403 and "the most one account may own" in third.json()["detail"]
        # Another account is not held back by the first one's limit.
        assert (
            await api.post("/api/v1/projects", json=SETTINGS, headers=heads[1])
        ).status_code == 201

        pid = made[0].json()["id"]
        for i in (1, 2):
            invited = await api.post(
                f"/api/v1/projects/{pid}/invitations",
                json={"account_id": pairs[i]["user"]["id"], "role": "artist"},
                headers=heads[0],
            )
            assert invited.status_code == 201, invited.text
        full = await api.post(
            f"/api/v1/projects/{pid}/invitations",
            json={"account_id": pairs[3]["user"]["id"], "role": "artist"},
            headers=heads[0],
        )
        assert (
            full.status_code == 403 and "3 members and pending invitations" in full.json()["detail"]
        )

        for bad, field in (
            ({**SETTINGS, "name": "x" * 121}, "name"),
            ({**SETTINGS, "key": "H major"}, "key"),
            ({**SETTINGS, "time_signature": "4/3"}, "time_signature"),
            ({**SETTINGS, "tempo_bpm": 1000}, "tempo_bpm"),
            ({**SETTINGS, "owner": "someone"}, "owner"),
        ):
            refused = await api.post("/api/v1/projects", json=bad, headers=heads[2])
            assert refused.status_code == 422, bad
            assert [e["field"] for e in refused.json()["errors"]] == [field]
        both = await api.post(
            f"/api/v1/projects/{pid}/invitations",
            json={"account_id": pairs[3]["user"]["id"], "email": "a@b.co", "role": "artist"},
            headers=heads[0],
        )
        assert both.status_code == 422
        as_owner = await api.post(
            f"/api/v1/projects/{pid}/invitations",
            json={"email": "a@b.co", "role": "owner"},
            headers=heads[0],
        )
        assert as_owner.status_code == 422, "an owner is made by a transfer, never invited"


async def test_the_stream_rebuilds_the_same_projects_tables(
    world: World, fresh_nats: NatsServer, postgres: Postgres
) -> None:
    pid = await world.project(admin="admin", producer="producer")
    await world.call("admin", "PATCH", f"/api/v1/projects/{pid}", json={"key": "C major"})
    producer = world.people["producer"].id
    await world.call(
        "owner", "POST", f"/api/v1/projects/{pid}/transfer", json={"account_id": producer}
    )
    await world.call("admin", "POST", f"/api/v1/projects/{pid}/leave")
    said = await world.call(
        "producer",
        "POST",
        f"/api/v1/projects/{pid}/comments",
        json={"body": "louder drums", "anchor": {"track": "drums", "start_s": 3}},
    )
    await world.call(
        "producer", "POST", f"/api/v1/projects/{pid}/comments/{said.json()['id']}/resolve"
    )
    other = await world.project(owner="artist", reviewer="reviewer")
    await world.call(
        "artist",
        "POST",
        f"/api/v1/projects/{other}/invitations",
        json={"email": "someone@example.com", "role": "artist"},
    )
    await world.call("artist", "POST", f"/api/v1/projects/{other}/archive")

    name = f"rebuilt_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    nc = await nats.connect(fresh_nats.url)
    into = await create_pool(postgres.dsn.replace("/cadenza?", f"/{name}?"), 2)
    try:
        await migrate(into)
        applied = await rebuild_projects(nc.jetstream(), into)
        assert applied == await world.services.pool.fetchval("SELECT count(*) FROM project_events")
        # created, 2 × (invited, accepted), updated, transferred, left, commented, resolved;
        # created, invited, accepted, invited by email, archived.
        assert applied == 10 + 5
        assert await compare(world.services.pool, into) == []
    finally:
        await into.close()
        await nc.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def a_finished_job(
    world: World,
    owner: str,
    project_id: str,
    names: tuple[str, ...] = ("mix.wav",),
    *,
    finished: bool = True,
) -> str:
    """A completed effects job of `owner` in the project, projected as the workers' facts
    would make it (no worker runs here)."""
    job_id = uuid.uuid4()
    submitted = JobSubmitted(
        job_id=job_id,
        owner=world.people[owner].id,
        correlation_id=job_id,
        kind="effects",
        input={"upload_id": str(uuid.uuid4())},
        params={},
        stages=["effects"],
        project_id=uuid.UUID(project_id),
    )
    outputs = {
        name: ArtifactRef(
            uri=f"file:///x/{job_id}/{name}",
            media_type="audio/wav",
            bytes=100_000,
            sha256="a" * 64,
            duration_s=1.0,
            sample_rate=44100,
            channels=2,
        )
        for name in names
    }
    done = EffectsCompleted.caused_by(submitted, stage="effects", outputs=outputs)
    for event in (submitted, done) if finished else (submitted,):
        await world.services.projection.apply(event)
    return str(job_id)


async def test_comments_threads_resolution_and_reviewers_decisions(world: World) -> None:
    pid = await world.project(producer="producer", reviewer="reviewer", artist="artist")
    base = f"/api/v1/projects/{pid}"
    anchored = await world.call(
        "reviewer",
        "POST",
        f"{base}/comments",
        json={
            "body": "the vocal is late here",
            "anchor": {"track": "vocals", "start_s": 12.5, "end_s": 14},
        },
    )
    assert anchored.status_code == 201, anchored.text
    comment = anchored.json()
    anchor = {k: v for k, v in comment["anchor"].items() if v is not None}
    assert anchor == {"track": "vocals", "start_s": 12.5, "end_s": 14.0}
    assert comment["author"] == world.people["reviewer"].id and comment["resolved"] is False
    reply = await world.call(
        "producer",
        "POST",
        f"{base}/comments",
        json={"body": "nudged it", "parent_id": comment["id"]},
    )
    assert reply.status_code == 201
    deeper = await world.call(
        "artist", "POST", f"{base}/comments", json={"body": "ok", "parent_id": reply.json()["id"]}
    )
    assert deeper.status_code == 422 and "reply to the comment it answers" in deeper.text
    for bad in (
        {"body": "x" * 2001},
        {"body": "   "},
        {"body": "late", "anchor": {"start_s": 5, "end_s": 4}},
        {"body": "late", "anchor": {"artifact": "mix.wav"}},
        {"body": "late", "parent_id": str(uuid.uuid4())},
    ):
        refused = await world.call("artist", "POST", f"{base}/comments", json=bad)
        assert refused.status_code == 422, (bad, refused.text)

    # Resolved by its author or a manager, not by another member.
    other = await world.call("artist", "POST", f"{base}/comments/{comment['id']}/resolve")
    assert other.status_code == 403 and "the comment's author" in other.json()["detail"]
    resolved = await world.call("owner", "POST", f"{base}/comments/{comment['id']}/resolve")
    assert resolved.json()["resolved"] is True
    assert resolved.json()["resolved_by"] == world.people["owner"].id
    again = await world.call("reviewer", "POST", f"{base}/comments/{comment['id']}/resolve")
    assert again.status_code == 409
    reopened = await world.call("reviewer", "POST", f"{base}/comments/{comment['id']}/reopen")
    assert reopened.json()["resolved"] is False
    listed = (await world.call("artist", "GET", f"{base}/comments")).json()["items"]
    assert [(c["body"], c["parent_id"]) for c in listed] == [
        ("the vocal is late here", None),
        ("nudged it", comment["id"]),
    ]

    # Decisions: owners and reviewers, on an artifact of one of the project's jobs.
    job_id = await a_finished_job(world, "producer", pid)
    decide = {"job_id": job_id, "artifact": "mix.wav"}
    changes = await world.call(
        "reviewer",
        "POST",
        f"{base}/approvals",
        json={**decide, "decision": "changes_requested", "note": "more low end"},
    )
    assert changes.status_code == 201, changes.text
    assert changes.json()["sha256"] == "a" * 64, "the version decided on"
    producer = await world.call(
        "producer", "POST", f"{base}/approvals", json={**decide, "decision": "approved"}
    )
    assert producer.status_code == 403
    assert "only owners or reviewers may approve or request changes" in producer.json()["detail"]
    approved = await world.call(
        "owner", "POST", f"{base}/approvals", json={**decide, "decision": "approved"}
    )
    assert approved.status_code == 201
    for wrong, field in (
        ({**decide, "artifact": "nope.wav"}, "artifact"),
        ({**decide, "job_id": str(uuid.uuid4())}, "job_id"),
    ):
        refused = await world.call(
            "reviewer", "POST", f"{base}/approvals", json={**wrong, "decision": "approved"}
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field
    # A reviewer cannot start a job in the project.
    started = await world.call(
        "reviewer",
        "POST",
        "/api/v1/jobs",
        json={
            "kind": "effects",
            "input": {"upload_id": str(uuid.uuid4())},
            "params": {"chain": [{"type": "gain", "gain_db": 1}]},
            "project_id": pid,
        },
    )
    assert (
        started.status_code == 403 and "may start jobs in the project" in started.json()["detail"]
    )
    page = (await world.call("artist", "GET", f"{base}/approvals")).json()
    assert [a["decision"] for a in page["items"]] == ["approved", "changes_requested"]
    assert [(a["decision"], a["artifact"]) for a in page["review_state"]] == [
        ("approved", "mix.wav")
    ]
    # In the activity, as events, in the order decided.
    activity = (await world.call("artist", "GET", f"{base}/activity", params={"limit": 7})).json()
    assert [a["type"] for a in activity["items"]] == [
        "project.approval.recorded",
        "project.approval.recorded",
        "project.comment.reopened",
        "project.comment.resolved",
        "project.comment.added",
        "project.comment.added",
        "project.invitation.accepted",
    ]


def test_the_shared_mix_decides_which_stems_play_and_how_loud() -> None:
    stems = ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    track = {"gain": 1.0, "pan": 0.0, "mute": False, "solo": False, "effects": {}}
    tracks: dict[str, Any] = {
        "vocals.wav": {**track, "gain": 0.5, "pan": -0.5},
        "drums.wav": {**track, "mute": True},
        "bass.wav": {**track, "gain": 1.5},
    }
    playing, gains, pans = mix_settings(stems, tracks)
    assert playing == ["bass.wav", "other.wav", "vocals.wav"]
    assert gains == {
        "bass.wav": pytest.approx(3.52, abs=0.01),
        "vocals.wav": pytest.approx(-6.02, abs=0.01),
    }
    assert pans == {"bass.wav": 0.0, "vocals.wav": -0.5}
    tracks["vocals.wav"]["solo"] = True
    tracks["drums.wav"]["solo"] = True  # muted: a muted solo stays silent
    assert mix_settings(stems, tracks)[0] == ["vocals.wav"]
    # Tracks named as the studio names them: without the extension (or a stage's prefix).
    by_label: dict[str, Any] = {"vocals": {**track, "mute": True}, "bass": {**track, "pan": 1.0}}
    assert mix_settings(stems, by_label) == (
        ["bass.wav", "drums.wav", "other.wav"],
        {"bass.wav": 0.0},
        {"bass.wav": 1.0},
    )
    assert mix_settings(["separation-vocals.wav"], by_label, ("separation",))[0] == []
    faint: Any = {**track, "gain": 0.0001}  # −80 dB: as quiet as a mix goes, −60
    assert mix_settings(["x"], {"x": faint})[1] == {"x": -60.0}


async def test_a_mix_job_from_the_shared_mix(world: World) -> None:
    pid = await world.project(producer="producer", reviewer="reviewer")
    source = await a_finished_job(
        world, "producer", pid, names=("vocals.wav", "drums.wav", "bass.wav")
    )
    doc: Doc[Any] = Doc(client_id=7)
    tracks = doc.get("tracks", type=Map)
    tracks["vocals.wav"] = Map({"gain": 0.5, "pan": 0.25})
    tracks["drums.wav"] = Map({"mute": True})
    await shared_mix_repository.append(
        world.services.pool, uuid.UUID(pid), doc.get_update(), world.people["producer"].id
    )
    seen = (await world.call("reviewer", "GET", f"/api/v1/projects/{pid}/mix")).json()
    assert seen["seq"] == 1
    assert seen["tracks"]["vocals.wav"] == {
        "gain": 0.5,
        "pan": 0.25,
        "mute": False,
        "solo": False,
        "effects": {},
    }

    started = await world.call(
        "producer",
        "POST",
        f"/api/v1/projects/{pid}/mix/jobs",
        json={"job_id": source, "master": True},
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["kind"] == "mix" and [s["name"] for s in job["stages"]] == ["mix", "master"]
    assert job["project_id"] == pid and job["owner"] == world.people["producer"].id
    assert job["params"]["from_shared_mix"] == 1
    assert job["params"]["gains_db"] == {"vocals.wav": pytest.approx(-6.02, abs=0.01)}
    assert job["params"]["pans"] == {"vocals.wav": 0.25}
    command = await world.services.pool.fetchval(
        "SELECT payload FROM outbox WHERE subject = 'render.mix.requested'"
        " AND payload->>'job_id' = $1",
        job["id"],
    )
    if command is not None:  # not yet confirmed by JetStream (else it is already gone)
        assert sorted(command["inputs"]) == ["bass.wav", "vocals.wav"], "drums are muted"

    refused = await world.call(
        "reviewer", "POST", f"/api/v1/projects/{pid}/mix/jobs", json={"job_id": source}
    )
    assert refused.status_code == 403
    other = await world.project(producer="producer")
    elsewhere = await world.call(
        "producer", "POST", f"/api/v1/projects/{other}/mix/jobs", json={"job_id": source}
    )
    assert elsewhere.status_code == 422 and elsewhere.json()["errors"][0]["field"] == "job_id"


async def test_lists_page_by_their_cursor_in_their_order(world: World) -> None:
    pid = await world.project(producer="producer")
    base = f"/api/v1/projects/{pid}"
    for n in range(3):
        said = await world.call("producer", "POST", f"{base}/comments", json={"body": f"take {n}"})
        assert said.status_code == 201
    first = (await world.call("owner", "GET", f"{base}/comments", params={"limit": 2})).json()
    rest = (
        await world.call(
            "owner", "GET", f"{base}/comments", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    bodies = [c["body"] for c in first["items"] + rest["items"]]
    assert bodies == ["take 0", "take 1", "take 2"] and rest["next_cursor"] is None
    job = await a_finished_job(world, "producer", pid)
    for decision in ("changes_requested", "approved", "changes_requested"):
        await world.call(
            "owner",
            "POST",
            f"{base}/approvals",
            json={"job_id": job, "artifact": "mix.wav", "decision": decision},
        )
    page = (await world.call("owner", "GET", f"{base}/approvals", params={"limit": 2})).json()
    more = (
        await world.call(
            "owner", "GET", f"{base}/approvals", params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    newest_first = [a["decision"] for a in page["items"] + more["items"]]
    assert newest_first == ["changes_requested", "approved", "changes_requested"]
    mine = (await world.call("producer", "GET", "/api/v1/projects", params={"limit": 1})).json()
    assert [p["id"] for p in mine["items"]] == [pid] and mine["next_cursor"] is None
