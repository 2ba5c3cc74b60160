"""The studio's stem mixer in headless Chromium against the whole platform: a separation's
stems play in one transport; the mix it saves ("download this mix", rendered offline by the
same graph that plays) is the stems added up at their gains within 1e-3; solo and mute change
what is heard; play, pause and seek move the playhead with every stem started at one context
time from one offset; one key switches to the original at the same place; keyboard only, no
CSP violation or script error, and nothing wider than a 360 px screen."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page, Request

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise
from cadenza.gateway.db import create_pool
from cadenza.gateway.projection import Projection
from cadenza.runtime.storage.local import LocalObjectStore

from .conftest import upload
from .studio_fixtures import (
    browser,
    finished_job,
    finished_separation,
    gateway_requiring_accounts,
    new_account,
    sign_in,
    studio,
    studio_page,
)
from .studio_page import Studio

__all__ = ["browser", "gateway_requiring_accounts", "studio"]  # fixtures, shared

pytestmark = pytest.mark.platform

MIXER = "#mixer"
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def separation(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished classical separation of 4 s of stereo noise into its four stems, and the
    stems as the API serves them (float64 arrays, frames × channels)."""
    folder = tmp_path_factory.mktemp("mixer")
    track = write_noise(folder / "song.wav", 4.0, seed=20)
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        job = finished_separation(api, track)
        stems = {}
        for artifact in job["artifacts"]:
            if artifact["name"].endswith(".wav"):
                data, rate = sf.read(io.BytesIO(api.get(artifact["url"]).content), always_2d=True)
                stems[artifact["name"].removesuffix(".wav")] = data
        assert rate == 44100
    assert len(stems) >= 3, stems.keys()
    return {"job": job, "stems": stems, "track": track}


def open_mixer(studio: Studio, job_id: str) -> Page:
    page = studio.open()
    studio.wait_for_studio()
    page.click(f'#jobs-body tr[data-job-id="{job_id}"] button')
    page.wait_for_selector(f'{MIXER}[data-state="ready"]')
    return page


def set_volume(page: Page, stem: str, percent: int) -> None:
    page.eval_on_selector(
        f'{MIXER} li[data-stem="{stem}"] input[type="range"]',
        """(slider, percent) => {
             slider.value = String(percent);
             slider.dispatchEvent(new Event("input", {bubbles: true}));
           }""",
        percent,
    )


def press(page: Page, stem: str, role: str) -> None:
    page.click(f'{MIXER} li[data-stem="{stem}"] button[data-role="{role}"]')


def saved_mix(studio: Studio) -> np.ndarray:
    """Click "Download this mix"; the WAV it saves (frames × channels, float64)."""
    with studio.page.expect_download() as started:
        studio.page.click(f"{MIXER} button.mixer-download")
    download = started.value
    assert download.suggested_filename.startswith("mix-")
    data, rate = sf.read(str(download.path()), always_2d=True)
    assert rate == 44100
    return np.asarray(data)


def expected(stems: dict[str, np.ndarray], gains: dict[str, float]) -> np.ndarray:
    frames = max(len(s) for s in stems.values())
    channels = max(s.shape[1] for s in stems.values())
    total = np.zeros((frames, channels))
    for name, gain in gains.items():
        stem = stems[name]
        total[: len(stem)] += gain * (stem if stem.shape[1] == channels else stem[:, :1])
    return total


def assert_close(mix: np.ndarray, wanted: np.ndarray) -> float:
    assert mix.shape == wanted.shape
    difference = float(np.max(np.abs(mix - wanted)))
    assert difference <= TOLERANCE, difference
    return difference


def mixer_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        """async () => {
             const { currentMixer } = await import("/static/js/stem-mixer.js");
             const transport = currentMixer().transport;
             return {
               playing: transport.playing,
               position: transport.currentTime(),
               listening: transport.listening,
               buses: transport.busGains(),
               scheduled: transport.scheduled,
               contextTime: transport.context ? transport.context.currentTime : null,
             };
           }"""
    )
    return state


def test_the_saved_mix_is_the_stems_at_their_gains_and_solo_and_mute_change_it(
    studio: Studio, separation: dict[str, Any]
) -> None:
    stems: dict[str, np.ndarray] = separation["stems"]
    names = sorted(stems)
    counted = fetches(studio.page)
    page = open_mixer(studio, separation["job"]["id"])
    shown = page.eval_on_selector_all(
        f"{MIXER} li.mixer-stem", "rows => rows.map(r => r.dataset.stem)"
    )
    assert shown == names
    # Each stem fetched once, for its waveform in the results and for the mixer alike.
    studio.wait_for_waveform(f"{names[0]}.wav")
    fetched = artifacts_fetched(counted, separation["job"]["id"])
    assert fetched == {f"{name}.wav": 1 for name in names}, fetched

    # All at 100 %: the stems added up.
    assert_close(saved_mix(studio), expected(stems, dict.fromkeys(names, 1.0)))

    # Volumes: one from the keyboard (End: the slider's top, 150 %), the others set.
    first, second, third = names[:3]
    page.focus(f'{MIXER} li[data-stem="{first}"] input[type="range"]')
    page.keyboard.press("End")
    set_volume(page, second, 40)
    set_volume(page, third, 0)
    gains = dict.fromkeys(names, 1.0) | {first: 1.5, second: 0.4, third: 0.0}
    difference = assert_close(saved_mix(studio), expected(stems, gains))
    print(f"mix at gains {gains}: max |difference| {difference:.2e}")
    text = page.inner_text(f'{MIXER} li[data-stem="{first}"] output')
    assert text == "150 % (+3.5 dB)"

    # Mute: that stem is gone from the mix, and its row says it is not heard.
    press(page, second, "mute")
    assert (
        page.get_attribute(
            f'{MIXER} li[data-stem="{second}"] button[data-role="mute"]', "aria-pressed"
        )
        == "true"
    )
    assert page.get_attribute(f'{MIXER} li[data-stem="{second}"]', "data-heard") == "false"
    assert_close(saved_mix(studio), expected(stems, gains | {second: 0.0}))

    # Solo: only the soloed stem, at its volume; a second solo adds it; mute still wins.
    press(page, first, "solo")
    assert_close(saved_mix(studio), expected(stems, {first: 1.5}))
    press(page, second, "solo")  # soloed but muted: still silent
    assert_close(saved_mix(studio), expected(stems, {first: 1.5}))
    press(page, second, "mute")
    assert_close(saved_mix(studio), expected(stems, {first: 1.5, second: 0.4}))
    press(page, first, "solo")
    press(page, second, "solo")
    assert_close(saved_mix(studio), expected(stems, gains))


def test_play_pause_seek_share_one_start_and_a_switches_to_the_original(
    studio: Studio, separation: dict[str, Any]
) -> None:
    stems: dict[str, np.ndarray] = separation["stems"]
    page = open_mixer(studio, separation["job"]["id"])
    assert mixer_state(page)["position"] == 0

    # From the job's title, Tab reaches the transport (with a visible focus); Enter plays.
    studio.tab_to(f"{MIXER} button.mixer-play", limit=20)
    page.keyboard.press("Enter")
    page.wait_for_function("() => Number(document.querySelector('#mixer').dataset.position) > 0.3")
    state = mixer_state(page)
    assert state["playing"] and page.inner_text(f"{MIXER} button.mixer-play") == "Pause"
    started = state["scheduled"]["started"]
    # Every stem and the original, each started at the same context time from the same offset.
    assert sorted(s["name"] for s in started) == sorted([*stems, "original"])
    assert {(s["when"], s["offset"]) for s in started} == {(state["scheduled"]["when"], 0)}
    playhead = float(
        page.evaluate(
            "() => getComputedStyle(document.querySelector('.mixer-timeline'))"
            ".getPropertyValue('--mixer-at')"
        )
    )
    assert playhead > 0

    # Pause holds the position; the playhead stays.
    page.click(f"{MIXER} button.mixer-play")
    held = mixer_state(page)["position"]
    time.sleep(0.3)
    assert not mixer_state(page)["playing"]
    assert mixer_state(page)["position"] == held
    assert 0.3 < held < 4.0

    # Seek from the keyboard (the position slider): all sources restart there, together.
    page.focus("#mixer-position")
    page.keyboard.press("Home")
    assert mixer_state(page)["position"] == 0
    page.keyboard.press("ArrowRight")  # an eighth of this 4 s song per press
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    assert mixer_state(page)["position"] == pytest.approx(0.5)
    assert page.get_attribute("#mixer-position", "aria-valuetext") == "0:01 / 0:04"
    page.eval_on_selector(
        "#mixer-position",
        "s => { s.value = '2'; s.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    assert mixer_state(page)["position"] == pytest.approx(2.0)
    page.keyboard.press("Space")  # Space in the mixer plays
    page.wait_for_function("() => Number(document.querySelector('#mixer').dataset.position) > 2.2")
    state = mixer_state(page)
    assert {(s["when"], s["offset"]) for s in state["scheduled"]["started"]} == {
        (state["scheduled"]["when"], 2.0)
    }
    assert len(state["scheduled"]["started"]) == len(stems) + 1

    # A: the original, at the same place (the buses swap; nothing restarts).
    before = mixer_state(page)
    page.keyboard.press("a")
    page.wait_for_function(
        "() => document.querySelector('#mixer').dataset.listening === 'original'"
    )
    time.sleep(0.1)  # the 5 ms glide
    after = mixer_state(page)
    assert after["scheduled"] == before["scheduled"], "switching did not restart anything"
    assert after["position"] >= before["position"]
    assert after["buses"]["original"] == pytest.approx(1, abs=1e-3)
    assert after["buses"]["mix"] == pytest.approx(0, abs=1e-3)
    assert page.get_attribute(f"{MIXER} button.mixer-ab", "aria-pressed") == "true"
    page.keyboard.press("a")
    page.wait_for_function("() => document.querySelector('#mixer').dataset.listening === 'mix'")
    time.sleep(0.1)
    assert mixer_state(page)["buses"]["mix"] == pytest.approx(1, abs=1e-3)

    # To the end: the transport stops by itself at the song's length.
    page.keyboard.press("Space")
    assert not mixer_state(page)["playing"]
    page.eval_on_selector(
        "#mixer-position",
        "s => { s.value = '3.8'; s.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('#mixer').dataset.playing === 'false'")
    assert mixer_state(page)["position"] == pytest.approx(4.0, abs=0.01)


def test_the_mixer_fits_a_360_px_screen(
    browser: Browser, platform: Platform, separation: dict[str, Any]
) -> None:
    with studio_page(browser, platform.url, width=360) as studio:
        page = open_mixer(studio, separation["job"]["id"])
        widths = page.eval_on_selector(
            MIXER,
            """mixer => ({
                 scroll: mixer.scrollWidth, client: mixer.clientWidth,
                 right: Math.max(...[mixer, ...mixer.querySelectorAll("*")]
                   .filter((e) => !e.classList.contains("visually-hidden"))
                   .map((e) => e.getBoundingClientRect().right)),
               })""",
        )
        assert widths["scroll"] <= widths["client"], widths
        assert widths["right"] <= 360, widths
        page.click(f"{MIXER} button.mixer-play")
        page.wait_for_function(
            "() => Number(document.querySelector('#mixer').dataset.position) > 0.1"
        )


def test_a_renders_stems_at_unity_give_back_its_mix_which_is_the_original(
    studio: Studio, platform: Platform
) -> None:
    """A render with stems: the mixer's original is the render's own mix.wav, and the stems
    (dry tracks and the reverb return) at 100 % sum to it."""
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        songs = []
        for seed in (71, 72):
            created = api.post(
                "/api/v1/songs",
                params={"wait": "60"},
                files={"midi": ("song.mid", song_midi(seed=seed, bars=8), "audio/midi")},
                data={"title": f"Mixer Song {seed}", "artist": "Mixer Test"},
            )
            assert created.status_code in (200, 201), created.text
            songs.append(created.json()["song"]["id"])
        blend = finished_job(
            api,
            {"kind": "blend", "params": {"songs": songs, "length_bars": 4, "engine": "markov"}},
        )
        render = finished_job(
            api,
            {
                "kind": "render",
                "input": {"job_id": blend["id"], "artifact": "blend.mid"},
                "params": {"sample_rate": 44100, "stems": True},
            },
        )
        files = {a["name"]: a for a in render["artifacts"]}
        stems = sorted(n for n in files if n.endswith(".wav") and n != "mix.wav")
        assert len(stems) >= 2, files.keys()
        mix, _ = sf.read(io.BytesIO(api.get(files["mix.wav"]["url"]).content), always_2d=True)

    page = open_mixer(studio, render["id"])
    shown = page.eval_on_selector_all(
        f"{MIXER} li.mixer-stem", "rows => rows.map(r => r.dataset.stem)"
    )
    assert shown == sorted((name.removesuffix(".wav") for name in stems), key=str.casefold)
    assert page.get_attribute(f"{MIXER} button.mixer-ab", "data-original") == "mix.wav"
    saved = saved_mix(studio)
    frames = min(len(saved), len(mix))
    assert abs(len(saved) - len(mix)) <= 1
    difference = float(np.max(np.abs(saved[:frames] - mix[:frames])))
    print(f"render: {len(stems)} stems at 100 % vs mix.wav: max |difference| {difference:.2e}")
    assert difference <= TOLERANCE


def test_signed_in_the_stems_and_the_original_are_fetched_with_the_token(
    browser: Browser, gateway_requiring_accounts: str, tmp_path: Path
) -> None:
    base = gateway_requiring_accounts
    password = "a long pass phrase for the mixer"
    email = new_account(base, "mixer", password)
    with httpx.Client(base_url=base, timeout=60) as api:
        pair = api.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
        api.headers["Authorization"] = f"Bearer {pair['access_token']}"
        track = write_noise(tmp_path / "signed-in.wav", 2.0, seed=21)
        job = finished_separation(api, track, stems=["bass", "drums"])
        stems = {
            a["name"].removesuffix(".wav"): sf.read(
                io.BytesIO(api.get(a["url"]).content), always_2d=True
            )[0]
            for a in job["artifacts"]
        }
        upload_id = job["input"]["upload_id"]
        assert api.get(f"/api/v1/uploads/{upload_id}/content").content == track.read_bytes()
    assert sorted(stems) == ["bass", "drums"]

    with studio_page(browser, base) as studio:
        counted = fetches(studio.page)
        page = sign_in(studio, email, password)
        page.click(f'#jobs-body tr[data-job-id="{job["id"]}"] button')
        page.wait_for_selector(f'{MIXER}[data-state="ready"]')
        # Each stem fetched once, with the token, for its player and the mixer alike.
        assert artifacts_fetched(counted, job["id"]) == {"bass.wav": 1, "drums.wav": 1}
        # The original came through GET /uploads/{id}/content with the token: A/B is offered.
        assert page.is_enabled(f"{MIXER} button.mixer-ab")
        assert "No original" not in page.inner_text("#mixer-status")
        set_volume(page, "drums", 25)
        assert_close(saved_mix(studio), expected(stems, {"bass": 1.0, "drums": 0.25}))
        # Signing out hides the studio, and the mixer stops playing.
        page.click(f"{MIXER} button.mixer-play")
        page.wait_for_function("() => document.querySelector('#mixer').dataset.playing === 'true'")
        page.click("#sign-out")
        page.wait_for_selector("#sign-in:not([hidden])")
        page.wait_for_function("() => document.querySelector('#mixer').dataset.playing === 'false'")


def wav(name: str) -> dict[str, Any]:
    return {"name": name, "media_type": "audio/wav", "url": f"/files/{name}", "bytes": 1}


STEMS_OF = """async (job) => {
  const { stemsOf } = await import("/static/js/stem-mixer.js");
  const found = stemsOf(job);
  return found && {
    stems: found.stems.map((s) => [s.label, s.artifact.name]),
    original: found.original && found.original.url,
  };
}"""


@pytest.mark.parametrize(
    ("job", "wanted"),
    [
        pytest.param(
            {
                "stages": [{"name": n} for n in ("separation", "effects", "mix", "master")],
                "input": {"upload_id": "u1"},
                "artifacts": [
                    *(wav(f"separation-{s}.wav") for s in ("vocals", "drums", "bass", "other")),
                    wav("effects-drums.wav"),
                    wav("effects-vocals.wav"),
                    wav("mix-mix.wav"),
                    wav("mastered.wav"),
                ],
            },
            {
                "stems": [[s, f"separation-{s}.wav"] for s in ("bass", "drums", "other", "vocals")],
                "original": "/api/v1/uploads/u1/content",
            },
            id="remix: the stage with most stems, the upload as the original",
        ),
        pytest.param(
            {
                "stages": [{"name": "separation"}, {"name": "effects"}],
                "input": {"upload_id": "u2"},
                "artifacts": [
                    *(wav(f"{stage}-{s}.wav") for stage in ("separation", "effects") for s in "ab")
                ],
            },
            {
                "stems": [["a", "effects-a.wav"], ["b", "effects-b.wav"]],
                "original": "/api/v1/uploads/u2/content",
            },
            id="a tie: the later stage",
        ),
        pytest.param(
            {
                "stages": [{"name": "render"}],
                "input": {"job_id": "j", "artifact": "blend.mid"},
                "artifacts": [
                    wav("mix.wav"),
                    wav("Piano.wav"),
                    wav("Bass.wav"),
                    {"name": "stems.zip", "media_type": "application/zip", "url": "/z", "bytes": 1},
                ],
            },
            {"stems": [["Bass", "Bass.wav"], ["Piano", "Piano.wav"]], "original": "/files/mix.wav"},
            id="render with stems: its mix as the original",
        ),
        pytest.param(
            {"stages": [{"name": "effects"}], "input": {}, "artifacts": [wav("processed.wav")]},
            None,
            id="one file: no mixer",
        ),
        pytest.param(
            {
                "stages": [{"name": "blend"}, {"name": "preview"}],
                "input": {},
                "artifacts": [
                    {"name": "preview.mp3", "media_type": "audio/mpeg", "url": "/p", "bytes": 1},
                    {"name": "blend.mid", "media_type": "audio/midi", "url": "/m", "bytes": 1},
                ],
            },
            None,
            id="a blend's preview: no mixer",
        ),
    ],
)
def test_which_files_are_stems_and_what_the_original_is(
    studio: Studio, job: dict[str, Any], wanted: dict[str, Any] | None
) -> None:
    studio.open()
    studio.wait_for_studio()
    assert studio.page.evaluate(STEMS_OF, job) == wanted


# The mixer's bounds (js/stem-mixer.js): MAX_STEMS and MAX_DECODED_BYTES.
MAX_STEMS = 32
MAX_DECODED_BYTES = 512 * 1024 * 1024
# Declared above the studio's waveform limit (artifacts.js, 64 MiB), so that without a
# session the result list only streams a stem into its <audio> ("media" requests) and every
# fetch() of it is the mixer's.
PAST_THE_WAVEFORM_LIMIT = 100 * 1024 * 1024


def projected_job(
    platform: Platform, owner: str, upload_id: str, outputs: dict[str, ArtifactRef]
) -> str:
    """A finished effects job with these outputs, put straight into the platform's jobs
    projection (the events the workers would send, applied as its gateway would), so that an
    artifact's declared size and duration are what the test says and no worker runs."""
    job_id = uuid.uuid4()
    submitted = JobSubmitted(
        job_id=job_id,
        owner=owner,
        correlation_id=job_id,
        kind="effects",
        input={"upload_id": upload_id},
        params={},
        stages=["effects"],
    )
    done = EffectsCompleted.caused_by(submitted, stage="effects", outputs=outputs)

    async def apply() -> None:
        pool = await create_pool(platform.postgres.dsn, 1)
        try:
            for event in (submitted, done):
                await Projection(pool).apply(event)
        finally:
            await pool.close()

    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, apply()).result()
    return str(job_id)


@pytest.fixture(scope="module")
def short_stem(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Half a second of stereo noise stored as an artifact (its ref), the uploaded track to
    go with it, and who owns what a development-mode page lists."""
    folder = tmp_path_factory.mktemp("bounds")
    path = write_noise(folder / "stem.wav", 0.5, seed=22)
    store = LocalObjectStore(platform.storage_dir, fsync=False)
    stored = store.put_file_sync(f"bounds/{uuid.uuid4()}/stem.wav", path, "audio/wav")
    ref = ArtifactRef(
        uri=stored.uri,
        media_type="audio/wav",
        bytes=stored.bytes,
        sha256=stored.sha256,
        duration_s=0.5,
        sample_rate=44100,
        channels=2,
    )
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        owner = api.get("/api/v1/auth/me").json()["id"]
        upload_id = upload(api, path).json()["id"]
    return {"ref": ref, "owner": owner, "upload_id": upload_id}


def fetches(page: Page) -> Counter[str]:
    """From now on, per URL path, how many fetch() requests the page sends for it."""
    counted: Counter[str] = Counter()

    def seen(request: Request) -> None:
        if request.resource_type == "fetch":
            counted[urlsplit(request.url).path] += 1

    page.on("request", seen)
    return counted


def artifacts_fetched(counted: Counter[str], job_id: str) -> dict[str, int]:
    prefix = f"/api/v1/jobs/{job_id}/artifacts/"
    return {p.removeprefix(prefix): n for p, n in counted.items() if p.startswith(prefix)}


def test_the_mixer_takes_the_first_32_stems_and_fetches_no_other(
    studio: Studio, platform: Platform, short_stem: dict[str, Any]
) -> None:
    ref: ArtifactRef = short_stem["ref"]
    names = [f"stem-{n:02}.wav" for n in range(1, MAX_STEMS + 2)]
    outputs = dict.fromkeys(names[:-1], ref)
    # The 33rd, which the mixer leaves out: no waveform either, so no fetch() at all is its.
    outputs[names[-1]] = ref.model_copy(update={"bytes": PAST_THE_WAVEFORM_LIMIT})
    job_id = projected_job(platform, short_stem["owner"], short_stem["upload_id"], outputs)

    counted = fetches(studio.page)
    page = open_mixer(studio, job_id)
    rows = page.eval_on_selector_all(f"{MIXER} li.mixer-stem", "r => r.map((x) => x.dataset.stem)")
    assert rows == [name.removesuffix(".wav") for name in names[:MAX_STEMS]]
    said = page.inner_text(f"{MIXER} p.muted")
    assert said.endswith("playing together, the first 32."), said
    assert "stem-33" not in said
    assert page.inner_text("#mixer-status") == "Ready: 32 stems, 0:01."
    fetched = artifacts_fetched(counted, job_id)
    assert names[-1] not in fetched, fetched
    assert fetched == dict.fromkeys(names[:MAX_STEMS], 1)


@pytest.mark.parametrize(
    ("seconds", "refused"),
    [(1024.0, False), (1024.5, True)],
    ids=["at 512 MiB: mixed", "past 512 MiB: refused before a fetch"],
)
def test_the_mixer_decodes_no_more_than_512_mib(
    studio: Studio,
    platform: Platform,
    short_stem: dict[str, Any],
    seconds: float,
    refused: bool,
) -> None:
    """Two stereo stems at 32768 Hz, each declaring `seconds`: decoded as 32-bit samples
    they hold 2 × seconds × 32768 × 2 × 4 bytes, 512 MiB exactly at 1024 s."""
    assert MAX_DECODED_BYTES == 2 * 1024 * 32768 * 2 * 4
    declared = short_stem["ref"].model_copy(
        update={"duration_s": seconds, "sample_rate": 32768, "bytes": PAST_THE_WAVEFORM_LIMIT}
    )
    outputs = {"bass.wav": declared, "drums.wav": declared}
    job_id = projected_job(platform, short_stem["owner"], short_stem["upload_id"], outputs)

    counted = fetches(studio.page)
    page = studio.open()
    studio.wait_for_studio()
    page.click(f'#jobs-body tr[data-job-id="{job_id}"] button')
    state = page.wait_for_selector(f'{MIXER}[data-state="{"error" if refused else "ready"}"]')
    assert state is not None
    status = page.inner_text("#mixer-status")
    fetched = artifacts_fetched(counted, job_id)
    original = f"/api/v1/uploads/{short_stem['upload_id']}/content"
    if refused:
        assert status == "Too long to mix in the page: download the stems below."
        assert fetched == {}
        assert page.is_disabled(f"{MIXER} button.mixer-play")
        # The stems are still there to download, one by one.
        assert page.locator('a[data-download="bass.wav"]').count() == 1
    else:
        # What was declared decides: the files themselves are half a second long.
        # The original (its size from its metadata) would pass the bound: it is left out,
        # unfetched, and the stems are mixed.
        assert status == "Ready: 2 stems, 0:01. The original is too long to hold beside the stems."
        assert sorted(fetched) == ["bass.wav", "drums.wav"]
        assert page.is_disabled(f"{MIXER} button.mixer-ab")
    assert counted[original] == 0, counted
