"""The Python client (sync and async) against the running platform: the README's examples do
what they say, errors carry the server's sentence, and a download that does not match its
sha256 leaves nothing behind."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import soundfile as sf

from cadenza.client import AsyncCadenza, Cadenza, CadenzaError
from cadenza.client.requests import artifact_source, effects_job, master_job, separation_job
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise, write_tone

pytestmark = pytest.mark.platform


def test_sync_client_runs_a_job_and_downloads_it(platform: Platform, tmp_path: Path) -> None:
    with Cadenza(platform.url) as api:
        upload = api.upload(write_tone(tmp_path / "song.wav", 3.0))
        assert upload.duration_s == pytest.approx(3.0, abs=0.01) and upload.channels == 2
        job = api.submit(effects_job(upload.id, [{"type": "reverb", "room_size": 0.8}]))
        assert job.status in ("queued", "running") and [s.name for s in job.stages] == ["effects"]
        seen: list[str] = []
        done = api.wait(job.id, lambda m: seen.append(m["type"]))
        assert done.status == "completed" and done.progress == 1.0
        assert seen[0] == "job.snapshot" and seen[-1] == "job.completed"
        path = api.download(done.artifacts[0], tmp_path)
        assert path == tmp_path / done.artifacts[0].name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == done.artifacts[0].sha256
        assert sf.info(str(path)).frames == 3 * 44100
        history = api.events(job.id)
        assert [e.subject for e in history][:2] == ["job.submitted", "effects.requested"]
        assert history[-1].subject == "effects.completed"
        assert job.id in {j.id for j in api.jobs(limit=50).jobs}


async def test_async_client_watches_a_pipeline_of_two_jobs(
    platform: Platform, tmp_path: Path
) -> None:
    async with AsyncCadenza(platform.url) as api:
        upload = await api.upload(write_noise(tmp_path / "mix.wav", 3.0))
        separated = await api.submit(separation_job(upload.id, model="classical", stems=["bass"]))
        types = [m["type"] async for m in api.watch(separated.id)]
        assert types[0] == "job.snapshot" and types[-1] == "job.completed"
        separated = await api.job(separated.id)
        mastered = await api.wait(
            (
                await api.submit(
                    master_job(artifact_source(separated.id, "bass.wav"), preset="streaming")
                )
            ).id
        )
        assert mastered.status == "completed"
        assert mastered.stages[0].details["lufs"] == pytest.approx(-14, abs=0.1)
        assert mastered.artifact("mastered.wav").media_type.startswith("audio/")


def test_errors_carry_the_servers_sentence(platform: Platform, tmp_path: Path) -> None:
    with Cadenza(platform.url) as api:
        upload = api.upload(write_tone(tmp_path / "t.wav", 1.0))
        with pytest.raises(CadenzaError) as refused:
            api.submit(effects_job(upload.id, [{"type": "gain", "gain_db": 99}]))
        assert refused.value.status == 422
        assert refused.value.errors[0]["field"] == "params.chain.0.gain_db"
        assert "less than or equal to 24" in refused.value.detail
        with pytest.raises(CadenzaError, match="not found") as missing:
            api.job("00000000-0000-0000-0000-000000000000")
        assert missing.value.status == 404
    with Cadenza("http://127.0.0.1:9") as nowhere, pytest.raises(CadenzaError) as down:
        nowhere.jobs()
    assert down.value.status == 0 and "cannot reach the API" in down.value.detail


def test_a_download_that_does_not_match_leaves_nothing(platform: Platform, tmp_path: Path) -> None:
    with Cadenza(platform.url) as api:
        upload = api.upload(write_tone(tmp_path / "t.wav", 1.0))
        job = api.wait(api.submit(effects_job(upload.id, [{"type": "gain"}])).id)
        tampered = dataclasses.replace(job.artifacts[0], sha256="0" * 64)
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(CadenzaError, match="do not match"):
            api.download(tampered, out)
        assert list(out.iterdir()) == []
