"""Hearing results in the studio (headless Chromium against the whole platform): a blend's
preview plays under a piano roll that draws every note of its MIDI (counted here with
pretty_midi); a MIDI-only catalog song renders a bounded preview and plays it (asked again,
the same job answers); a master shows its loudness and true peak before and after, as the
API reports them, and its level meter moves while it plays. No CSP violation, no script
error."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pretty_midi
import pytest
from playwright.sync_api import Page

from cadenza.devstack.music import song_midi
from cadenza.devstack.testing import write_noise, write_tone

from .conftest import upload
from .studio_fixtures import browser, finished_job, studio
from .studio_page import Studio

pytestmark = pytest.mark.platform

__all__ = ["browser", "studio"]  # fixtures, shared by the studio's test modules


def add_song(api: httpx.Client, title: str, **midi: Any) -> tuple[dict[str, Any], bytes]:
    data = song_midi(**midi)
    response = api.post(
        "/api/v1/songs",
        params={"wait": "60"},
        files={"midi": ("song.mid", data, "audio/midi")},
        data={"title": title, "artist": "Listening Test"},
    )
    assert response.status_code == 201, response.text
    song: dict[str, Any] = response.json()["song"]
    return song, data


def note_counts(midi: bytes) -> list[int]:
    """Notes per part, as pretty_midi reads the file (independently of the page)."""
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    return sorted(len(instrument.notes) for instrument in parsed.instruments if instrument.notes)


def drawn_counts(page: Page, roll: str) -> tuple[int, list[int]]:
    page.wait_for_selector(f"{roll} canvas[data-drawn]", state="attached")
    total = int(page.get_attribute(f"{roll} canvas", "data-notes") or "-1")
    parts = page.eval_on_selector_all(
        f"{roll} .piano-roll-legend li", "items => items.map((li) => Number(li.dataset.notes))"
    )
    return total, sorted(parts)


def roll_ink(page: Page, roll: str) -> float:
    """The share of the roll's pixels painted unlike its background (top-left pixel)."""
    share: float = page.eval_on_selector(
        f"{roll} canvas",
        """canvas => {
             const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
             let painted = 0;
             for (let i = 0; i < data.length; i += 4) {
               if (Math.abs(data[i] - data[0]) + Math.abs(data[i + 1] - data[1])
                   + Math.abs(data[i + 2] - data[2]) > 60) painted += 1;
             }
             return painted / (data.length / 4);
           }""",
    )
    return share


def play(page: Page, audio: str, gesture_on: str) -> dict[str, Any]:
    """Click `gesture_on` (a user gesture, as a listener gives), play `audio`, and wait until
    it has played a second; its state then."""
    page.click(gesture_on)
    page.eval_on_selector(audio, "a => a.play()")
    page.wait_for_function(
        "(s) => { const a = document.querySelector(s); return a.currentTime > 1 && !a.paused; }",
        arg=audio,
    )
    state: dict[str, Any] = page.eval_on_selector(
        audio, "a => ({time: a.currentTime, paused: a.paused, error: a.error && a.error.code})"
    )
    return state


def open_job(studio: Studio, job_id: str) -> Page:
    page = studio.open()
    studio.wait_for_studio()
    page.click(f'#jobs-body tr[data-job-id="{job_id}"] button')
    page.wait_for_selector(f'#job-summary[data-job-id="{job_id}"][data-status="completed"]')
    return page


def test_a_blend_preview_plays_under_a_piano_roll_of_every_note(
    studio: Studio, api: httpx.Client
) -> None:
    suffix = uuid.uuid4().hex[:6]
    first, _ = add_song(api, f"Roll Waltz {suffix}", seed=71, tempo=96, bars=8)
    second, _ = add_song(api, f"Roll Hymn {suffix}", seed=72, tempo=76, bars=8, minor=True)
    job = finished_job(
        api,
        {
            "kind": "blend",
            "params": {"songs": [first["id"], second["id"]], "length_bars": 8},
        },
        timeout_s=240,
    )
    midi = next(a for a in job["artifacts"] if a["name"] == "blend.mid")
    preview = next(a for a in job["artifacts"] if a["name"] == "preview.mp3")
    expected = note_counts(api.get(midi["url"]).content)
    assert sum(expected) > 0

    page = open_job(studio, job["id"])
    roll = 'li.artifact[data-artifact="preview.mp3"] figure.piano-roll'
    total, parts = drawn_counts(page, roll)
    print(f"blend: {total} notes drawn in {len(parts)} parts; pretty_midi: {expected}")
    assert total == sum(expected)
    assert parts == expected
    assert roll_ink(page, roll) > 0.01

    audio = 'li.artifact[data-artifact="preview.mp3"] audio'
    studio.wait_for_audio("preview.mp3")
    state = play(page, audio, f"{roll} .piano-roll-legend")
    assert state["error"] is None and not state["paused"]
    assert page.eval_on_selector(audio, "a => a.duration") == pytest.approx(
        preview["duration_s"], abs=0.2
    )
    # The playhead follows the audio.
    page.wait_for_function(
        """(s) => { const head = document.querySelector(s + " .piano-roll-playhead");
                    return Number(head.dataset.time) > 1 && parseFloat(head.style.left) > 0; }""",
        arg=roll,
    )


def test_a_midi_only_catalog_song_renders_a_bounded_preview_and_plays_it(
    studio: Studio, api: httpx.Client
) -> None:
    song, data = add_song(api, f"Preview Reel {uuid.uuid4().hex[:6]}", seed=73, tempo=120, bars=8)
    assert [asset["name"] for asset in song["assets"]] == ["midi"]
    page = studio.open()
    studio.wait_for_studio()
    page.fill("#catalog-search", song["title"])
    page.click(f'#catalog-results li[data-song-id="{song["id"]}"] button.song-open')
    box = f'#song-detail .song-preview[data-song-id="{song["id"]}"]'
    total, parts = drawn_counts(page, f"{box} figure.piano-roll")
    assert (total, parts) == (sum(note_counts(data)), note_counts(data))

    page.click(f"{box} button.song-preview-start")
    page.wait_for_selector(f'{box}[data-state="ready"]', timeout=180_000)
    state = play(page, f"{box} audio", f"{box} figure.piano-roll")
    assert state["error"] is None and not state["paused"]
    job_id = page.get_attribute(box, "data-job-id")
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["kind"] == "render" and job["input"]["song_id"] == song["id"]
    assert job["params"]["preview_seconds"] == 30 and job["params"]["stems"] is False
    (artifact,) = job["artifacts"]
    assert artifact["name"] == "preview.mp3" and artifact["duration_s"] <= 30.5
    print(f"song preview: job {job_id}, {artifact['duration_s']} s, {artifact['bytes']} bytes")

    # Opened again and asked again: the same job answers (one Idempotency-Key per song).
    page.click(f'#catalog-results li[data-song-id="{song["id"]}"] button.song-open')
    page.click(f"{box} button.song-preview-start")
    page.wait_for_selector(f'{box}[data-state="ready"]')
    assert page.get_attribute(box, "data-job-id") == job_id

    # The render job, opened from the jobs list, shows the song's roll over its preview.
    page.click("#refresh-jobs")
    page.click(f'#jobs-body tr[data-job-id="{job_id}"] button')
    roll = 'li.artifact[data-artifact="preview.mp3"] figure.piano-roll'
    assert drawn_counts(page, roll) == (sum(note_counts(data)), note_counts(data))


def test_a_master_shows_loudness_before_and_after_and_its_meter_moves(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    track = write_noise(tmp_path / "quiet.wav", 6.0, seed=21)
    uploaded = upload(api, track).json()
    job = finished_job(
        api,
        {
            "kind": "master",
            "input": {"upload_id": uploaded["id"]},
            "params": {"preset": "broadcast"},
        },
        timeout_s=120,
    )
    details = job["stages"][0]["details"]
    print(f"master details: {details}")

    page = open_job(studio, job["id"])
    card = 'li.artifact[data-artifact="mastered.wav"]'
    table = f"{card} table.loudness-comparison"
    page.wait_for_selector(table)

    def cell(measure: str, when: str) -> str:
        return page.inner_text(f'{table} tr[data-measure="{measure}"] td[data-when="{when}"]')

    assert cell("lufs", "before") == f"{details['input_lufs']:.1f} LUFS"
    assert cell("lufs", "after") == f"{details['lufs']:.1f} LUFS"
    assert cell("lufs", "target") == f"{details['target_lufs']:.1f} LUFS"
    assert cell("true-peak", "before") == f"{details['input_true_peak_db']:.1f} dBTP"
    assert cell("true-peak", "after") == f"{details['true_peak_db']:.1f} dBTP"

    audio = f"{card} audio"
    studio.wait_for_audio("mastered.wav")
    meter = f"{card} .level-meter"
    assert page.get_attribute(meter, "data-updates") == "0"
    state = play(page, audio, table)
    assert state["error"] is None
    page.wait_for_function(
        "(s) => Number(document.querySelector(s).dataset.updates) > 20", arg=meter
    )
    seen = set()
    for _ in range(10):
        seen.add(page.get_attribute(meter, "data-peak-db"))
        page.wait_for_timeout(100)
    loudest = float(page.get_attribute(meter, "data-max-peak-db") or "-60")
    print(f"meter: {len(seen)} distinct peaks in 1 s, loudest {loudest} dBFS")
    assert len(seen) >= 3, f"the meter did not move: {seen}"
    # Full-scale noise mastered to −23 LUFS peaks far above the meter's −60 dB floor.
    assert -40 < loudest <= 0.5
    # On a phone the figures and the meter stay inside the card.
    page.set_viewport_size({"width": 360, "height": 800})
    widths = page.eval_on_selector(card, "c => ({scroll: c.scrollWidth, client: c.clientWidth})")
    assert widths["scroll"] <= widths["client"], widths


def test_a_full_song_blend_shows_its_roll_over_the_master_with_its_loudness(
    studio: Studio, api: httpx.Client
) -> None:
    suffix = uuid.uuid4().hex[:6]
    first, _ = add_song(api, f"Full Air {suffix}", seed=74, tempo=100, bars=4)
    second, _ = add_song(api, f"Full Jig {suffix}", seed=75, tempo=116, bars=4)
    job = finished_job(
        api,
        {
            "kind": "pipeline",
            "preset": "full-song",
            "params": {"songs": [first["id"], second["id"]], "length_bars": 4},
        },
        timeout_s=300,
    )
    midi = next(a for a in job["artifacts"] if a["name"].endswith(".mid"))
    mastered = next(a for a in job["artifacts"] if a["name"].startswith("mastered."))
    expected = note_counts(api.get(midi["url"]).content)
    details = next(s for s in job["stages"] if s["name"].startswith("master"))["details"]
    print(f"full song: {[a['name'] for a in job['artifacts']]}, notes {expected}")

    page = open_job(studio, job["id"])
    card = f'li.artifact[data-artifact="{mastered["name"]}"]'
    assert drawn_counts(page, f"{card} figure.piano-roll") == (sum(expected), expected)
    before = page.inner_text(f'{card} tr[data-measure="true-peak"] td[data-when="before"]')
    assert before == f"{details['input_true_peak_db']:.1f} dBTP"
    studio.wait_for_audio(mastered["name"])
    state = play(page, f"{card} audio", f"{card} figure.piano-roll .piano-roll-legend")
    assert state["error"] is None and not state["paused"]
    page.wait_for_function(
        "(s) => Number(document.querySelector(s).dataset.updates) > 5", arg=f"{card} .level-meter"
    )


def test_a_song_with_midi_and_audio_plays_its_audio_under_its_roll(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    data = song_midi(seed=76, tempo=100, bars=4)
    tone = write_tone(tmp_path / "take.wav", 6.0)
    with tone.open("rb") as audio:
        response = api.post(
            "/api/v1/songs",
            params={"wait": "60"},
            files={
                "midi": ("song.mid", data, "audio/midi"),
                "audio": ("take.wav", audio, "audio/wav"),
            },
            data={"title": f"Both Ways {uuid.uuid4().hex[:6]}", "artist": "Listening Test"},
        )
    assert response.status_code == 201, response.text
    song = response.json()["song"]
    assert sorted(asset["name"] for asset in song["assets"]) == ["audio", "midi"]
    page = studio.open()
    studio.wait_for_studio()
    page.fill("#catalog-search", song["title"])
    page.click(f'#catalog-results li[data-song-id="{song["id"]}"] button.song-open')
    box = f'#song-detail .song-preview[data-song-id="{song["id"]}"]'
    assert drawn_counts(page, f"{box} figure.piano-roll") == (
        sum(note_counts(data)),
        note_counts(data),
    )
    assert page.is_hidden(f"{box} button.song-preview-start"), "nothing to render"
    state = play(page, f"{box} audio", f"{box} figure.piano-roll .piano-roll-legend")
    assert state["error"] is None and not state["paused"]
    assert page.eval_on_selector(f"{box} audio", "a => a.duration") == pytest.approx(6.0, abs=0.1)
