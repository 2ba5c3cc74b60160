"""Upload → effects job → live progress over the WebSocket → download, through the API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import websockets

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import rms_db, write_noise, write_tone

from .conftest import follow, upload, wait_for_status

pytestmark = pytest.mark.platform


def effects_job(upload_id: str, chain: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    return {
        "kind": "effects",
        "input": {"upload_id": upload_id},
        "params": {"chain": chain, **params},
    }


def test_health_and_readiness(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"nats": "ok", "postgres": "ok", "storage": "ok"}


def test_upload_reports_what_the_file_is(api: httpx.Client, tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.wav", 3.0, sample_rate=48000, channels=1)
    response = upload(api, path)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["filename"] == "tone.wav"
    assert (body["media_type"], body["format"]) == ("audio/wav", "wav")
    assert (body["sample_rate"], body["channels"], body["duration_s"]) == (48000, 1, 3.0)
    assert body["bytes"] == path.stat().st_size
    assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert api.get(f"/api/v1/uploads/{body['id']}").json()["sha256"] == body["sha256"]


@pytest.mark.parametrize(
    ("fmt", "container", "subtype", "media_type"),
    [
        ("flac", "FLAC", "PCM_16", "audio/flac"),
        ("mp3", "MP3", "MPEG_LAYER_III", "audio/mpeg"),
        ("ogg", "OGG", "VORBIS", "audio/ogg"),
        ("aiff", "AIFF", "PCM_24", "audio/aiff"),
    ],
)
def test_every_accepted_format_uploads(
    api: httpx.Client, tmp_path: Path, fmt: str, container: str, subtype: str, media_type: str
) -> None:
    path = tmp_path / f"clip.{fmt}"
    data = np.random.default_rng(1).uniform(-0.3, 0.3, (44100, 2)).astype(np.float32)
    sf.write(str(path), data, 44100, format=container, subtype=subtype)
    response = upload(api, path)
    assert response.status_code == 201, response.text
    assert response.json()["media_type"] == media_type
    assert response.json()["duration_s"] == pytest.approx(1.0, abs=0.06)


async def test_effects_job_end_to_end(
    api: httpx.Client, ws_url: str, tmp_path: Path, platform: Platform
) -> None:
    source = write_noise(tmp_path / "music.wav", 20.0)
    upload_id = upload(api, source).json()["id"]
    response = api.post(
        "/api/v1/jobs",
        json=effects_job(upload_id, [{"type": "gain", "gain_db": -6}], format="wav", bit_depth=32),
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["kind"] == "effects"

    events = await follow(ws_url, job["id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "job.snapshot"
    assert kinds[-1] == "job.completed"
    assert set(kinds[1:-1]) <= {"job.progress"}
    progress = [e["progress"] for e in events if e["type"] == "job.progress"]
    assert progress == sorted(progress), "progress only moves forward"
    artifact = events[-1]["artifacts"][0]
    assert artifact["name"] == "processed.wav"

    done = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert (done["status"], done["progress"]) == ("completed", 1.0)
    assert done["stages"] == [
        {"name": "effects", "status": "completed", "progress": 1.0, "details": {}}
    ]
    download = api.get(artifact["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "audio/wav"
    assert hashlib.sha256(download.content).hexdigest() == artifact["sha256"]
    out = tmp_path / "out.wav"
    out.write_bytes(download.content)
    before, rate_in = sf.read(str(source), dtype="float32")
    after, rate_out = sf.read(str(out), dtype="float32")
    assert rate_out == rate_in and after.shape == before.shape
    assert rms_db(after) - rms_db(before) == pytest.approx(-6.0, abs=0.1)

    partial = api.get(artifact["url"], headers={"Range": "bytes=100-1099"})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 100-1099/{len(download.content)}"
    assert partial.content == download.content[100:1100]
    assert api.get(artifact["url"], headers={"Range": "bytes=99999999-"}).status_code == 416


def test_a_late_subscriber_gets_the_snapshot_and_the_ending(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 1.0)).json()["id"]
    job = api.post("/api/v1/jobs", json=effects_job(upload_id, [{"type": "reverb"}])).json()
    wait_for_status(api, job["id"])
    events = asyncio.run(follow(ws_url, job["id"]))
    assert [e["type"] for e in events] == ["job.snapshot", "job.completed"]
    assert events[0]["status"] == "completed"
    assert events[1]["details"] == {}
    assert events[1]["artifacts"][0]["name"] == "processed.wav"


BAD_REQUESTS = [
    ({"type": "flanger"}, "params.chain.0.type", "does not match any of the expected tags"),
    ({"type": "gain", "gain_db": 60}, "params.chain.0.gain_db", "less than or equal to 24"),
    ({"type": "reverb", "room_size": -1}, "params.chain.0.room_size", "greater than or equal"),
    ({"type": "gain", "gain": 3}, "params.chain.0.gain", "Extra inputs are not permitted"),
    (
        {"type": "lowpass_filter", "cutoff_frequency_hz": 30000},
        "params.chain.0.cutoff_frequency_hz",
        "must be below 22050 Hz",
    ),
]


@pytest.mark.parametrize(("plugin", "field", "message"), BAD_REQUESTS)
def test_invalid_effects_are_refused_naming_the_field(
    api: httpx.Client, tmp_path: Path, plugin: dict[str, Any], field: str, message: str
) -> None:
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 0.5)).json()["id"]
    response = api.post("/api/v1/jobs", json=effects_job(upload_id, [plugin]))
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert message in body["errors"][0]["message"]
    assert body["detail"].startswith(field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "kind": "teleport",
                "input": {"upload_id": str(uuid.uuid4())},
                "params": {"chain": [{"type": "gain"}]},
            },
            "kind",
        ),
        (
            {
                "kind": "effects",
                "input": {"upload_id": str(uuid.uuid4())},
                "params": {"chain": [{"type": "gain"}]},
            },
            "input.upload_id",
        ),
        (
            {"kind": "effects", "input": {"upload_id": "nope"}, "params": {"chain": []}},
            "input.upload_id",
        ),
        (
            {
                "kind": "effects",
                "input": {},
                "params": {"chain": [{"type": "gain"}], "format": "m4a"},
            },
            "input.upload_id",
        ),
    ],
)
def test_malformed_jobs_are_refused(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = api.post("/api/v1/jobs", json=body)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_mp3_output_of_a_96k_upload_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    upload_id = upload(api, write_tone(tmp_path / "hi.wav", 0.5, sample_rate=96000)).json()["id"]
    response = api.post(
        "/api/v1/jobs", json=effects_job(upload_id, [{"type": "gain"}], format="mp3")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "params.format"


def test_bad_uploads_are_refused_and_the_platform_keeps_working(
    api: httpx.Client, ws_url: str, tmp_path: Path, platform: Platform
) -> None:
    good = write_tone(tmp_path / "good.wav", 2.0)
    cases = {
        "garbage.wav": (b"\x00\x01garbage" * 400, 415, "not audio we can decode"),
        "notes.mp3": (b"just some text, honestly " * 100, 415, "not audio we can decode"),
        "truncated.wav": (good.read_bytes()[:50_000], 415, "truncated"),
        "empty.wav": (b"", 422, "empty"),
    }
    for name, (content, status, message) in cases.items():
        response = api.post("/api/v1/uploads", files={"file": (name, content)})
        assert response.status_code == status, (name, response.text)
        assert message in response.json()["detail"], name
        assert name in response.json()["detail"] or status == 413
    huge = tmp_path / "huge.wav"
    write_noise(huge, 100.0)  # ~17 MB, over the 8 MiB limit of this platform
    response = upload(api, huge)
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]
    assert api.post("/api/v1/uploads", content=b"raw bytes").status_code == 415
    assert api.post("/api/v1/uploads", files={"other": ("x.wav", b"x")}).status_code == 422
    # Nothing half-written was kept: only committed objects under the storage root.
    leftovers = list((platform.storage_dir / ".tmp").iterdir())
    assert leftovers == []
    # ...and the platform still does real work.
    upload_id = upload(api, good).json()["id"]
    job = api.post("/api/v1/jobs", json=effects_job(upload_id, [{"type": "gain"}])).json()
    assert wait_for_status(api, job["id"])["status"] == "completed"


def test_unknown_ids_answer_404(api: httpx.Client) -> None:
    missing = uuid.uuid4()
    for path in (
        f"/api/v1/jobs/{missing}",
        f"/api/v1/uploads/{missing}",
        f"/api/v1/jobs/{missing}/artifacts/processed.wav",
    ):
        response = api.get(path)
        assert response.status_code == 404
        assert str(missing) in response.json()["detail"]
    assert api.delete(f"/api/v1/jobs/{missing}").status_code == 404
    assert api.post(f"/api/v1/jobs/{missing}/cancel").status_code == 404
    assert api.get("/api/v1/jobs/not-a-uuid").status_code == 422


async def test_unknown_jobs_and_bad_messages_on_the_websocket(ws_url: str) -> None:
    async with websockets.connect(ws_url) as ws:
        await ws.send("not json")
        assert json.loads(await ws.recv())["type"] == "error"
        await ws.send(json.dumps({"action": "dance"}))
        assert "unknown action" in json.loads(await ws.recv())["message"]
        missing = str(uuid.uuid4())
        await ws.send(json.dumps({"action": "subscribe", "job_id": missing}))
        reply = json.loads(await ws.recv())
        assert reply == {"type": "error", "job_id": missing, "message": f"job {missing} not found"}


async def test_cancel_stops_a_running_job(api: httpx.Client, ws_url: str, tmp_path: Path) -> None:
    source = write_noise(tmp_path / "long.flac", 40.0)
    upload_id = upload(api, source).json()["id"]
    chain: list[dict[str, Any]] = [
        {"type": "pitch_shift", "semitones": 2},
        {"type": "reverb"},
        {"type": "pitch_shift", "semitones": -2},
    ]
    job = api.post("/api/v1/jobs", json=effects_job(upload_id, chain)).json()
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "job_id": job["id"]}))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if event["type"] == "job.progress":
                break
        cancelled = api.post(f"/api/v1/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 202
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.headers["location"] == f"/api/v1/jobs/{job['id']}"
        while event["type"] != "job.cancelled":
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
    await asyncio.sleep(3)  # the worker notices at its next block and stops
    final = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert final["status"] == "cancelled" and final["artifacts"] == []
    again = api.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]
    assert api.get(f"/api/v1/jobs/{job['id']}").status_code == 200


def test_delete_removes_a_finished_job_and_refuses_a_running_one(
    api: httpx.Client, platform: Platform, tmp_path: Path
) -> None:
    upload_id = upload(api, write_noise(tmp_path / "long.flac", 40.0)).json()["id"]
    slow: list[dict[str, Any]] = [{"type": "pitch_shift", "semitones": 2}, {"type": "reverb"}]
    running = api.post("/api/v1/jobs", json=effects_job(upload_id, slow)).json()
    refused = api.delete(f"/api/v1/jobs/{running['id']}")
    assert refused.status_code == 409, refused.text
    assert "cancel it first" in refused.json()["detail"]
    assert api.post(f"/api/v1/jobs/{running['id']}/cancel").status_code == 202

    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = effects_job(upload_id, [{"type": "gain"}])
    job = api.post("/api/v1/jobs", json=body, headers=key).json()
    done = wait_for_status(api, job["id"], 60)
    assert done["status"] == "completed"
    artifact = done["artifacts"][0]
    assert api.get(artifact["url"]).status_code == 200
    stored = list(platform.storage_dir.rglob(f"*{job['id']}*/*"))
    assert stored, "the job's files are in storage"

    deleted = api.delete(f"/api/v1/jobs/{job['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    for path in (f"/api/v1/jobs/{job['id']}", f"/api/v1/jobs/{job['id']}/events", artifact["url"]):
        assert api.get(path).status_code == 404, path
    assert job["id"] not in {j["id"] for j in api.get("/api/v1/jobs?limit=100").json()["items"]}
    assert not [p for p in stored if p.exists()], "its files are gone"
    assert api.delete(f"/api/v1/jobs/{job['id']}").status_code == 404
    # Its key does not quietly make a job with the deleted one's id.
    reused = api.post("/api/v1/jobs", json=body, headers=key)
    assert reused.status_code == 422
    assert "deleted" in reused.json()["detail"]


def test_jobs_are_listed_newest_first_in_pages(api: httpx.Client, tmp_path: Path) -> None:
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 0.2)).json()["id"]
    ids = [
        api.post("/api/v1/jobs", json=effects_job(upload_id, [{"type": "gain"}])).json()["id"]
        for _ in range(3)
    ]
    first_response = api.get("/api/v1/jobs", params={"limit": 2})
    first = first_response.json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:2]
    assert first_response.headers["link"] == f'<{first["next"]}>; rel="next"'
    second = api.get(first["next"]).json()
    assert second["items"][0]["id"] == ids[0]
    assert (
        second
        == api.get("/api/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    )
    assert api.get("/api/v1/jobs", params={"cursor": "garbage"}).status_code == 422


def test_the_same_idempotency_key_returns_the_same_job(api: httpx.Client, tmp_path: Path) -> None:
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 0.2)).json()["id"]
    body = effects_job(upload_id, [{"type": "gain"}])
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first_response = api.post("/api/v1/jobs", json=body, headers=key)
    first = first_response.json()
    assert first_response.headers["location"] == f"/api/v1/jobs/{first['id']}"
    second_response = api.post("/api/v1/jobs", json=body, headers=key)
    assert second_response.status_code == 202, second_response.text
    second = second_response.json()
    assert first["id"] == second["id"]
    assert second_response.headers["location"] == first_response.headers["location"]
    # The same key with another body is refused, naming the key; no second job is made.
    other = effects_job(upload_id, [{"type": "gain", "gain_db": -3}])
    refused = api.post("/api/v1/jobs", json=other, headers=key)
    assert refused.status_code == 422, refused.text
    assert "different request" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert wait_for_status(api, first["id"])["status"] == "completed"
    assert api.get(f"/api/v1/jobs/{first['id']}").json()["params"] == first["params"]


def test_many_jobs_at_once_all_complete(api: httpx.Client, tmp_path: Path) -> None:
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 1.0)).json()["id"]
    ids = [
        api.post("/api/v1/jobs", json=effects_job(upload_id, [{"type": "delay"}])).json()["id"]
        for _ in range(25)
    ]
    statuses = {wait_for_status(api, job_id)["status"] for job_id in ids}
    assert statuses == {"completed"}


def test_docs_openapi_and_metrics(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    for path in (
        "/api/v1/uploads",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/artifacts/{name}",
        "/health",
        "/health/ready",
    ):
        assert path in spec["paths"], path
    assert (
        "multipart/form-data" in spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    )
    assert api.get("/docs").status_code == 200
    events = api.get("/api/v1/asyncapi")
    assert events.status_code == 200 and events.json()["asyncapi"] == "3.0.0"
    assert "effects.requested" in events.json()["channels"]
    metrics = api.get("/metrics").text
    assert 'cadenza_http_requests_total{method="POST",route="/api/v1/jobs",status="202"}' in metrics
    assert "cadenza_projection_events_total" in metrics
