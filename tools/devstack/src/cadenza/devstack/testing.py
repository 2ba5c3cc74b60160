"""Helpers shared by the test suite and the benchmarks: test signals, stream reading and
waiting for jobs to end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import numpy as np
import soundfile as sf
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy


def tone(
    seconds: float,
    *,
    sample_rate: int = 44100,
    channels: int = 2,
    frequency_hz: float = 440.0,
    amplitude: float = 0.5,
) -> np.ndarray:
    """A sine, shaped (frames, channels), the layout soundfile writes."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    mono = (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def write_tone(
    path: Path,
    seconds: float,
    *,
    sample_rate: int = 44100,
    channels: int = 2,
    frequency_hz: float = 440.0,
    amplitude: float = 0.5,
    subtype: str | None = None,
) -> Path:
    data = tone(
        seconds,
        sample_rate=sample_rate,
        channels=channels,
        frequency_hz=frequency_hz,
        amplitude=amplitude,
    )
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return path


def write_noise(path: Path, seconds: float, *, sample_rate: int = 44100, seed: int = 0) -> Path:
    """Pink-ish stereo noise: a stand-in for music with energy across the spectrum."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * sample_rate)
    white = rng.standard_normal((frames, 2)).astype(np.float32)
    pink = np.cumsum(white, axis=0)
    pink -= np.convolve(pink[:, 0], np.ones(64) / 64, mode="same")[:, None]
    pink /= np.abs(pink).max() * 2
    sf.write(str(path), pink.astype(np.float32), sample_rate, subtype="PCM_16")
    return path


def rms_db(data: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(data, dtype=np.float64)))))


async def stream_messages(js: JetStreamContext, subject: str, timeout_s: float = 1.0) -> list[Msg]:
    """Everything a stream holds on `subject` right now, oldest first."""
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    found: list[Msg] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=timeout_s)
            found.append(msg)
            if msg.metadata.num_pending == 0:
                break
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return found


def synthetic_band(
    seconds: float, *, sample_rate: int = 44100, seed: int = 0
) -> dict[str, np.ndarray]:
    """A drum pattern, a bass line and a sustained tone, each (frames, 2), and their sum.

    Known sources for judging a separator: drums are kicks, snares and hi-hats at 120 BPM,
    the bass plays a four-note line at 55–98 Hz, the tone holds 440 Hz with a slight
    vibrato, panned a little to the left.
    """
    rng = np.random.default_rng(seed)
    frames = int(seconds * sample_rate)
    t = np.arange(frames) / sample_rate
    beat = 60 / 120
    drums = np.zeros(frames)
    for index, start in enumerate(np.arange(0, seconds, beat / 2)):
        at = int(start * sample_rate)
        if index % 4 == 0:  # kick
            n = int(0.15 * sample_rate)
            env = np.exp(-np.arange(n) / (0.03 * sample_rate))
            hit = np.sin(2 * np.pi * 60 * np.arange(n) / sample_rate) * env
        elif index % 4 == 2:  # snare
            n = int(0.12 * sample_rate)
            hit = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.02 * sample_rate)) * 0.6
        else:  # hi-hat
            n = int(0.04 * sample_rate)
            noise = np.diff(rng.standard_normal(n + 1))
            hit = noise * np.exp(-np.arange(n) / (0.006 * sample_rate)) * 0.25
        end = min(frames, at + len(hit))
        drums[at:end] += hit[: end - at]
    notes = [55.0, 73.42, 82.41, 98.0]
    frequency = np.array([notes[int(x / (2 * beat)) % 4] for x in t])
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    bass = 0.5 * np.sin(phase) + 0.15 * np.sin(2 * phase)
    tone = 0.25 * np.sin(2 * np.pi * 440 * t + 0.3 * np.sin(2 * np.pi * 5 * t))
    sources = {
        "drums": np.stack([drums, drums], axis=1),
        "bass": np.stack([bass, bass], axis=1),
        "other": np.stack([tone * 0.8, tone * 0.4], axis=1),
    }
    sources = {name: audio.astype(np.float32) for name, audio in sources.items()}
    sources["mix"] = sum(sources.values())  # type: ignore[assignment]
    return sources


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-distortion ratio in dB (plain energy ratio, no allowed distortions)."""
    noise = reference - estimate
    return float(10 * np.log10((np.sum(reference**2) + 1e-12) / (np.sum(noise**2) + 1e-12)))


def wait_terminal(url: str, ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Each job's final view from the gateway at `url`, once every one of `ids` has completed
    or failed; AssertionError naming the jobs still open after `timeout_s` (a gateway that
    does not answer for a moment is asked again)."""
    deadline = time.monotonic() + timeout_s
    final: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=20) as api:
        while time.monotonic() < deadline:
            for job_id in ids:
                if job_id in final:
                    continue
                try:
                    job = api.get(f"/api/v1/jobs/{job_id}")
                except httpx.HTTPError:
                    break
                if job.status_code == 200 and job.json()["status"] in ("completed", "failed"):
                    final[job_id] = job.json()
            if len(final) == len(ids):
                return final
            time.sleep(0.5)
    missing = [i for i in ids if i not in final]
    raise AssertionError(f"{len(missing)} accepted jobs never finished, e.g. {missing[:5]}")
