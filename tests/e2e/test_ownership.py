"""Every id is owned: a second user walks every route in the OpenAPI with the first user's
ids and gets exactly what a made-up id gets (404, no existence leak), WebSocket included."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

from .conftest import upload, wait_for_status

pytestmark = pytest.mark.platform

PASSWORD = "correct horse battery staple"

# Open to anyone by design: liveness/readiness/metrics for the orchestrator, and signing in.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    # The seeds' probes (docs/compat.md).
    ("GET", "/api/health"),
    ("GET", "/api/health/live"),
    ("GET", "/api/health/ready"),
    ("GET", "/api/health/detailed"),
    # What effects and parameters exist: the same for everyone.
    ("GET", "/api/v1/effects"),
}
# Acting on the caller's own session or account only; they name no one else's ids.
SELF_ONLY = {
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/api-keys"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/soundfonts"),
}
ADMIN = {
    ("GET", "/api/v1/admin/users"),
    ("PATCH", "/api/v1/admin/users/{user_id}"),
    ("POST", "/api/v1/admin/retention/run"),
    ("POST", "/api/v1/models/{name}/pull"),
}


def account(api: httpx.Client, email: str) -> dict[str, str]:
    api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert pair.status_code == 200, pair.text
    return {
        "Authorization": f"Bearer {pair.json()['access_token']}",
        "id": pair.json()["user"]["id"],
    }


def headers(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": who["Authorization"]}


@pytest.fixture(scope="module")
def alice_and_bob(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Alice owns one of everything; Bob owns nothing."""
    tmp = tmp_path_factory.mktemp("owned")
    suffix = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        alice = account(api, f"alice-{suffix}@example.com")
        bob = account(api, f"bob-{suffix}@example.com")
        api.headers.update(headers(alice))
        tone = write_tone(tmp / "alice.wav", 2.0)
        upload_id = upload(api, tone).json()["id"]
        chain = [{"type": "gain", "gain_db": -3}]
        job = api.post(
            "/api/v1/jobs",
            json={"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": chain}},
        ).json()
        project = api.post(
            "/api/v1/jobs",
            json={
                "kind": "pipeline",
                "input": {"upload_id": upload_id},
                "steps": [
                    {"kind": "effects", "params": {"chain": chain}},
                    {"kind": "master", "params": {"preset": "streaming"}},
                ],
            },
        ).json()
        title = f"Alice Private Song {suffix}"
        midi = song_midi(seed=7)
        song = api.post(
            "/api/v1/songs",
            params={"wait": "60"},
            files={"midi": ("alice.mid", midi, "audio/midi")},
            data={"title": title},
        )
        assert song.status_code == 201, song.text
        key = api.post("/api/v1/auth/api-keys", json={"name": "alice's laptop"}).json()
        separation = api.post(
            "/api/v1/jobs",
            json={
                "kind": "separation",
                "input": {"upload_id": upload_id},
                "params": {"model": "classical", "stems": ["bass"]},
            },
        ).json()
        webhook = api.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:9/alice", "event_types": ["job.completed"]},
        )
        assert webhook.status_code == 201, webhook.text
        workspace = api.post("/api/v1/projects", json={"name": f"Alice's band {suffix}"})
        assert workspace.status_code == 201, workspace.text
        invitation = api.post(
            f"/api/v1/projects/{workspace.json()['id']}/invitations",
            json={"email": f"carol-{suffix}@example.com", "role": "artist"},
        )
        assert invitation.status_code == 201, invitation.text
        comment = api.post(
            f"/api/v1/projects/{workspace.json()['id']}/comments", json={"body": "private note"}
        )
        assert comment.status_code == 201, comment.text
        done = wait_for_status(api, job["id"])
        assert done["status"] == "completed", done
        assert wait_for_status(api, separation["id"])["status"] == "completed"
        assert wait_for_status(api, project["id"], 120)["status"] == "completed"
    return {
        "alice": alice,
        "bob": bob,
        "title": title,
        "midi": midi,
        "ids": {
            # Before job_id: a file id holds the job id, and is replaced whole.
            "file_id": f"{job['id']}:processed.wav",
            "separation_id": separation["id"],
            "upload_id": upload_id,
            "job_id": job["id"],
            "project_id": project["id"],
            "song_id": song.json()["song"]["id"],
            "key_id": key["id"],
            "webhook_id": webhook.json()["id"],
            "user_id": alice["id"],
            "workspace_id": workspace.json()["id"],
            "account_id": alice["id"],
            "invitation_id": invitation.json()["id"],
            "comment_id": comment.json()["id"],
        },
        "names": {"/api/v1/jobs/{job_id}/artifacts/{name}": "processed.wav"},
    }


def fill(path: str, ids: dict[str, str]) -> str:
    names = {"{name}": "midi" if "/songs/" in path else "processed.wav"}
    if path.startswith("/api/jobs/"):  # Music Assistant's: separation jobs only
        ids = {**ids, "job_id": ids["separation_id"]}
    if path.startswith("/api/v1/projects/"):  # a workspace, not a pipeline job's "project"
        ids = {**ids, "project_id": ids["workspace_id"]}

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        return names.get(token) or ids[token.strip("{}")]

    return re.sub(r"\{[a-z_]+\}", value, path)


def made_up(ids: dict[str, str]) -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in ids}


def without_ids(text: str, ids: dict[str, str]) -> str:
    for value in ids.values():
        text = text.replace(value, "<id>")
    return text


def test_every_route_with_an_id_answers_another_user_as_if_it_did_not_exist(
    platform: Platform, alice_and_bob: dict[str, Any]
) -> None:
    ids = alice_and_bob["ids"]
    fake = made_up(ids)
    alice, bob = alice_and_bob["alice"], alice_and_bob["bob"]
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        spec = api.get("/openapi.json").json()
        walked: set[tuple[str, str]] = set()
        for path, operations in spec["paths"].items():
            for method in operations:
                route = (method.upper(), path)
                if "{" not in path:
                    continue
                walked.add(route)
                real_url, fake_url = fill(path, ids), fill(path, fake)
                body = BODIES.get(route, {"role": "producer"} if method == "patch" else None)
                if isinstance(body, dict) and body.get("account_id") == "{account_id}":
                    body = {"account_id": ids["account_id"]}
                # The owner's DELETE would remove what the routes after it read.
                as_owner = (
                    api.request(route[0], real_url, headers=headers(alice), json=body)
                    if route[0] != "DELETE"
                    else None
                )
                as_bob = api.request(route[0], real_url, headers=headers(bob), json=body)
                as_nobody = api.request(route[0], fake_url, headers=headers(bob), json=body)
                if route in ADMIN:
                    assert as_bob.status_code == 403, route  # Bob is not an admin
                    continue
                assert as_bob.status_code == 404, (route, as_bob.status_code, as_bob.text)
                assert as_nobody.status_code == 404, route
                if route[0] != "HEAD":
                    assert without_ids(as_bob.text, ids) == without_ids(as_nobody.text, fake), route
                if route[0] in ("GET", "HEAD"):
                    assert as_owner is not None
                    assert as_owner.status_code in (200, 206), (route, as_owner.text)
        for method, path in ADMIN:
            if "{" not in path:
                refused = api.request(method, path, headers=headers(bob))
                assert refused.status_code == 403, (method, path, refused.text)
    covered = walked | PUBLIC | SELF_ONLY | ADMIN | BODY_ROUTES
    every = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert every - covered == set(), "a new route needs its ownership check here"


# Requests that must be well formed for the ownership check to be what answers them.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/projects/{project_id}"): {"description": "mine now"},
    ("POST", "/api/v1/projects/{project_id}/invitations"): {
        "email": "mallory@example.com",
        "role": "artist",
    },
    ("POST", "/api/v1/projects/{project_id}/transfer"): {"account_id": "{account_id}"},
    ("POST", "/api/v1/projects/{project_id}/comments"): {"body": "mine now"},
    ("POST", "/api/v1/projects/{project_id}/mix/jobs"): {
        "job_id": "00000000-0000-4000-8000-000000000000"
    },
    ("POST", "/api/v1/projects/{project_id}/approvals"): {
        "job_id": "00000000-0000-4000-8000-000000000000",
        "artifact": "processed.wav",
        "decision": "approved",
    },
}

BODY_ROUTES = {
    ("POST", "/api/v1/projects"),
    ("GET", "/api/v1/projects"),
    ("GET", "/api/v1/invitations"),
    ("POST", "/api/v1/uploads"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/songs"),
    ("GET", "/api/v1/songs"),
    ("POST", "/api/v1/songs/match"),
    ("POST", "/api/v1/generate"),
    ("POST", "/api/v1/music/generate/full-song"),
    ("GET", "/api/v1/auth/api-keys"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/generate"),
    ("POST", "/api/jobs"),
}


def test_routes_that_take_ids_in_the_body_or_list_things_do_not_reveal_them(
    platform: Platform, alice_and_bob: dict[str, Any], tmp_path: Path
) -> None:
    ids = alice_and_bob["ids"]
    fake = made_up(ids)
    bob = headers(alice_and_bob["bob"])
    with httpx.Client(base_url=platform.url, timeout=60, headers=bob) as api:
        jobs = api.get("/api/v1/jobs", params={"limit": 100}).json()["items"]
        assert {j["id"] for j in jobs}.isdisjoint({ids["job_id"], ids["project_id"]})
        found = api.get("/api/v1/songs", params={"q": alice_and_bob["title"]}).json()["items"]
        assert ids["song_id"] not in {hit["song"]["id"] for hit in found}
        assert api.get("/api/v1/auth/api-keys").json()["items"] == []
        assert api.get("/api/v1/webhooks").json()["items"] == []
        assert api.get("/api/v1/projects").json()["items"] == []
        assert api.get("/api/v1/projects", params={"archived": "true"}).json()["items"] == []
        assert api.get("/api/v1/invitations").json()["items"] == []

        def same_as_made_up(url: str, make: Any) -> None:
            real, made = api.post(url, json=make(ids)), api.post(url, json=make(fake))
            assert real.status_code == made.status_code, (url, real.text)
            assert 400 <= real.status_code < 500
            assert without_ids(real.text, ids) == without_ids(made.text, fake)

        chain = [{"type": "gain", "gain_db": -1}]
        for make in (
            lambda i: {
                "kind": "effects",
                "input": {"upload_id": i["upload_id"]},
                "params": {"chain": chain},
            },
            lambda i: {
                "kind": "effects",
                "input": {"job_id": i["job_id"], "artifact": "processed.wav"},
                "params": {"chain": chain},
            },
            lambda i: {"kind": "render", "input": {"song_id": i["song_id"]}},
            lambda i: {"kind": "blend", "params": {"songs": [i["song_id"], i["upload_id"]]}},
        ):
            same_as_made_up("/api/v1/jobs", make)
        # A webhook for Alice's job is refused as for a job that does not exist.
        same_as_made_up(
            "/api/v1/webhooks",
            lambda i: {
                "url": "http://127.0.0.1:9/bob",
                "event_types": ["job.completed"],
                "job_id": i["job_id"],
            },
        )
        for url in ("/api/v1/generate", "/api/v1/music/generate/full-song", "/api/generate"):
            same_as_made_up(url, lambda i: {"songs": [i["song_id"], i["upload_id"]]})
        # By title, too: Alice's private song is not Bob's to blend.
        by_title = api.post("/api/v1/generate", json={"songs": [alice_and_bob["title"], "x"]})
        assert by_title.status_code == 422
        assert ids["song_id"] not in by_title.text

        # The same file as Alice's private song is "new" to Bob.
        matched = api.post(
            "/api/v1/songs/match", files={"file": ("m.mid", alice_and_bob["midi"], "audio/midi")}
        )
        assert matched.status_code == 200, matched.text
        assert ids["song_id"] not in matched.text


async def test_websocket_subscribe_to_another_users_job_is_not_found(
    platform: Platform, alice_and_bob: dict[str, Any]
) -> None:
    ids = alice_and_bob["ids"]
    url = platform.url.replace("http://", "ws://") + "/api/v1/ws"
    token = alice_and_bob["bob"]["Authorization"].removeprefix("Bearer ")
    replies = []
    async with websockets.connect(f"{url}?access_token={token}") as ws:
        for job_id in (ids["job_id"], ids["project_id"], str(uuid.uuid4())):
            await ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    for reply, job_id in zip(replies, (ids["job_id"], ids["project_id"], None), strict=True):
        assert reply["type"] == "error"
        assert reply["message"] == f"job {reply['job_id']} not found"
        if job_id:
            assert reply["job_id"] == job_id
    alice_token = alice_and_bob["alice"]["Authorization"].removeprefix("Bearer ")
    async with websockets.connect(f"{url}?access_token={alice_token}") as ws:
        await ws.send(json.dumps({"action": "subscribe", "job_id": ids["job_id"]}))
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert snapshot["type"] == "job.snapshot"

    # The generation platform's WS /ws: Alice's project is not found for Bob either.
    projects = platform.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(f"{projects}?access_token={token}") as ws:
        for project_id in (ids["project_id"], str(uuid.uuid4())):
            await ws.send(json.dumps({"action": "subscribe", "project_id": project_id}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply == {
                "type": "error",
                "message": f"project {project_id} not found",
                "project_id": project_id,
            }
