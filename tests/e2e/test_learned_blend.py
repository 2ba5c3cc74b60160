"""The learned engine through the public API, on the seeded catalog: blends of three
chorales, three reels and a mixed trio complete with MIDI, MusicXML, a summary that
says what was made and an audio preview; a seed gives the same piece again; `engine`,
`creativity` and `ensemble` are honoured; bad parameters are refused naming the field."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import music21
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from cadenza.devstack.platform import Platform

from .conftest import wait_for_status

pytestmark = pytest.mark.platform

# Five rounds of the corpus interleave: ten chorales, and Ryan's Mammoth's first reels.
SEED_SONGS = 60


@pytest.fixture(scope="module")
def catalog(platform: Platform) -> dict[str, list[dict[str, Any]]]:
    process = platform.seed_catalog(SEED_SONGS)
    assert process.wait(timeout=300) == 0
    with httpx.Client(base_url=platform.url, timeout=30) as api:

        def tagged(tag: str) -> list[dict[str, Any]]:
            page = api.get("/api/v1/songs", params={"tags": tag, "limit": 50}).json()
            return [hit["song"] for hit in page["items"]]

        found = {tag: tagged(tag) for tag in ("chorale", "reel", "essen")}
    assert len(found["chorale"]) >= 3 and len(found["reel"]) >= 3 and found["essen"]
    return found


def _blend(api: httpx.Client, songs: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    body = {"kind": "blend", "params": {"songs": [s["id"] for s in songs], **params}}
    response = api.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job = wait_for_status(api, response.json()["id"], 180)
    assert job["status"] == "completed", job["error"]
    return job


def _files(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in job["artifacts"]}


def _midi(api: httpx.Client, job: dict[str, Any]) -> pretty_midi.PrettyMIDI:
    data = api.get(_files(job)["blend.mid"]["url"]).content
    return pretty_midi.PrettyMIDI(io.BytesIO(data))


def _preview(api: httpx.Client, job: dict[str, Any]) -> tuple[np.ndarray, int]:
    """The job's preview, decoded: its second stage rendered the piece's first 30 s."""
    assert [s["name"] for s in job["stages"]] == ["blend", "preview"]
    ref = _files(job)["preview.mp3"]
    assert ref["media_type"] == "audio/mpeg" and ref["channels"] == 2
    audio, rate = sf.read(io.BytesIO(api.get(ref["url"]).content))
    return audio, rate


def _summary(api: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = api.get(_files(job)["summary.json"]["url"]).json()
    return summary


@pytest.fixture(scope="module")
def chorale_blend(platform: Platform, catalog: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        return _blend(api, catalog["chorale"][:3], length_bars=16, seed=3)


def test_a_blend_of_three_chorales_is_a_four_voice_chorale(
    api: httpx.Client, chorale_blend: dict[str, Any], tmp_path: Path
) -> None:
    assert {"blend.mid", "blend.musicxml", "summary.json"} <= set(_files(chorale_blend))
    summary = _summary(api, chorale_blend)
    assert summary["engine"] == "learned" and summary["texture"] == "chorale"
    assert summary["style_mix"] == {"chorale": 3}
    assert summary["bars"] == 16 and summary["ensemble"] == "choir"
    assert [s["style"] for s in summary["sources"]] == ["chorale"] * 3
    assert all(s["style_from"] == "tags" for s in summary["sources"])
    midi = _midi(api, chorale_blend)
    voices = [inst for inst in midi.instruments if inst.notes]
    assert len(voices) == 4 and not any(inst.is_drum for inst in voices)
    means = [sum(n.pitch for n in inst.notes) / len(inst.notes) for inst in voices]
    assert means == sorted(means, reverse=True), "soprano over alto over tenor over bass"
    originality = summary["originality"]
    assert originality["passed"] and originality["limit"] == 8
    for kind in ("with_rhythm", "pitches"):
        for against in ("sources", "corpus"):
            assert originality[kind][against].get("notes", 0) <= 8
    cadences = [c for s in summary["sections"] for c in s["cadences"]]
    assert cadences[-1] == "authentic" and summary["measures"]["ends_on_tonic"]
    assert chorale_blend["stages"][0]["details"]["originality"] == originality

    xml = api.get(_files(chorale_blend)["blend.musicxml"]["url"]).content
    score = music21.converter.parseData(xml)
    assert isinstance(score, music21.stream.Score) and len(score.parts) == 4

    # The preview: the whole 16 bars when they last under 30 s, else their first 30 s,
    # and sound all through (a choir, not silence).
    audio, rate = _preview(api, chorale_blend)
    seconds = len(audio) / rate
    assert min(midi.get_end_time(), 30.0) < seconds < min(midi.get_end_time(), 30.0) + 3.5
    heard = np.sqrt(np.mean(audio[: int(min(seconds, 30.0) * rate)] ** 2))
    assert heard > 0.01


def test_a_blend_of_three_reels_keeps_its_metre_and_strains_with_a_band_beneath(
    api: httpx.Client, catalog: dict[str, list[dict[str, Any]]]
) -> None:
    job = _blend(api, catalog["reel"][:3], length_bars=32, seed=5)
    summary = _summary(api, job)
    assert summary["texture"] == "tune" and summary["style_mix"] == {"reel": 3}
    assert summary["time_signature"] in {s["time_signature"] for s in summary["sources"]}
    assert {"voice 1", "chords", "bass"} <= set(summary["instruments"])
    assert summary["measures"]["bass_leaps_over_a_sixth"] == 0
    names = [s["name"] for s in summary["sections"]]
    assert names[0] == "A" and "B" in names
    midi = _midi(api, job)
    tune = next(i for i in midi.instruments if i.name == summary["instruments"]["voice 1"]["name"])
    bass = next(i for i in midi.instruments if i.name == "Bass")
    assert min(n.pitch for n in tune.notes) > max(n.pitch for n in bass.notes)
    # 32 bars of reel last longer than a preview: it stops at 30 s and rings out.
    assert midi.get_end_time() > 30.0
    audio, rate = _preview(api, job)
    assert 30.0 < len(audio) / rate < 33.5


def test_a_mixed_trio_and_the_same_seed_again(
    api: httpx.Client, catalog: dict[str, list[dict[str, Any]]]
) -> None:
    trio = [catalog["chorale"][0], catalog["reel"][0], catalog["essen"][0]]
    first = _blend(api, trio, length_bars=12, seed=9)
    summary = _summary(api, first)
    assert summary["style_mix"] == {"chorale": 1, "reel": 1, "folksong": 1}
    again = _blend(api, trio, length_bars=12, seed=9)
    other = _blend(api, trio, length_bars=12, seed=10)
    sha = {name: _files(job)["blend.mid"]["sha256"] for name, job in
           (("first", first), ("again", again), ("other", other))}  # fmt: skip
    assert sha["first"] == sha["again"] != sha["other"]
    # Its preview too: the piece's first 30 s (all of it when shorter), sounding.
    audio, rate = _preview(api, first)
    heard = min(_midi(api, first).get_end_time(), 30.0)
    assert heard < len(audio) / rate < heard + 3.5
    assert np.sqrt(np.mean(audio**2)) > 0.01


def test_engine_creativity_and_ensemble_are_honoured(
    api: httpx.Client, catalog: dict[str, list[dict[str, Any]]], chorale_blend: dict[str, Any]
) -> None:
    songs = catalog["chorale"][:3]
    markov = _summary(api, _blend(api, songs, length_bars=8, seed=3, engine="markov"))
    assert markov["engine"] == "markov" and "chords" in markov
    wild = _blend(api, songs, length_bars=16, seed=3, creativity=1.0, ensemble="strings")
    summary = _summary(api, wild)
    assert summary["temperature"] == 1.25 and summary["ensemble"] == "strings"
    assert _files(wild)["blend.mid"]["sha256"] != _files(chorale_blend)["blend.mid"]["sha256"]
    programs = {inst.program for inst in _midi(api, wild).instruments if inst.notes}
    assert programs == {40, 41, 42}  # violins, viola, cello


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"engine": "neural"}, "params.engine", "learned"),
        ({"temperature": 5}, "params.temperature", "2"),
        ({"ensemble": "kazoo"}, "params.ensemble", "choir"),
        ({"engine": "learned", "lyrics": "la la"}, "params", 'need engine "markov"'),
        ({"engine": "learned", "style": "rock"}, "params", 'need engine "markov"'),
    ],
)
def test_bad_learned_parameters_are_refused_naming_the_field(
    api: httpx.Client,
    catalog: dict[str, list[dict[str, Any]]],
    params: dict[str, Any],
    field: str,
    words: str,
) -> None:
    songs = [s["id"] for s in catalog["chorale"][:2]]
    response = api.post(
        "/api/v1/jobs", json={"kind": "blend", "params": {"songs": songs, **params}}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(e["field"].startswith(field) and words in e["message"] for e in problem["errors"]), (
        problem
    )
