"""Blend catalog songs, render, master, and the full-song and remix pipelines, through the
public API with the embedded platform's composition and render workers; the catalog is
seeded with a few real pieces of the music21 corpus (Bach chorales, folk tunes)."""

from __future__ import annotations

import io
import math
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import music21
import numpy as np
import pretty_midi
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf

from cadenza.devstack.music import recording
from cadenza.devstack.platform import Platform

from .conftest import download, follow, upload, wait_for_status

pytestmark = pytest.mark.platform

SEED_SONGS = 12  # one round of the corpus interleave: 2 chorales, 8 folk tunes, 1 mass
PIPELINE_ENDINGS = ("project.completed", "project.failed", "error")


@pytest.fixture(scope="module")
def corpus_songs(platform: Platform) -> list[dict[str, Any]]:
    """The seeded songs (seeding is idempotent, so other modules may have seeded too)."""
    process = platform.seed_catalog(SEED_SONGS)
    assert process.wait(timeout=240) == 0
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        listed = {
            tag: [
                hit["song"]
                for hit in api.get("/api/v1/songs", params={"tags": tag, "limit": 50}).json()[
                    "items"
                ]
            ]
            for tag in ("chorale", "folk")
        }
    # Folk collections repeat titles ("Herzog Ernst" three times): pick unambiguous ones.
    titles = [s["title"] for songs in listed.values() for s in songs]
    folk = [s for s in listed["folk"] if titles.count(s["title"]) == 1]
    assert len(listed["chorale"]) >= 2 and len(folk) >= 2
    return [*listed["chorale"][:2], *folk[:2]]


def named(song: dict[str, Any]) -> str:
    return f"{song['title']} - {song['artist']}"


def artifacts(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in job["artifacts"]}


def submit(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def finished(api: httpx.Client, body: dict[str, Any], timeout_s: float = 120) -> dict[str, Any]:
    job = wait_for_status(api, submit(api, body)["id"], timeout_s)
    assert job["status"] == "completed", job["error"]
    return job


def true_peak_db(audio: np.ndarray) -> float:
    """4× oversampled sample peak (BS.1770-4 annex 2's method), in dBTP."""
    upsampled = scipy.signal.resample_poly(audio, 4, 1, axis=0)
    return 20 * math.log10(float(np.max(np.abs(upsampled))))


BLEND = {"length_bars": 16, "tempo": 96, "key": "D major", "seed": 11}


@pytest.fixture(scope="module")
def blend_job(platform: Platform, corpus_songs: list[dict[str, Any]]) -> dict[str, Any]:
    songs = [corpus_songs[0]["id"], named(corpus_songs[1]), corpus_songs[2]["id"]]
    body = {
        "kind": "blend",
        "params": {**BLEND, "songs": songs, "lyrics": "Morning light on the river\nwe sing"},
    }
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        return finished(api, body)


def test_a_blend_of_catalog_songs_respects_key_tempo_length_and_originality(
    api: httpx.Client, blend_job: dict[str, Any], corpus_songs: list[dict[str, Any]], tmp_path: Path
) -> None:
    files = artifacts(blend_job)
    assert {"blend.mid", "blend.musicxml", "summary.json"} <= set(files)
    midi = pretty_midi.PrettyMIDI(str(download(api, files["blend.mid"], tmp_path / "b.mid")))
    _, tempi = midi.get_tempo_changes()
    assert tempi[0] == pytest.approx(96, abs=0.01)
    assert midi.key_signature_changes[0].key_number == 2  # D major
    length = 16 * 4 * 60 / 96
    assert length - 60 / 96 <= midi.get_end_time() <= length + 60 / 96
    roles = {inst.name.lower() for inst in midi.instruments}
    assert any(inst.is_drum for inst in midi.instruments)
    assert len(roles) >= 4, roles  # melody, chords, bass, drums at least
    pitches = [n.pitch % 12 for inst in midi.instruments if not inst.is_drum for n in inst.notes]
    d_major = {2, 4, 6, 7, 9, 11, 1}
    assert sum(p in d_major for p in pitches) / len(pitches) > 0.85
    assert midi.lyrics, "the lyrics are written into the MIDI"

    summary = api.get(files["summary.json"]["url"]).json()
    assert summary["key_name"] == "D major" and summary["bars"] == 16
    assert [s["song_id"] for s in summary["sources"]] == [s["id"] for s in corpus_songs[:3]]
    originality = summary["originality"]
    assert originality["passed"] and originality["longest_shared_run"] <= 8
    assert blend_job["stages"][0]["details"]["originality"] == originality
    assert {s["name"] for s in summary["sections"]} >= {"intro", "verse", "chorus"}

    score = music21.converter.parseData(api.get(files["blend.musicxml"]["url"]).content)
    assert score.analyze("key").tonic.name == "D"
    lyrics = [n.lyric for n in score.recurse().notes if n.lyric]
    assert lyrics and "Morn" in lyrics[0]


def test_the_same_seed_gives_the_same_midi(
    api: httpx.Client, blend_job: dict[str, Any], corpus_songs: list[dict[str, Any]]
) -> None:
    again = finished(
        api,
        {
            "kind": "blend",
            "params": {
                **BLEND,
                "songs": [s["id"] for s in corpus_songs[:3]],
                "lyrics": "Morning light on the river\nwe sing",
            },
        },
    )
    assert artifacts(again)["blend.mid"]["sha256"] == artifacts(blend_job)["blend.mid"]["sha256"]
    other = finished(
        api, {"kind": "blend", "params": {**BLEND, "seed": 12, "songs": blend_job_songs(again)}}
    )
    assert artifacts(other)["blend.mid"]["sha256"] != artifacts(blend_job)["blend.mid"]["sha256"]


def blend_job_songs(job: dict[str, Any]) -> list[str]:
    return [str(song) for song in job["params"]["songs"]]


def test_render_and_master_the_blend(
    api: httpx.Client, blend_job: dict[str, Any], tmp_path: Path
) -> None:
    midi_length = pretty_midi.PrettyMIDI(
        str(download(api, artifacts(blend_job)["blend.mid"], tmp_path / "b.mid"))
    ).get_end_time()
    render = finished(
        api,
        {
            "kind": "render",
            "input": {"job_id": blend_job["id"], "artifact": "blend.mid"},
            "params": {"sample_rate": 44100, "output": {"format": "wav", "bit_depth": 24}},
        },
    )
    files = artifacts(render)
    mix = files["mix.wav"]
    assert mix["sample_rate"] == 44100 and mix["channels"] == 2
    assert midi_length <= mix["duration_s"] <= midi_length + 3.05  # the release tail
    stems = {n for n in files if n not in ("mix.wav", "stems.zip")}
    assert len(stems) >= 4 and "effects.wav" in stems
    with zipfile.ZipFile(io.BytesIO(api.get(files["stems.zip"]["url"]).content)) as archive:
        assert set(archive.namelist()) == stems
    # The dry stems and the reverb return sum to the mix.
    total = sum(sf.read(io.BytesIO(api.get(files[n]["url"]).content))[0] for n in sorted(stems))
    mixed, rate = sf.read(io.BytesIO(api.get(mix["url"]).content))
    assert np.max(np.abs(total - mixed)) < 1e-3
    assert render["stages"][0]["details"]["soundfont"] == "TimGM6mb.sf2"

    mastered = finished(
        api,
        {
            "kind": "master",
            "input": {"job_id": render["id"], "artifact": "mix.wav"},
            "params": {"preset": "apple"},
        },
    )
    details = mastered["stages"][0]["details"]
    assert details["target_lufs"] == -16 and details["true_peak_ceiling_db"] == -1
    audio, rate = sf.read(io.BytesIO(api.get(artifacts(mastered)["mastered.wav"]["url"]).content))
    measured = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert measured == pytest.approx(-16, abs=0.5)
    assert details["lufs"] == pytest.approx(measured, abs=0.1)
    assert true_peak_db(audio) <= -1 + 0.1


def test_the_soundfonts_are_listed_and_an_unknown_one_fails_the_stage(
    api: httpx.Client, blend_job: dict[str, Any]
) -> None:
    deadline = time.monotonic() + 30
    while not (listing := api.get("/api/v1/soundfonts").json())["soundfonts"]:
        assert time.monotonic() < deadline, "no render worker advertised its SoundFonts"
        time.sleep(0.5)
    assert listing["default"] == "TimGM6mb"
    job = wait_for_status(
        api,
        submit(
            api,
            {
                "kind": "render",
                "input": {"job_id": blend_job["id"], "artifact": "blend.mid"},
                "params": {"soundfont": "NoSuchFont"},
            },
        )["id"],
    )
    assert job["status"] == "failed"
    assert "unknown soundfont 'NoSuchFont'" in job["error"]["reason"]
    assert "TimGM6mb" in job["error"]["reason"]


async def test_full_song_pipeline_reports_every_stage_on_the_websocket(
    api: httpx.Client, ws_url: str, corpus_songs: list[dict[str, Any]]
) -> None:
    response = api.post(
        "/api/v1/music/generate/full-song",
        json={
            "songs": [named(s) for s in corpus_songs[1:4]],
            "length_bars": 12,
            "seed": 5,
            "master": {"preset": "streaming"},
        },
    )
    assert response.status_code == 202, response.text
    project = response.json()
    assert [s["name"] for s in project["stages"]] == ["blend", "render", "master"]
    events = await follow(ws_url, str(project["project_id"]), 180, PIPELINE_ENDINGS)
    assert events[-1]["type"] == "project.completed", events[-1]
    started = [e["stage"] for e in events if e["type"] == "stage.started"]
    completed = [e["stage"] for e in events if e["type"] == "stage.completed"]
    progressed = [e["stage"] for e in events if e["type"] == "stage.progress"]
    # A late subscriber's snapshot may already show the first stage running.
    assert started[-2:] == ["render", "master"] and completed == started[-len(completed) :]
    assert completed[-2:] == ["render", "master"]
    assert progressed and set(progressed) <= {"blend", "render", "master"}
    fractions = [e["project_progress"] for e in events if "project_progress" in e]
    assert fractions == sorted(fractions)

    aggregate = api.get(f"/api/v1/music/project/{project['project_id']}/aggregate").json()
    assert aggregate["status"] == "completed" and aggregate["progress"] == 1.0
    assert [s["status"] for s in aggregate["stages"]] == ["completed"] * 3
    assert aggregate["composition"]["bars"] == 12
    assert aggregate["mastering"]["lufs"] == pytest.approx(-14, abs=0.5)
    names = {a["name"] for a in aggregate["artifacts"]}
    assert {"blend-blend.mid", "blend-blend.musicxml", "render-mix.wav", "mastered.wav"} <= names
    status = api.get(f"/api/v1/music/project/{project['project_id']}/status").json()
    assert status["status"] == "completed" and status["current_stage"] is None


async def test_remix_pipeline_separates_processes_mixes_and_masters(
    api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    source = upload(api, recording(tmp_path / "take.wav", seconds=8, seed=41)).json()
    job = submit(
        api,
        {
            "kind": "pipeline",
            "preset": "remix",
            "input": {"upload_id": source["id"]},
            "params": {
                "separation": {"model": "classical"},
                "mix": {"gains_db": {"vocals": 3}},
                "master": {"preset": "broadcast"},
            },
        },
    )
    assert [s["name"] for s in job["stages"]] == ["separation", "effects", "mix", "master"]
    events = await follow(ws_url, job["id"], 180, PIPELINE_ENDINGS)
    assert events[-1]["type"] == "project.completed", events[-1]
    completed = [e["stage"] for e in events if e["type"] == "stage.completed"]
    assert completed[-3:] == ["effects", "mix", "master"]
    done = api.get(f"/api/v1/jobs/{job['id']}").json()
    master = artifacts(done)["mastered.wav"]
    assert master["duration_s"] == pytest.approx(8, abs=0.05)
    assert done["stages"][-1]["details"]["lufs"] == pytest.approx(-23, abs=0.5)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "no catalog song matches 'No Such Song - Nobody'"),
        ("one", "a blend takes 2 to 5 songs; got 1"),
        ("fifty", "a blend takes 2 to 5 songs; got 50"),
        ("twice", "is the same song as entry 0"),
        ("ambiguous", "3 catalog songs are called 'Herzog Ernst - Traditional'"),
    ],
)
def test_bad_blends_are_refused_with_a_reason(
    api: httpx.Client, corpus_songs: list[dict[str, Any]], case: str, message: str
) -> None:
    first = corpus_songs[0]["id"]
    songs = {
        "unknown": [first, "No Such Song - Nobody"],
        "one": [first],
        "fifty": [str(uuid.uuid4()) for _ in range(50)],
        "twice": [first, named(corpus_songs[0])],
        "ambiguous": [first, "Herzog Ernst - Traditional"],
    }[case]
    for path, body in (
        ("/api/v1/jobs", {"kind": "blend", "params": {"songs": songs}}),
        ("/api/v1/generate", {"songs": songs}),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 422, response.text
        assert message in response.text


def test_bad_render_and_master_requests_are_refused(
    api: httpx.Client, blend_job: dict[str, Any], tmp_path: Path
) -> None:
    loud = api.post(
        "/api/v1/jobs",
        json={
            "kind": "master",
            "input": {"job_id": blend_job["id"], "artifact": "blend.mid"},
            "params": {"target_lufs": -3},
        },
    )
    assert loud.status_code == 422 and "target_lufs" in loud.text
    not_audio = api.post(
        "/api/v1/jobs",
        json={"kind": "master", "input": {"job_id": blend_job["id"], "artifact": "blend.mid"}},
    )
    assert not_audio.status_code == 422 and "this job takes audio" in not_audio.text
    not_midi = api.post(
        "/api/v1/jobs",
        json={"kind": "render", "input": {"job_id": blend_job["id"], "artifact": "summary.json"}},
    )
    assert not_midi.status_code == 422 and "this job takes midi" in not_midi.text
    bad_midi = api.post(
        "/api/v1/songs",
        params={"wait": "30"},
        files={"midi": ("broken.mid", b"MThd\x00\x00\x00\x06garbage", "audio/midi")},
        data={"title": "Broken"},
    )
    assert bad_midi.status_code == 422, bad_midi.text
    # The workers keep working after all of that.
    wav = tmp_path / "ok.wav"
    sf.write(wav, 0.1 * np.sin(np.linspace(0, 2000, 44100 * 2)).repeat(2).reshape(-1, 2), 44100)
    ok = finished(api, {"kind": "master", "input": {"upload_id": upload(api, wav).json()["id"]}})
    assert ok["stages"][0]["details"]["lufs"] == pytest.approx(-14, abs=0.5)


def test_pipeline_steps_in_an_order_that_cannot_work_are_refused(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/jobs",
        json={
            "kind": "pipeline",
            "steps": [{"kind": "blend", "params": {"songs": ["a", "b"]}}, {"kind": "master"}],
        },
    )
    assert response.status_code == 422, response.text
