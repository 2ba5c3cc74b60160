"""Songs through the public API: add MIDI and audio over the bus, search, similar songs,
match an upload, download assets, and clear 4xx answers for bad input."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from cadenza.devstack.music import recording, song_midi, write_song_midi
from cadenza.devstack.platform import Platform

pytestmark = pytest.mark.platform

WAIT = {"wait": "60"}


def add_song(
    api: httpx.Client,
    *,
    midi: bytes | None = None,
    audio: Path | None = None,
    params: dict[str, str] | None = None,
    **fields: str,
) -> httpx.Response:
    files: dict[str, Any] = {}
    if midi is not None:
        files["midi"] = ("song.mid", midi, "audio/midi")
    if audio is not None:
        files["audio"] = (audio.name, audio.read_bytes(), "audio/wav")
    return api.post(
        "/api/v1/songs", params=WAIT if params is None else params, files=files, data=fields
    )


def test_a_midi_song_is_added_and_found_by_a_typo(api: httpx.Client) -> None:
    title = f"Lullaby for Clara {uuid.uuid4().hex[:6]}"
    response = add_song(api, midi=song_midi(seed=21, tempo=84), title=title, artist="Robert")
    assert response.status_code == 201, response.text
    body = response.json()
    song = body["song"]
    assert body["created"] is True
    assert body["job"]["status"] == "completed"
    assert song["title"] == title and song["artist"] == "Robert"
    assert song["tempo_bpm"] == pytest.approx(84, abs=0.5)
    assert song["key"] == "C" and song["mode"] == "major"

    found = api.get("/api/v1/songs", params={"q": "lulaby clra"}).json()
    assert song["id"] in [hit["song"]["id"] for hit in found["items"]]
    by_filter = api.get(
        "/api/v1/songs", params={"tempo_min": 80, "tempo_max": 88, "key": "C major"}
    ).json()
    assert song["id"] in [hit["song"]["id"] for hit in by_filter["items"]]
    none = api.get("/api/v1/songs", params={"q": "lulaby clra", "key": "F#"}).json()
    assert song["id"] not in [hit["song"]["id"] for hit in none["items"]]

    assert api.get(f"/api/v1/songs/{song['id']}").json()["id"] == song["id"]
    midi = api.get(f"/api/v1/songs/{song['id']}/assets/midi")
    assert midi.status_code == 200
    assert midi.content == song_midi(seed=21, tempo=84)
    etag = f'"{hashlib.sha256(midi.content).hexdigest()}"'
    assert midi.headers["etag"] == etag
    cached = api.get(midi.url, headers={"If-None-Match": etag})
    assert (cached.status_code, cached.content) == (304, b"")


def test_the_same_file_twice_returns_the_existing_song(api: httpx.Client) -> None:
    data = song_midi(seed=22)
    first = add_song(api, midi=data, title="Once Upon")
    second = add_song(api, midi=data, title="Once Upon Again")
    assert first.status_code == 201 and second.status_code == 200, second.text
    assert second.json()["song"]["id"] == first.json()["song"]["id"]
    assert second.json()["created"] is False


def test_similar_songs_puts_the_transposed_copy_first(api: httpx.Client) -> None:
    original = add_song(api, midi=song_midi(seed=23, tempo=132), title="Theme").json()["song"]
    copy = add_song(
        api, midi=song_midi(seed=23, tempo=132, transpose=-3), title="Theme down a third"
    ).json()["song"]
    for seed, minor, tempo in ((24, True, 60), (25, False, 90), (26, True, 160)):
        add_song(api, midi=song_midi(seed=seed, minor=minor, tempo=tempo, bars=8), title=f"S{seed}")
    similar = api.get(f"/api/v1/songs/{original['id']}/similar", params={"k": 5}).json()
    assert similar["items"][0]["song"]["id"] == copy["id"]
    assert copy["near_duplicate_of"] == original["id"]


def test_an_audio_song_is_recognised_re_encoded_and_trimmed(
    api: httpx.Client, tmp_path: Path
) -> None:
    path = recording(tmp_path / "take.wav", seconds=30, seed=27)
    added = add_song(api, audio=path, title="Field Recording")
    assert added.status_code == 201, added.text
    song = added.json()["song"]
    assert song["duration_s"] == pytest.approx(30, abs=0.05)
    assert song["assets"][0]["name"] == "audio"

    # The middle 12 s, re-encoded as FLAC at another level: not the same file, same recording.
    audio, rate = sf.read(str(path))
    excerpt = audio[int(9 * rate) : int(21 * rate)] * 0.7
    buffer = io.BytesIO()
    sf.write(buffer, excerpt, rate, format="FLAC")
    match = api.post(
        "/api/v1/songs/match", files={"file": ("clip.flac", buffer.getvalue(), "audio/flac")}
    )
    assert match.status_code == 200, match.text
    result = match.json()
    assert result["verdict"] == "same_recording"
    assert result["recording"]["id"] == song["id"]
    assert result["recording_offset_s"] == pytest.approx(9.0, abs=0.1)

    exact = api.post("/api/v1/songs/match", files={"file": ("take.wav", path.read_bytes())})
    assert exact.json()["verdict"] == "exact"
    assert exact.json()["exact"]["id"] == song["id"]

    other = recording(tmp_path / "other.wav", seconds=12, seed=28)
    unrelated = api.post("/api/v1/songs/match", files={"file": ("o.wav", other.read_bytes())})
    assert unrelated.json()["verdict"] != "same_recording"

    (asset,) = song["assets"]
    assert asset["url"] == f"/api/v1/songs/{song['id']}/assets/audio"
    assert "uri" not in asset and "ref" not in asset, "no storage URI leaves the API"
    download = api.get(asset["url"])
    assert hashlib.sha256(download.content).hexdigest() == asset["sha256"]


def test_ingest_without_waiting_is_a_job_with_live_state(api: httpx.Client) -> None:
    response = add_song(api, midi=song_midi(seed=29), params={}, title="Queued")
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["kind"] == "ingest"
    for _ in range(200):
        state = api.get(f"/api/v1/jobs/{job['id']}").json()
        if state["status"] == "completed":
            break
        time.sleep(0.1)
    assert state["status"] == "completed"
    song_id = state["stages"][0]["details"]["song_id"]
    assert api.get(f"/api/v1/songs/{song_id}").status_code == 200
    assert any(a["name"] == "song.mid" for a in state["artifacts"])


@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        ({}, {"title": "x"}, 422, "midi file"),
        ({"midi": ("empty.mid", b"")}, {}, 422, "empty"),
        ({"midi": ("noise.mid", b"RIFF....WAVE")}, {}, 415, "not a standard midi file"),
        ({"midi": ("bad.mid", b"MThd" + bytes(40))}, {}, 422, "midi"),
        ({"audio": ("noise.wav", b"\x00\x01" * 500)}, {}, 415, "refused"),
        ({"midi": ("ok.mid", b"MThd")}, {"title": "t" * 1000}, 422, "title"),
        ({"midi": ("ok.mid", b"MThd")}, {"tags": "ok,<script>"}, 422, "tag"),
        ({"midi": ("ok.mid", b"MThd")}, {"public": "maybe"}, 422, "true or false"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    api: httpx.Client, files: dict[str, Any], data: dict[str, str], status: int, words: str
) -> None:
    response = api.post("/api/v1/songs", params=WAIT, files=files or {"x": ("x", b"1")}, data=data)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"].lower()


def test_unknown_ids_and_bad_queries_are_4xx(api: httpx.Client) -> None:
    unknown = uuid.uuid4()
    for path in (
        f"/api/v1/songs/{unknown}",
        f"/api/v1/songs/{unknown}/similar",
        f"/api/v1/songs/{unknown}/assets/midi",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert str(unknown) in response.json()["detail"]
    # A song id is a UUID: any other text names no resource.
    assert api.get("/api/v1/songs/not-a-uuid").status_code == 404
    assert api.get("/api/v1/songs", params={"key": "H"}).status_code == 422
    assert api.get("/api/v1/songs", params={"tempo_min": 150, "tempo_max": 90}).status_code == 422
    assert api.get("/api/v1/songs", params={"limit": 1000}).status_code == 422


def test_search_pages(api: httpx.Client) -> None:
    tag = f"page{uuid.uuid4().hex[:6]}"
    for seed in range(30, 35):
        add_song(api, midi=song_midi(seed=seed, bars=4), title=f"Paged {seed}", tags=tag)
    first = api.get("/api/v1/songs", params={"tags": tag, "limit": 2}).json()
    # The `next` link is followed as given (it keeps the filters); the last page has none.
    rest = api.get(first["next"]).json()
    assert rest["next_cursor"] and rest["next"]
    last_response = api.get(
        "/api/v1/songs", params={"tags": tag, "limit": 2, "cursor": rest["next_cursor"]}
    )
    last = last_response.json()
    assert first["total"] == 5
    assert last["next"] is None and last["next_cursor"] is None
    assert "link" not in last_response.headers
    ids = [h["song"]["id"] for page in (first, rest, last) for h in page["items"]]
    assert len(ids) == len(set(ids)) == 5
    bad = api.get("/api/v1/songs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.text


def test_bulk_import_is_idempotent(api: httpx.Client, platform: Platform, tmp_path: Path) -> None:
    folder = tmp_path / "import"
    (folder / "nested").mkdir(parents=True)
    write_song_midi(folder / "first_tune.mid", seed=40)
    write_song_midi(folder / "nested" / "second_tune.midi", seed=41, minor=True)
    (folder / "notes.txt").write_text("not music")  # skipped: not a MIDI or audio file
    recording(folder / "take_one.wav", seconds=6, seed=42)
    tag = f"import{uuid.uuid4().hex[:6]}"
    command = [
        sys.executable, "-m", "cadenza.catalog.cli", "import", str(folder),
        "--tags", tag, "--artist", "Importer", "--json",
    ]  # fmt: skip
    env = {**platform.base_env(), "DEFAULT_OWNER": "local"}
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["created"] == 3
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    outcome = json.loads(again.stdout.splitlines()[-1])
    assert (outcome["created"], outcome["existing"], outcome["failed"]) == (0, 3, 0)
    found = api.get("/api/v1/songs", params={"tags": tag}).json()
    assert sorted(hit["song"]["title"] for hit in found["items"]) == [
        "first tune",
        "second tune",
        "take one",
    ]
    assert {hit["song"]["artist"] for hit in found["items"]} == {"Importer"}
