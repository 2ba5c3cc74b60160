"""Class 3: amplification and quotas. What a few bytes can make the platform write is
bounded before the work starts: a job's estimated output against its budget and the
account's storage quota, a MIDI's rendered stems against the job's limit at the worker; a
refused request leaves nothing in storage; /auth/me says where the account stands."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import mido
import numpy as np
import soundfile as sf

from cadenza.devstack.abuse import (
    Account,
    effects_job,
    finished_job,
    storage_bytes,
    upload_file,
)
from cadenza.devstack.platform import Platform

from .conftest import STORAGE_QUOTA_BYTES

MB = 1 << 20


def _silence(path: Path, seconds: int) -> Path:
    """Two minutes of digital silence as FLAC: a few KB, 10 million samples."""
    with sf.SoundFile(str(path), "w", 44_100, 2, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(np.zeros((44_100, 2), dtype=np.float32))
    return path


def _many_tracks(path: Path, tracks: int, seconds: float) -> Path:
    """A tiny MIDI file: `tracks` parts, each one note held to the end."""
    midi = mido.MidiFile(ticks_per_beat=480)
    ticks = int(seconds * 2 * 480)  # 120 BPM
    for track in range(tracks):
        channel = track % 16 if track % 16 != 9 else 0
        midi.tracks.append(
            mido.MidiTrack(
                [
                    mido.MetaMessage("track_name", name=f"part {track}", time=0),
                    mido.Message("program_change", program=track % 100, channel=channel),
                    mido.Message("note_on", note=48 + track % 40, velocity=80, channel=channel),
                    mido.Message("note_off", note=48 + track % 40, channel=channel, time=ticks),
                ]
            )
        )
    midi.save(str(path))
    return path


def test_amplification_is_bounded_by_budgets_and_quotas(
    platform: Platform, api: httpx.Client, attacker: Account, tmp_path: Path
) -> None:
    silence = _silence(tmp_path / "silence.flac", 110)
    assert silence.stat().st_size < 200_000
    upload = upload_file(api, attacker, silence)
    assert upload.status_code == 201, upload.text
    upload_id = upload.json()["id"]
    # 32-bit float WAV of it: 38.8 MB from a few KB. It fits the 64 MB quota once…
    first = effects_job(api, attacker, upload_id, [{"type": "gain"}], bit_depth=32)
    assert first.status_code == 202, first.text
    # …and a second one, while the first holds its reservation, does not.
    second = effects_job(api, attacker, upload_id, [{"type": "gain"}], bit_depth=32)
    assert second.status_code == 403, second.text
    assert "storage quota" in second.json()["detail"]
    assert finished_job(api, attacker, first.json()["id"])["status"] == "completed"
    for _ in range(100):  # the WebSocket's view may run ahead of the recorded one
        me = api.get("/api/v1/auth/me", headers=attacker.headers).json()
        if me["storage"]["reserved_bytes"] == 0:
            break
        time.sleep(0.05)
    on_disk = storage_bytes(platform.storage_dir, attacker.user_id)
    assert me["storage"]["stored_bytes"] == on_disk <= STORAGE_QUOTA_BYTES
    assert me["storage"]["reserved_bytes"] == 0
    third = effects_job(api, attacker, upload_id, [{"type": "gain"}], bit_depth=32)
    assert third.status_code == 403, "what was written now counts"
    assert storage_bytes(platform.storage_dir, attacker.user_id) == on_disk


def test_a_tiny_midi_cannot_render_gigabytes_of_stems(
    platform: Platform, api: httpx.Client, attacker: Account, tmp_path: Path
) -> None:
    midi = _many_tracks(tmp_path / "wide.mid", tracks=60, seconds=240)
    assert midi.stat().st_size < 5_000
    song = api.post(
        "/api/v1/songs",
        params={"wait": "60"},
        files={"midi": ("wide.mid", midi.read_bytes(), "audio/midi")},
        data={"title": "sixty parts"},
        headers=attacker.headers,
    )
    assert song.status_code == 201, song.text
    before = storage_bytes(platform.storage_dir, attacker.user_id)
    render = api.post(
        "/api/v1/jobs",
        json={
            "kind": "render",
            "input": {"song_id": song.json()["song"]["id"]},
            "params": {"stems": True, "output": {"format": "wav", "bit_depth": 32}},
        },
        headers=attacker.headers,
    )
    # 60 stems of 4 minutes in 32-bit float: refused before any synthesis.
    assert render.status_code in (403, 422), render.text
    assert "params.output" in render.text or "storage quota" in render.text
    assert storage_bytes(platform.storage_dir, attacker.user_id) == before


def test_a_refused_song_leaves_nothing_in_storage(
    platform: Platform, api: httpx.Client, attacker: Account, tmp_path: Path
) -> None:
    from cadenza.devstack.music import song_midi

    before = storage_bytes(platform.storage_dir, attacker.user_id)
    not_audio = api.post(
        "/api/v1/songs",
        files={
            "midi": ("ok.mid", song_midi(seed=41), "audio/midi"),
            "audio": ("noise.wav", b"RIFF" + bytes(60_000), "audio/wav"),
        },
        data={"title": "half good"},
        headers=attacker.headers,
    )
    assert not_audio.status_code == 415, not_audio.text
    bad_midi = api.post(
        "/api/v1/songs",
        params={"wait": "60"},
        files={"midi": ("cut.mid", song_midi(seed=42)[:200], "audio/midi")},
        data={"title": "damaged"},
        headers=attacker.headers,
    )
    assert bad_midi.status_code == 422, bad_midi.text
    assert storage_bytes(platform.storage_dir, attacker.user_id) == before
