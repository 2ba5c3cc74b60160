"""Helpers shared by the test suite and the benchmarks: test signals and stream reading."""

from __future__ import annotations

from pathlib import Path

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
