"""The studio's live effects panel in a real browser (Debian's headless Chromium) against a
gateway requiring accounts and one effects worker: a file streamed through gain comes back
sample for sample, a gain changed mid-stream ramps over one block, Chromium's fake
microphone (fed a known tone) streams and stops cleanly, and a chain the server refuses
shows its reason, after which Start works again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page, WebSocket

from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port

from .studio_fixtures import new_account, sign_in, studio_page
from .studio_page import Studio, launched_chromium

pytestmark = pytest.mark.platform

RATE = 48000
BLOCK_20_MS = 960
PASSWORD = "a long pass phrase for live effects"
MICROPHONE_HZ = 440.0
END_STATES = ("finished", "closed", "error")


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("studio-live")
    with Platform(
        root / "data",
        workers=("effects",),
        gateway_port=free_port(),
        log_dir=root / "logs",
        extra_env={"AUTH_MODE": "required"},
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
def account(live_platform: Platform) -> str:
    return new_account(live_platform.url, "live", PASSWORD)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    # Chromium's fake microphone plays this file (looped) to getUserMedia, without a prompt.
    tone = tmp_path_factory.mktemp("microphone") / "tone.wav"
    t = np.arange(2 * RATE) / RATE
    sf.write(str(tone), 0.5 * np.sin(2 * np.pi * MICROPHONE_HZ * t), RATE, subtype="PCM_16")
    args = (
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone}",
    )
    with launched_chromium(args) as running:
        yield running


@pytest.fixture
def studio(live_platform: Platform, account: str, browser: Browser) -> Iterator[Studio]:
    """A signed-in studio: the live socket has to carry the token (?access_token=). (The
    platform starts first: its start runs asyncio, which Playwright's sync API would block.)"""
    with studio_page(browser, live_platform.url) as studio:
        sign_in(studio, account, PASSWORD)
        yield studio


def text_frames_sent(page: Page) -> list[dict[str, Any]]:
    """From now on, every text message the page sends on /api/v1/live, parsed."""
    sent: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        if "/api/v1/live" in socket.url:
            socket.on(
                "framesent",
                lambda data: sent.append(json.loads(data)) if isinstance(data, str) else None,
            )

    page.on("websocket", watch)
    return sent


def write_stereo(path: Path, seconds: float) -> np.ndarray:
    """A chirp on the left and noise on the right (a swap or a shift would show), float32."""
    t = np.arange(int(seconds * RATE)) / RATE
    chirp = 0.5 * np.sin(2 * np.pi * (100 * t + 900 * t**2))
    noise = 0.3 * np.random.default_rng(7).uniform(-1, 1, t.size)
    audio = np.stack([chirp, noise], axis=1).astype(np.float32)
    sf.write(str(path), audio, RATE, subtype="FLOAT")
    return audio


def only_effect(page: Page, effect: str, **values: float) -> None:
    """Replace the live chain (the default reverb) with one effect."""
    for button in page.locator("#live-effects-chain button[data-remove]").all():
        button.click()
    page.select_option("#live-effect-type", effect)
    page.click("#live-add-effect")
    for name, value in values.items():
        page.fill(
            f'#live-effects-chain li[data-type="{effect}"] input[data-param="{name}"]', str(value)
        )


def pick_file(page: Page, path: Path) -> None:
    page.set_input_files("#live-file", str(path))
    page.wait_for_selector("#live-file-status:has-text('stays on this computer')")


def wait_for_end(page: Page) -> tuple[str, str]:
    """Wait for the run to end; its state and the status sentence."""
    page.wait_for_function(
        "(ends) => ends.includes(document.getElementById('live-status').dataset.state)",
        arg=list(END_STATES),
    )
    state = page.get_attribute("#live-status", "data-state")
    assert state is not None
    return state, page.inner_text("#live-status")


def figure(page: Page, name: str) -> int:
    value = page.get_attribute(f"#live-{name}", "data-value")
    assert value is not None, name
    return int(value)


def wait_for_played_frames(page: Page) -> int:
    """The frames the playback processor played, once the run's audio has played out."""
    page.wait_for_function(
        """() => {
             const figures = document.getElementById("live-figures").dataset;
             return Number(figures.playedFrames) > 0 && figures.final === "true";
           }"""
    )
    return int(page.get_attribute("#live-figures", "data-played-frames") or "0")


def downloaded(studio: Studio) -> np.ndarray:
    """What the page offers as "what you heard", as (frames, channels) float32."""
    with studio.page.expect_download() as started:
        studio.page.click("#live-download")
    audio: np.ndarray
    audio, rate = sf.read(str(started.value.path()), dtype="float32", always_2d=True)
    assert rate == RATE and audio.shape[1] == 2
    assert started.value.suggested_filename.endswith("-live.wav")
    return audio


def test_a_file_comes_back_through_gain_sample_for_sample(studio: Studio, tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "chirp.wav", 2.0)
    page = studio.page
    sent = text_frames_sent(page)
    only_effect(page, "gain", gain_db=-6)
    pick_file(page, tmp_path / "chirp.wav")
    assert page.input_value("#live-block-ms") == "20", "20 ms blocks unless chosen otherwise"
    page.click("#live-start")
    page.wait_for_selector('#live-status[data-state="live"]')
    assert page.is_disabled("#live-start") and page.is_enabled("#live-stop")
    state, text = wait_for_end(page)
    assert state == "finished", text
    assert text.startswith("Finished")

    assert sent[0] == {
        "type": "open",
        "chain": [{"type": "gain", "gain_db": -6}],
        "format": {
            "sample_rate": RATE,
            "channels": 2,
            "block_frames": BLOCK_20_MS,
            "sample_format": "float32",
        },
    }
    assert sent[-1] == {"type": "close"}
    # Whole, in order and aligned to the sample: the file's first sample is the first sent.
    heard = downloaded(studio)
    expected = audio * np.float32(10 ** (-6 / 20))
    assert heard.shape == expected.shape
    np.testing.assert_allclose(heard, expected, atol=1e-5)

    blocks = math.ceil(len(audio) / BLOCK_20_MS)
    assert figure(page, "sent") == figure(page, "received") == blocks
    assert figure(page, "dropped") == 0
    p50 = float(page.get_attribute("#live-latency", "data-p50-ms") or "nan")
    p99 = float(page.get_attribute("#live-latency", "data-p99-ms") or "nan")
    assert 0 < p50 <= p99 < 1000, (p50, p99)
    assert f"p50 {p50:.1f} ms" in page.inner_text("#live-latency")
    assert page.is_enabled("#live-start") and page.is_disabled("#live-stop")
    # And it was heard: the playback processor played every block that came back.
    assert wait_for_played_frames(page) == blocks * BLOCK_20_MS


def test_a_gain_changed_mid_stream_ramps_over_one_block(studio: Studio, tmp_path: Path) -> None:
    audio = write_stereo(tmp_path / "long.wav", 3.0)
    page = studio.page
    sent = text_frames_sent(page)
    only_effect(page, "gain", gain_db=0)
    pick_file(page, tmp_path / "long.wav")
    page.click("#live-start")
    page.wait_for_function(
        "() => Number(document.getElementById('live-received').dataset.value) >= 40"
    )
    page.fill('#live-effects-chain li[data-type="gain"] input[data-param="gain_db"]', "-20")
    state, text = wait_for_end(page)
    assert state == "finished", text
    controls = [m for m in sent if m["type"] in ("set", "chain")]
    assert controls == [{"type": "set", "index": 0, "params": {"gain_db": -20}}]

    heard = downloaded(studio)
    assert heard.shape == audio.shape, "no block lost around the change"
    # The level is the input's, then a per-sample ramp over one block, then 20 dB down.
    loud = np.abs(heard - audio).max(axis=1) > 1e-5
    first_changed = int(np.argmax(loud))
    ramp_start = first_changed - first_changed % BLOCK_20_MS
    assert ramp_start >= 40 * BLOCK_20_MS, "changed after 40 blocks had come back"
    envelope = np.ones(len(audio), dtype=np.float32)
    envelope[ramp_start : ramp_start + BLOCK_20_MS] = np.linspace(1, 0.1, BLOCK_20_MS + 1)[1:]
    envelope[ramp_start + BLOCK_20_MS :] = 0.1
    np.testing.assert_allclose(heard, audio * envelope[:, None], atol=1e-5)


def test_the_microphone_streams_until_stopped(studio: Studio) -> None:
    page = studio.page
    only_effect(page, "gain", gain_db=-6)
    page.check('input[name="live-source"][value="microphone"]')
    assert page.locator("#live-file").is_hidden()
    page.click("#live-start")
    page.wait_for_selector('#live-status[data-state="live"]')
    page.wait_for_timeout(1500)
    assert page.is_disabled('input[name="live-source"][value="file"]'), "no change while live"
    page.click("#live-stop")
    state, text = wait_for_end(page)
    assert state == "finished", text
    assert text.startswith("Stopped")
    received = figure(page, "received")
    assert received == figure(page, "sent") >= 40  # about 1.5 s of 20 ms blocks
    # Shown as whole numbers; how many depends on the machine's load.
    assert min(figure(page, "underruns"), figure(page, "dropped")) >= 0

    heard = downloaded(studio)
    assert len(heard) == received * BLOCK_20_MS
    assert wait_for_played_frames(page) == len(heard)
    np.testing.assert_array_equal(heard[:, 0], heard[:, 1])  # a mono microphone, both sides
    rms = float(np.sqrt(np.mean(heard**2)))
    assert rms > 0.05, f"silent: rms {rms}"
    spectrum = np.abs(np.fft.rfft(heard[:, 0]))
    peak_hz = np.argmax(spectrum) * RATE / len(heard)
    assert abs(peak_hz - MICROPHONE_HZ) < 5, peak_hz


def test_a_refused_chain_shows_the_servers_reason_and_start_works_again(
    studio: Studio, tmp_path: Path
) -> None:
    write_stereo(tmp_path / "short.wav", 1.0)
    page = studio.page
    # pitch_shift is not offered live (the server would refuse it: it needs look-ahead);
    # a cutoff the editor allows (up to 96 kHz for 192 kHz files) but not at 48 kHz is refused.
    offered = page.eval_on_selector_all("#live-effect-type option", "os => os.map(o => o.value)")
    assert "pitch_shift" not in offered and "reverb" in offered
    only_effect(page, "lowpass_filter", cutoff_frequency_hz=30000)
    pick_file(page, tmp_path / "short.wav")
    unlabelled = page.eval_on_selector_all(
        "#live input, #live select, #live button",
        """controls => controls
             .filter((c) => !(c.labels?.length || c.ariaLabel || c.textContent.trim()))
             .map((c) => c.outerHTML.slice(0, 80))""",
    )
    assert unlabelled == []
    assert page.get_attribute("#live-status", "aria-live") == "polite"

    page.focus("#live-block-ms")
    studio.tab_to("#live-start")  # and its focus is visible
    page.keyboard.press("Enter")
    state, text = wait_for_end(page)
    assert state == "closed", text
    assert "30000 Hz must be below 24000 Hz" in text
    assert figure(page, "sent") == 0
    assert page.is_enabled("#live-start")
    assert page.evaluate("() => document.activeElement.id") == "live-start"

    page.click('#live-effects-chain li[data-type="lowpass_filter"] button[data-remove]')
    page.select_option("#live-effect-type", "gain")
    page.click("#live-add-effect")
    page.focus("#live-start")
    page.keyboard.press("Enter")
    page.wait_for_selector('#live-status:not([data-state="closed"])')
    state, text = wait_for_end(page)
    assert state == "finished", text
    assert figure(page, "received") == RATE // BLOCK_20_MS
