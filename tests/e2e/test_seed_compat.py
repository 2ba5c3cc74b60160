"""The seeds' own client calls against the running platform (docs/compat.md): Orpheus blends
catalog songs and downloads the mastered track, Music Assistant uploads a file and gets its
stems, the generation platform follows a project on WS /ws. `make run`'s AUTH_MODE=dev
turns the compatibility routes on."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import websockets

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import synthetic_band

pytestmark = pytest.mark.platform

SEED_SONGS = 12  # as test_music_flow: seeding is idempotent
PROJECT_ENDINGS = ("project.completed", "project.failed", "error")
ORPHEUS_JOB = {
    "jobId",
    "status",
    "progress",
    "stage",
    "stages",
    "statusUrl",
    "result",
    "error",
    "createdAt",
    "updatedAt",
}
ASSISTANT_JOB = {
    "id",
    "status",
    "progress",
    "model",
    "stems",
    "error",
    "created_at",
    "updated_at",
    "finished_at",
}


@pytest.fixture(scope="module")
def two_songs(platform: Platform) -> list[str]:
    """Two catalog songs, one by id and one as "Title - Artist" (as Orpheus sends them)."""
    process = platform.seed_catalog(SEED_SONGS)
    assert process.wait(timeout=240) == 0
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        chorales = api.get("/api/v1/songs", params={"tags": "chorale", "limit": 50}).json()
    songs = [hit["song"] for hit in chorales["items"]]
    assert len(songs) >= 2
    return [songs[0]["id"], f"{songs[1]['title']} - {songs[1]['artist']}"]


async def _follow_project(url: str, subscribe: dict[str, Any] | None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        if subscribe is not None:
            await ws.send(json.dumps(subscribe))
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 240)))
            if messages[-1]["type"] in PROJECT_ENDINGS:
                return messages
    raise AssertionError(f"the project did not end: {messages}")


async def _poll_orpheus(api: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        response = await api.get(f"/api/status/{job_id}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if seen[-1]["status"] in ("completed", "failed", "cancelled"):
            return seen
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {seen[-1]}")


async def test_orpheus_generates_and_the_platform_follows_the_project(
    platform: Platform, two_songs: list[str]
) -> None:
    ws_url = platform.url.replace("http://", "ws://") + "/ws"
    async with httpx.AsyncClient(base_url=platform.url, timeout=60) as api:
        response = await api.post(
            "/api/generate", json={"songs": two_songs, "length_bars": 8, "seed": 7}
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        job_id = accepted["jobId"]
        assert set(accepted) == ORPHEUS_JOB
        assert accepted["status"] == "queued" and accepted["progress"] == 0
        assert accepted["result"] is None and accepted["error"] is None
        assert accepted["statusUrl"] == response.headers["location"] == f"/api/status/{job_id}"
        assert [s["name"] for s in accepted["stages"]] == ["blend", "render", "master"]

        live, polled = await asyncio.gather(
            _follow_project(ws_url, {"type": "subscribe", "project_id": job_id}),
            _poll_orpheus(api, job_id),
        )

        # Orpheus's view: queued/processing, whole percents that never go back, then the file.
        statuses = [s["status"] for s in polled]
        assert statuses[-1] == "completed", polled[-1]["error"]
        assert set(statuses) <= {"queued", "processing", "completed"}
        percents = [s["progress"] for s in polled]
        assert percents == sorted(percents) and percents[-1] == 100
        assert all(isinstance(p, int) for p in percents)
        done = polled[-1]
        assert done["stage"] is None and done["error"] is None
        result = done["result"]
        assert result["fileId"] == job_id and result["downloadUrl"] == f"/api/download/{job_id}"
        files = {f["name"]: f for f in result["files"]}
        assert {"mastered.wav", "render-mix.wav", "blend-blend.mid"} <= set(files)
        assert files["mastered.wav"]["fileId"] == f"{job_id}:mastered.wav"

        track = await api.get(result["downloadUrl"])
        assert track.status_code == 200 and track.headers["content-type"] == "audio/wav"
        assert hashlib.sha256(track.content).hexdigest() == files["mastered.wav"]["sha256"]
        audio, rate = sf.read(io.BytesIO(track.content))
        assert rate == 44100 and audio.shape[1] == 2
        assert 4 < len(audio) / rate < 60  # 8 bars
        assert float(np.max(np.abs(audio))) > 0.01
        mix = await api.get(files["render-mix.wav"]["downloadUrl"])
        assert hashlib.sha256(mix.content).hexdigest() == files["render-mix.wav"]["sha256"]
        # The same job through the real API: a full-song pipeline.
        job = (await api.get(f"/api/v1/jobs/{job_id}")).json()
        assert job["kind"] == "pipeline" and job["status"] == "completed"

    # The generation platform's view: the project vocabulary only, every message named by
    # project_id, stages in order, then the project's files.
    assert {m["project_id"] for m in live} == {job_id}
    kinds = [m["type"] for m in live]
    assert kinds[0] == "project.snapshot" and kinds[-1] == "project.completed", kinds
    assert not [k for k in kinds if k.startswith("job.")]
    completed = [m["stage"] for m in live if m["type"] == "stage.completed"]
    assert completed[-2:] == ["render", "master"]
    assert {m["stage"] for m in live if m["type"] == "stage.started"} >= {"render", "master"}
    fractions = [m["project_progress"] for m in live if "project_progress" in m]
    assert fractions == sorted(fractions)
    assert "mastered.wav" in {a["name"] for a in live[-1]["artifacts"]}

    # A client that connects after the end, subscribing by query: the snapshot, the ending.
    late = await _follow_project(f"{ws_url}?project_id={job_id}", None)
    assert [m["type"] for m in late] == ["project.snapshot", "project.completed"]
    assert late[0]["status"] == "completed" and late[0]["project_id"] == job_id


def test_orpheus_refusals_and_health(api: httpx.Client, two_songs: list[str]) -> None:
    one = api.post("/api/generate", json={"songs": two_songs[:1]})
    assert one.status_code == 422 and "a blend takes 2 to 5 songs; got 1" in one.text
    unknown = api.post("/api/generate", json={"songs": [two_songs[0], "No Such - Nobody"]})
    assert unknown.status_code == 422 and "no catalog song matches" in unknown.text
    assert api.get("/api/status/not-a-job").status_code == 422
    assert api.get("/api/status/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/api/download/00000000-0000-0000-0000-000000000000:x/y").status_code == 404
    assert api.get("/api/download/nope").status_code == 422

    assert api.get("/api/health/live").json() == {"status": "ok", "checks": {}}
    ready = api.get("/api/health/ready").json()
    assert ready == {
        "status": "ready",
        "checks": dict.fromkeys(("nats", "postgres", "storage"), "ok"),
    }
    detailed = api.get("/api/health/detailed").json()
    assert detailed["status"] == "healthy" and detailed["uptime"] > 0
    assert set(detailed) == {"status", "checks", "timestamp", "uptime", "version"}


def test_music_assistant_separates_an_uploaded_file(api: httpx.Client, tmp_path: Path) -> None:
    band = synthetic_band(6.0, seed=9)
    sf.write(str(tmp_path / "band.wav"), band["mix"], 44100, subtype="FLOAT")
    with (tmp_path / "band.wav").open("rb") as f:
        response = api.post(
            "/api/jobs",
            files={"file": ("band.wav", f, "audio/wav")},
            data={"model": "classical", "stems": "bass, drums", "format": "flac"},
        )
    assert response.status_code == 202, response.text
    job = response.json()
    assert set(job) == ASSISTANT_JOB
    assert job["status"] == "pending" and job["model"] == "classical" and job["stems"] == []
    assert response.headers["location"] == f"/api/jobs/{job['id']}"

    statuses = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = api.get(f"/api/jobs/{job['id']}").json()
        statuses.append(job["status"])
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert job["status"] == "completed", job["error"]
    assert set(statuses) <= {"pending", "processing", "completed"}
    assert job["progress"] == 100 and job["finished_at"] is not None
    assert [s["name"] for s in job["stems"]] == ["bass", "drums"]
    for stem in job["stems"]:
        assert stem["filename"] == f"{stem['name']}.flac"
        audio = api.get(stem["url"])
        assert audio.status_code == 200
        assert hashlib.sha256(audio.content).hexdigest() == stem["sha256"]
        decoded, rate = sf.read(io.BytesIO(audio.content))
        assert rate == 44100 and len(decoded) == len(band["mix"])
    health = api.get("/api/health").json()
    assert health == {
        "status": "ok",
        "checks": dict.fromkeys(("nats", "postgres", "storage"), "ok"),
    }


def test_music_assistant_refusals(api: httpx.Client, tmp_path: Path) -> None:
    sf.write(str(tmp_path / "a.wav"), np.zeros((4410, 2), dtype=np.float32), 44100)
    with (tmp_path / "a.wav").open("rb") as f:
        wrong_model = api.post(
            "/api/jobs", files={"file": ("a.wav", f)}, data={"model": "spleeter"}
        )
    assert wrong_model.status_code == 422 and "unknown or unavailable model 'spleeter'" in (
        wrong_model.text
    )
    with (tmp_path / "a.wav").open("rb") as f:
        wrong_stem = api.post("/api/jobs", files={"file": ("a.wav", f)}, data={"stems": "kazoo"})
    assert wrong_stem.status_code == 422 and "stems" in wrong_stem.json()["errors"][0]["field"]
    no_file = api.post("/api/jobs", files={"audio": ("a.wav", b"RIFF")})
    assert no_file.status_code == 422 and "field named 'file'" in no_file.text
    not_audio = api.post("/api/jobs", files={"file": ("a.wav", b"not audio at all" * 100)})
    assert not_audio.status_code == 415
    assert api.get("/api/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
