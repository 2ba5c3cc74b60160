"""Class 9: bad input is reported as bad input. NUL characters in titles, tags and job
fields are a 422 naming the field; NaN samples and an encoder that cannot hold the audio are
refused before any job runs; a job that fails on its input fails once, not five times over
minutes; no answer or event holds a server path or a storage URI."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from cadenza.devstack.abuse import Account, effects_job, finished_job, upload_file
from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

SERVER_PATH = re.compile(r"file://|/tmp/|/var/|/home/|/work/|Traceback")


def test_bad_input_gets_a_sentence_not_an_outage(
    platform: Platform, api: httpx.Client, attacker: Account, tmp_path: Path
) -> None:
    headers = attacker.headers
    song = api.post(
        "/api/v1/songs",
        files={"midi": ("t.mid", song_midi(seed=91), "audio/midi")},
        data={"title": "Nul\x00title", "tags": "fine,bad\x00tag"},
        headers=headers,
    )
    assert song.status_code == 422 and song.json()["errors"][0]["field"] == "title"
    search = api.get("/api/v1/songs", params={"q": "x\x00"}, headers=headers)
    assert search.status_code == 422 and search.json()["errors"][0]["field"] == "q"
    lyrics = api.post(
        "/api/v1/jobs",
        json={"kind": "blend", "songs": ["a", "b"], "params": {"lyrics": "la\u0000la"}},
        headers=headers,
    )
    assert lyrics.status_code == 422, lyrics.text
    assert lyrics.json()["errors"][0]["field"].endswith("lyrics")

    nan = tone = write_tone(tmp_path / "nan.wav", 1.0, subtype="FLOAT")
    data, rate = sf.read(str(nan), dtype="float32")
    data[100, 0] = np.nan
    sf.write(str(nan), data, rate, subtype="FLOAT")
    refused = upload_file(api, attacker, nan)
    assert refused.status_code == 415 and "NaN" in refused.json()["detail"]

    wide = write_tone(tmp_path / "wide.wav", 0.5, sample_rate=384_000)
    upload = upload_file(api, attacker, wide).json()
    ogg = effects_job(api, attacker, upload["id"], [{"type": "gain"}], format="ogg")
    assert ogg.status_code == 422, ogg.text
    assert "at most 200000 Hz" in ogg.json()["errors"][0]["message"]

    tone = write_tone(tmp_path / "tone.wav", 1.0, amplitude=0.0)
    silent = upload_file(api, attacker, tone).json()
    master = api.post(
        "/api/v1/jobs",
        json={"kind": "master", "input": {"upload_id": silent["id"]}},
        headers=headers,
    )
    job = finished_job(api, attacker, master.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
    events = api.get(f"/api/v1/jobs/{job['id']}/events", headers=headers).json()["events"]
    attempts = [e["event"].get("attempts") for e in events if e["subject"].endswith("failed")]
    assert attempts == [1], "a permanent failure is not retried"
    for answer in (job, events, upload):
        assert not SERVER_PATH.search(str(answer)), answer
