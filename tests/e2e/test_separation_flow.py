"""Upload → separation → live progress → stems, through the public API, with the
embedded platform's separation worker and random-weight Demucs and RoFormer models on disk."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
import websockets

from cadenza.devstack.platform import Platform
from cadenza.devstack.roformer_models import reference_demix
from cadenza.devstack.testing import sdr_db, synthetic_band, write_noise
from cadenza.separation.roformer import load_roformer, read_config

from .conftest import download, upload
from .conftest import follow as follow_job


async def follow(ws_url: str, job_id: str, timeout_s: float = 120) -> list[dict[str, Any]]:
    return await follow_job(ws_url, job_id, timeout_s=timeout_s)


pytestmark = pytest.mark.platform


def separation_job(upload_id: str, **params: Any) -> dict[str, Any]:
    return {"kind": "separation", "input": {"upload_id": upload_id}, "params": params}


def test_the_models_workers_can_run_are_listed(api: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while True:
        listing = api.get("/api/v1/models").json()
        names = {m["name"] for m in listing["models"]}
        if "htdemucs" in names or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {"classical", "htdemucs", "htdemucs_6s", "htdemucs_ft"} <= names
    six = next(m for m in listing["models"] if m["name"] == "htdemucs_6s")
    assert six["stems"] == ["drums", "bass", "other", "vocals", "guitar", "piano"]
    assert listing["default"] == "htdemucs"


async def test_separation_end_to_end_with_a_demucs_model(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    rate, frames = 48000, int(48000 * 9.5)
    noise = np.random.default_rng(4).uniform(-0.3, 0.3, (frames, 1)).astype(np.float32)
    sf.write(str(tmp_path / "mono.flac"), noise, rate)
    upload_id = upload(api, tmp_path / "mono.flac").json()["id"]
    response = api.post(
        "/api/v1/jobs",
        json=separation_job(
            upload_id, model="htdemucs_6s", stems=["guitar", "vocals"], format="flac"
        ),
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["params"]["model"] == "htdemucs_6s"

    events = await follow(ws_url, job["id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "job.snapshot" and kinds[-1] == "job.completed"
    assert set(kinds[1:-1]) <= {"job.progress"}
    assert [a["name"] for a in events[-1]["artifacts"]] == ["guitar.flac", "vocals.flac"]
    assert events[-1]["details"]["model"] == "htdemucs_6s"
    for artifact in events[-1]["artifacts"]:
        path = download(api, artifact, tmp_path / artifact["name"])
        info = sf.info(str(path))
        assert (info.frames, info.samplerate, info.channels) == (frames, rate, 1)
    done = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["status"] == "completed"
    assert done["stages"][0]["details"]["cache"] in ("miss", "off")


async def test_the_classical_method_separates_a_real_mix(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    band = synthetic_band(20.0, seed=5)
    sf.write(str(tmp_path / "band.wav"), band["mix"], 44100, subtype="FLOAT")
    upload_id = upload(api, tmp_path / "band.wav").json()["id"]
    job = api.post(
        "/api/v1/jobs",
        json=separation_job(upload_id, model="classical", format="wav", bit_depth=32),
    ).json()
    events = await follow(ws_url, job["id"])
    assert events[-1]["type"] == "job.completed", events[-1]
    stems = {
        a["name"].removesuffix(".wav"): sf.read(str(download(api, a, tmp_path / a["name"])))[0]
        for a in events[-1]["artifacts"]
    }
    assert set(stems) == {"drums", "bass", "other", "vocals"}
    np.testing.assert_allclose(sum(stems.values()), band["mix"], atol=1e-4)
    assert sdr_db(band["bass"], stems["bass"]) > 10
    assert sdr_db(band["drums"], stems["drums"]) > 3


async def test_the_same_request_again_comes_from_the_cache(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    upload_id = upload(api, write_noise(tmp_path / "in.wav", 5.0)).json()["id"]
    body = separation_job(upload_id, model="htdemucs", stems=["drums"])
    first = await follow(ws_url, api.post("/api/v1/jobs", json=body).json()["id"])
    second = await follow(ws_url, api.post("/api/v1/jobs", json=body).json()["id"])
    assert first[-1]["details"]["cache"] == "miss"
    assert second[-1]["details"]["cache"] == "hit"
    assert first[-1]["artifacts"][0]["sha256"] == second[-1]["artifacts"][0]["sha256"]


async def test_cancelling_a_separation(api: httpx.Client, ws_url: str, tmp_path: Path) -> None:
    upload_id = upload(api, write_noise(tmp_path / "long.flac", 45.0)).json()["id"]
    job = api.post("/api/v1/jobs", json=separation_job(upload_id, model="htdemucs_ft")).json()
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "job_id": job["id"]}))
        while json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] != "job.progress":
            pass
        assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
        while (event := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != (
            "job.cancelled"
        ):
            pass
    assert event["status"] == "cancelled"
    # The worker is free again within seconds: a short job goes straight through.
    quick = api.post(
        "/api/v1/jobs",
        json=separation_job(
            upload(api, write_noise(tmp_path / "q.wav", 1.0)).json()["id"], model="classical"
        ),
    ).json()
    started = time.monotonic()
    finished = await follow(ws_url, quick["id"], timeout_s=60)
    assert finished[-1]["type"] == "job.completed"
    assert time.monotonic() - started < 20
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["artifacts"] == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"model": "spleeter"}, "params.model", "unknown or unavailable model 'spleeter'"),
        ({"model": "htdemucs", "stems": ["piano"]}, "params.stems", "no piano stem"),
        ({"stems": ["kazoo"]}, "params.stems.0", "Input should be"),
        ({"stems": []}, "params.stems", "at least 1 item"),
        ({"shifts": 11}, "params.shifts", "less than or equal to 10"),
        ({"overlap": 0.9}, "params.overlap", "less than or equal to 0.75"),
        (
            {"model": "bs_roformer_vocals", "shifts": 2},
            "params.shifts",
            "shifts apply to Demucs models and the classical method",
        ),
        (
            {"model": "ensemble:htdemucs+spleeter"},
            "params.model",
            "the ensemble's model 'spleeter' is unknown or unavailable",
        ),
        (
            {
                "model": "ensemble:htdemucs+classical",
                "ensemble_weights": {"classical": {"piano": 1}},
            },
            "params.ensemble_weights",
            "classical has no piano stem",
        ),
        (
            {"model": "ensemble:htdemucs+htdemucs_ft+classical+bs_roformer_vocals", "shifts": 10},
            "params.shifts",
            "the work of 32 passes of a model; at most 30",
        ),
        (
            {"model": "classical", "format": "mp3", "bit_depth": 24},
            "params",
            "bit_depth does not apply to mp3",
        ),
    ],
)
def test_bad_separation_requests_name_the_field(
    api: httpx.Client, tmp_path: Path, params: dict[str, Any], field: str, message: str
) -> None:
    upload_id = upload(api, write_noise(tmp_path / "in.wav", 0.5)).json()["id"]
    response = api.post("/api/v1/jobs", json=separation_job(upload_id, **params))
    assert response.status_code == 422, response.text
    problem = response.json()["errors"][0]
    assert problem["field"] == field
    assert message in problem["message"]


def test_more_than_two_channels_are_refused(api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "surround.wav"
    sf.write(str(path), np.zeros((44100, 6), dtype=np.float32), 44100)
    upload_id = upload(api, path).json()["id"]
    response = api.post("/api/v1/jobs", json=separation_job(upload_id))
    assert response.status_code == 422
    assert "mono or stereo audio; this upload has 6 channels" in response.json()["detail"]
    missing = api.post("/api/v1/jobs", json=separation_job(str(uuid.uuid4())))
    assert missing.status_code == 422


def downloaded_stems(
    api: httpx.Client, event: dict[str, Any], directory: Path
) -> dict[str, np.ndarray]:
    return {
        a["name"].removesuffix(".wav"): sf.read(
            str(download(api, a, directory / a["name"])), dtype="float32"
        )[0].T
        for a in event["artifacts"]
    }


@pytest.mark.parametrize("model", ["bs_roformer_vocals", "mel_band_roformer_vocals"])
async def test_a_roformer_model_through_the_api_equals_the_reference_inference(
    api: httpx.Client, ws_url: str, tmp_path: Path, platform: Platform, model: str
) -> None:
    rate = 44100
    mix = np.random.default_rng(8).uniform(-0.4, 0.4, (2, int(rate * 3.3))).astype(np.float32)
    sf.write(str(tmp_path / "mix.wav"), mix.T, rate, subtype="FLOAT")
    upload_id = upload(api, tmp_path / "mix.wav").json()["id"]
    job = api.post(
        "/api/v1/jobs", json=separation_job(upload_id, model=model, format="wav", bit_depth=32)
    ).json()
    assert job["params"]["stems"] == ["vocals", "instrumental"], job
    events = await follow(ws_url, job["id"])
    assert events[-1]["type"] == "job.completed", events[-1]
    stems = downloaded_stems(api, events[-1], tmp_path)

    checkpoint = platform.data_dir / "models" / f"{model}.ckpt"
    runner = load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))
    chunk = runner.config.chunk_size
    expected = reference_demix(
        runner, torch.from_numpy(mix), chunk, chunk // runner.config.num_overlap
    ).numpy()
    assert np.abs(stems["vocals"] - expected[0]).max() < 1e-4
    assert np.abs(stems["instrumental"] - expected[1]).max() < 1e-4
    listing = api.get("/api/v1/models").json()["models"]
    info = next(m for m in listing if m["name"] == model)
    assert info["stems"] == ["vocals", "instrumental"]
    assert info["family"] == model.removesuffix("_vocals")


async def test_an_ensemble_through_the_api_is_the_mean_of_its_members(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    upload_id = upload(api, write_noise(tmp_path / "in.wav", 2.0)).json()["id"]
    results = {}
    for model in ("htdemucs", "bs_roformer_vocals", "ensemble:htdemucs+bs_roformer_vocals"):
        body = separation_job(upload_id, model=model, stems=["vocals"], format="wav", bit_depth=32)
        events = await follow(ws_url, api.post("/api/v1/jobs", json=body).json()["id"])
        assert events[-1]["type"] == "job.completed", events[-1]
        folder = tmp_path / model.replace(":", "_")
        folder.mkdir()
        results[model] = downloaded_stems(api, events[-1], folder)["vocals"]
    mean = (results["htdemucs"] + results["bs_roformer_vocals"]) / 2
    assert np.abs(results["ensemble:htdemucs+bs_roformer_vocals"] - mean).max() < 1e-5
