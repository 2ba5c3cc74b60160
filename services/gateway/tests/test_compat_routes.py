"""The seeds' compatibility routes in the gateway (docs/compat.md): present with AUTH_MODE=dev
or COMPAT_ROUTES=true and absent otherwise, authenticated like the rest, each input bounded,
and WS /ws speaking the project vocabulary. The end-to-end flows with workers are in
tests/e2e/test_seed_compat.py."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import write_tone
from cadenza.gateway.api.routes.compat_ws import ProjectFeed
from cadenza.gateway.app import create_app
from cadenza.gateway.job_socket import MAX_FRAME

from .conftest import bearer, gateway, running_gateway, settings, sign_up

SEED_CALLS = [
    ("POST", "/api/generate"),
    ("GET", f"/api/status/{uuid.uuid4()}"),
    ("GET", f"/api/download/{uuid.uuid4()}"),
    ("GET", "/api/health/detailed"),
    ("GET", "/api/health/ready"),
    ("GET", "/api/health/live"),
    ("POST", "/api/jobs"),
    ("GET", f"/api/jobs/{uuid.uuid4()}"),
    ("GET", "/api/health"),
]
CHECKS = {"nats": "ok", "postgres": "ok", "storage": "ok"}


@pytest.mark.parametrize(
    ("overrides", "on"),
    [
        ({"auth_mode": "dev"}, True),
        ({}, False),
        ({"auth_mode": "dev", "compat_routes": False}, False),
        ({"compat_routes": True}, True),
    ],
    ids=["dev-default", "required-default", "dev-off", "required-on"],
)
def test_the_routes_follow_the_setting(overrides: dict[str, Any], on: bool, tmp_path: Path) -> None:
    config = settings(
        "postgresql://unused@127.0.0.1/x", "nats://127.0.0.1:1", tmp_path, **overrides
    )
    assert config.compat_routes_on is on
    app = create_app(config)
    paths = set(app.openapi()["paths"])
    assert (
        {"/api/generate", "/api/jobs", "/api/health"} <= paths
        if on
        else not paths & {path for _, path in SEED_CALLS}
    )
    if on:
        return
    client = TestClient(app)  # no lifespan: an absent route needs nothing behind it
    for method, path in SEED_CALLS:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert "no such endpoint" in response.json()["detail"]
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_text()


async def test_seed_calls_need_credentials_unless_they_are_probes(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path / "s", compat_routes=True)
    async with gateway(config) as api:
        for method, path in SEED_CALLS:
            response = await api.request(method, path)
            if "/health" in path:
                assert response.status_code == 200, (path, response.text)
            else:
                assert response.status_code == 401, (method, path, response.text)
        assert (await api.get("/api/health/live")).json() == {"status": "ok", "checks": {}}
        assert (await api.get("/api/health/ready")).json() == {"status": "ready", "checks": CHECKS}
        assert (await api.get("/api/health")).json() == {"status": "ok", "checks": CHECKS}
        detailed = (await api.get("/api/health/detailed")).json()
        assert detailed["status"] == "healthy" and detailed["checks"] == CHECKS
        assert detailed["uptime"] >= 0 and detailed["version"] == "0.1.0"

        token = (await sign_up(api, "seed@example.com"))["access_token"]
        missing = await api.get(f"/api/status/{uuid.uuid4()}", headers=bearer(token))
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]


async def test_music_assistant_jobs_and_orpheus_status_of_a_queued_job(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database, nats_server.url, tmp_path / "s", auth_mode="dev", max_upload_bytes=400_000
    )
    tone = write_tone(tmp_path / "tone.wav", 1.0)
    async with running_gateway(config) as (services, api):
        created = await api.post(
            "/api/jobs",
            files={"file": ("tone.wav", tone.read_bytes(), "audio/wav")},
            data={"stems": "bass,vocals", "format": "flac", "ignored": "x"},
        )
        assert created.status_code == 202, created.text
        job = created.json()
        assert created.headers["location"] == f"/api/jobs/{job['id']}"
        assert job["status"] == "pending" and job["progress"] == 0
        assert job["model"] == "classical"  # no worker advertises a Demucs model here
        assert job["stems"] == [] and job["error"] is None and job["finished_at"] is None
        assert (await api.get(f"/api/jobs/{job['id']}")).json() == job
        # The same job through the real API.
        real = (await api.get(f"/api/v1/jobs/{job['id']}")).json()
        assert real["kind"] == "separation" and real["params"]["stems"] == ["bass", "vocals"]
        assert real["params"]["format"] == "flac"

        # Orpheus reads any of the caller's jobs; its file waits for the end.
        status = (await api.get(f"/api/status/{job['id']}")).json()
        assert status["jobId"] == job["id"] and status["status"] == "queued"
        assert status["result"] is None and status["stages"][0]["progress"] == 0
        early = await api.get(f"/api/download/{job['id']}")
        assert early.status_code == 409 and "once GET /api/status" in early.json()["detail"]
        named = await api.get(f"/api/download/{job['id']}:bass.flac")
        assert named.status_code == 404 and "no artifact named 'bass.flac'" in named.text

        # Refusals, each naming what is wrong.
        async with services.pool.acquire() as conn:
            uploads_before = await conn.fetchval("SELECT count(*) FROM uploads")
        upload_id = (
            await api.post("/api/v1/uploads", files={"file": ("t.wav", tone.read_bytes())})
        ).json()["id"]
        effects = await api.post(
            "/api/v1/jobs",
            json={
                "kind": "effects",
                "input": {"upload_id": upload_id},
                "params": {"chain": [{"type": "reverb", "room_size": 0.8}]},
            },
        )
        assert effects.status_code == 202, effects.text
        other = await api.get(f"/api/jobs/{effects.json()['id']}")
        assert other.status_code == 404 and "separation job" in other.json()["detail"]
        too_big = await api.post(
            "/api/jobs", files={"file": ("big.wav", b"\0" * 500_000, "audio/wav")}
        )
        assert too_big.status_code == 413
        stem = await api.post(
            "/api/jobs", files={"file": ("t.wav", tone.read_bytes())}, data={"stems": "kazoo"}
        )
        assert stem.status_code == 422 and stem.json()["errors"][0]["field"] == "stems.0"
        async with services.pool.acquire() as conn:  # the refused job left no upload behind
            uploads = await conn.fetch("SELECT id, uri FROM uploads")
        assert str(upload_id) in {str(u["id"]) for u in uploads}
        assert len(uploads) == uploads_before + 1, "only the effects job's upload was added"
        for bad in ("nope", f"{uuid.uuid4()}:../x", f"{uuid.uuid4()}:" + "a" * 80):
            response = await api.get(f"/api/download/{bad}")
            assert response.status_code in (404, 422), (bad, response.text)
            assert response.status_code == 422 or "no such endpoint" in response.text
        generate = await api.post("/api/generate", json={"songs": ["a"] * 101})
        assert generate.status_code == 422 and "songs" in generate.text


def test_the_project_socket_subscribes_to_pipelines_only(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path / "s", auth_mode="dev")
    tone = write_tone(tmp_path / "tone.wav", 1.0)
    with TestClient(create_app(config)) as client:
        upload_id = client.post(
            "/api/v1/uploads", files={"file": ("t.wav", tone.read_bytes())}
        ).json()["id"]
        pipeline = client.post(
            "/api/v1/jobs",
            json={
                "kind": "pipeline",
                "preset": "remix",
                "input": {"upload_id": upload_id},
                "params": {"separation": {"model": "classical"}},
            },
        )
        assert pipeline.status_code == 202, pipeline.text
        project_id = pipeline.json()["id"]
        separation = client.post("/api/jobs", files={"file": ("t.wav", tone.read_bytes())}).json()[
            "id"
        ]

        with client.websocket_connect(f"/ws?project_id={project_id}") as ws:
            snapshot = json.loads(ws.receive_text())
            assert snapshot["type"] == "project.snapshot"
            assert snapshot["project_id"] == project_id and snapshot["status"] == "queued"
            assert snapshot["stages"][0]["name"] == "separation"
            for sent, said in [
                ({"type": "subscribe", "project_id": separation}, f"project {separation} not"),
                ({"action": "subscribe", "project_id": "x"}, "'x' is not a project id"),
                ({"action": "dance", "project_id": project_id}, "unknown action 'dance'"),
                ("x" * (MAX_FRAME + 1), "message too long"),
                ("[1]", "messages must be JSON objects"),
                ("{", '{"action": "subscribe", "project_id": "..."}'),
            ]:
                ws.send_text(sent if isinstance(sent, str) else json.dumps(sent))
                reply = json.loads(ws.receive_text())
                assert reply["type"] == "error" and said in reply["message"], reply
            ws.send_bytes(b"\0")
            assert "text frames" in json.loads(ws.receive_text())["message"]
            ws.send_text(json.dumps({"type": "unsubscribe", "project_id": project_id}))
            assert json.loads(ws.receive_text()) == {
                "type": "unsubscribed",
                "project_id": project_id,
            }


def _snapshot(job_id: str, status: str) -> dict[str, Any]:
    return {"type": "job.snapshot", "job_id": job_id, "id": job_id, "status": status}


def test_the_feed_speaks_the_project_vocabulary() -> None:
    live, ended = str(uuid.uuid4()), str(uuid.uuid4())
    feed = ProjectFeed()
    base = {"job_id": live, "project_id": live}
    said = [
        feed.translate(m)
        for m in [
            _snapshot(live, "running"),
            {"type": "job.progress", "job_id": live, "stage": "blend", "progress": 0.5},
            {"type": "stage.progress", **base, "stage": "blend", "progress": 0.5},
            {"type": "job.stage_completed", "job_id": live, "stage": "blend"},
            {"type": "stage.completed", **base, "stage": "blend"},
            {"type": "job.completed", "job_id": live, "status": "completed", "artifacts": []},
            {"type": "project.completed", **base, "artifacts": []},
            {"type": "error", "job_id": live, "message": "job x not found"},
        ]
    ]
    assert [m["type"] if m else None for m in said] == [
        "project.snapshot",
        None,
        "stage.progress",
        None,
        "stage.completed",
        None,  # the job_feed says project.completed after the last stage.completed
        "project.completed",
        "error",
    ]
    assert all(m["project_id"] == live for m in said if m)

    # A project that ended before the subscriber came: the job_feed's job.* ending stands in.
    artifacts = [{"name": "mastered.wav"}]
    assert feed.translate(_snapshot(ended, "completed"))["type"] == "project.snapshot"  # type: ignore[index]
    assert feed.translate(
        {"type": "job.completed", "job_id": ended, "status": "completed", "artifacts": artifacts}
    ) == {"type": "project.completed", "job_id": ended, "project_id": ended, "artifacts": artifacts}
    failed = str(uuid.uuid4())
    feed.translate(_snapshot(failed, "cancelled"))
    error = {"stage": None, "code": "cancelled", "reason": "cancelled by its owner"}
    assert feed.translate(
        {"type": "job.cancelled", "job_id": failed, "status": "cancelled", "error": error}
    ) == {
        "type": "project.failed",
        "job_id": failed,
        "project_id": failed,
        "status": "cancelled",
        "error": error,
    }
