"""Probing decides by decoding: real audio in every accepted format passes; the rest is
refused with a sentence that says why."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cadenza.audio import (
    AudioDecodeError,
    AudioEncodeError,
    AudioWriter,
    header_info,
    probe_audio,
    read_blocks,
)
from cadenza.contracts import OutputFormat
from cadenza.devstack.testing import tone, write_tone

FORMATS = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_24", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "ogg": ("OGG", "VORBIS", "audio/ogg"),
    "aiff": ("AIFF", "PCM_16", "audio/aiff"),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_accepted_format_is_probed(tmp_path: Path, fmt: str) -> None:
    container, subtype, media_type = FORMATS[fmt]
    path = tmp_path / f"in.{fmt}"
    sf.write(str(path), tone(2.0, sample_rate=44100), 44100, format=container, subtype=subtype)
    info = probe_audio(path)
    assert (info.format, info.media_type) == (fmt, media_type)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert info.duration_s == pytest.approx(2.0, abs=0.06)


def test_the_name_does_not_matter_only_the_content(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.wav", 1.0)
    disguised = tmp_path / "notes.txt"
    disguised.write_bytes(path.read_bytes())
    assert probe_audio(disguised).format == "wav"


def wav_bytes(tmp_path: Path) -> bytes:
    return write_tone(tmp_path / "good.wav", 2.0).read_bytes()


BAD: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "empty": (lambda tmp: b"", "the file is empty"),
    "garbage": (lambda tmp: os.urandom(4096), "not audio we can decode"),
    "text named mp3": (lambda tmp: b"hello world " * 500, "not audio we can decode"),
    "header only": (lambda tmp: wav_bytes(tmp)[:30], "not audio we can decode"),
    "truncated data": (lambda tmp: wav_bytes(tmp)[:100_000], "the file is truncated"),
    "riff claiming gigabytes": (
        lambda tmp: (lambda b: b[:40] + struct.pack("<I", 0xFFFFFFF0) + b[44:])(wav_bytes(tmp)),
        "truncated",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_broken_files_are_refused_with_a_reason(tmp_path: Path, case: str) -> None:
    make, expected = BAD[case]
    path = tmp_path / "upload.bin"
    path.write_bytes(make(tmp_path))
    with pytest.raises(AudioDecodeError, match=expected) as info:
        probe_audio(path)
    assert str(tmp_path) not in str(info.value), "server paths never reach the user"


def test_a_damaged_flac_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.flac"
    sf.write(str(path), tone(3.0), 44100, format="FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError, match="damaged"):
        probe_audio(path)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg"])
def test_writer_and_reader_round_trip_block_by_block(tmp_path: Path, fmt: str) -> None:
    signal = tone(1.5, amplitude=0.25).T  # (channels, frames)
    path = tmp_path / f"out.{fmt}"
    with AudioWriter(path, OutputFormat(format=fmt), 44100, 2) as writer:
        for start in range(0, signal.shape[1], 10_000):
            writer.write(signal[:, start : start + 10_000])
    assert writer.frames_written == signal.shape[1]
    decoded = np.concatenate(list(read_blocks(path, 4096)), axis=1)
    assert decoded.shape[0] == 2
    assert abs(decoded.shape[1] - signal.shape[1]) <= 1200  # lossy codecs pad a little
    info = probe_audio(path)
    assert info.format == fmt and info.sample_rate == 44100
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(decoded, signal, atol=1e-4)


def _silent_flac(path: Path, rate: int, channels: int, seconds: float) -> Path:
    block = np.zeros((rate, channels), dtype=np.float32)
    with sf.SoundFile(str(path), "w", rate, channels, format="FLAC", subtype="PCM_16") as f:
        for _ in range(int(seconds)):
            f.write(block)
    return path


def _forget_length(path: Path) -> Path:
    """Zero STREAMINFO's total-samples field: only decoding can tell the length."""
    data = bytearray(path.read_bytes())
    field = slice(8 + 10, 8 + 18)
    data[field] = (int.from_bytes(data[field], "big") & ~((1 << 36) - 1)).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    path = _silent_flac(tmp_path / "bomb.flac", 192_000, 8, 30)
    assert path.stat().st_size < 100_000  # 46 million samples in a few dozen KB
    with pytest.raises(AudioDecodeError, match="decodes to more than 500 times its size"):
        probe_audio(path)


def test_a_bomb_without_a_length_stops_early_in_decoding(tmp_path: Path) -> None:
    path = _forget_length(_silent_flac(tmp_path / "bomb.flac", 192_000, 8, 60))
    assert sf.info(str(path)).frames <= 0 or sf.info(str(path)).frames >= 1 << 62
    with pytest.raises(AudioDecodeError, match="decompression bomb"):
        probe_audio(path)


def test_short_silence_is_still_accepted(tmp_path: Path) -> None:
    # Silence expands far past 500×, but below the floor of 10 million samples it passes.
    path = _silent_flac(tmp_path / "room-tone.flac", 44_100, 2, 30)
    assert probe_audio(path).duration_s == pytest.approx(30.0)


def test_the_sample_limit_counts_frames_times_channels(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.wav", 2.0)  # 44.1 kHz stereo: 176,400 samples
    assert probe_audio(path, max_samples=200_000).channels == 2
    with pytest.raises(AudioDecodeError, match=r"more than the limit of 0 million samples"):
        probe_audio(path, max_samples=150_000)


def test_nan_samples_are_refused_with_where(tmp_path: Path) -> None:
    samples = tone(2.0, sample_rate=8000)
    samples[12_000, 1] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), samples, 8000, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match=r"invalid samples \(NaN or infinity\) at"):
        probe_audio(path)


@pytest.mark.parametrize(
    ("fmt", "rate", "channels", "says"),
    [
        ("ogg", 384_000, 2, "at most 200000 Hz"),  # libvorbis would crash the process
        ("flac", 768_000, 2, "at most 655350 Hz"),
        ("flac", 44_100, 9, "at most 8"),
        ("mp3", 44_100, 3, "at most 2"),
        ("mp3", 96_000, 2, "MP3 supports"),
    ],
)
def test_encoders_refuse_what_they_cannot_hold_before_opening(
    tmp_path: Path, fmt: str, rate: int, channels: int, says: str
) -> None:
    with pytest.raises(AudioEncodeError, match=says):
        AudioWriter(tmp_path / f"out.{fmt}", OutputFormat(format=fmt), rate, channels)
    assert not (tmp_path / f"out.{fmt}").exists()


def test_workers_decode_no_more_than_the_header_or_the_limit_allows(tmp_path: Path) -> None:
    path = _forget_length(_silent_flac(tmp_path / "open-ended.flac", 8_000, 1, 20))
    with pytest.raises(AudioDecodeError, match="more samples than its header declares"):
        for _ in read_blocks(path, 4096, max_samples=50_000):
            pass
    assert sum(b.shape[1] for b in read_blocks(path, 4096)) == 160_000  # within the default
    with pytest.raises(AudioDecodeError, match="not a playable stream"):
        header_info(write_tone(tmp_path / "slow.wav", 0.1, sample_rate=800))
