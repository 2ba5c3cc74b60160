"""Is this file audio we can work with? Decided by decoding it, never by its name."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# libsndfile container name → (short format name, media type)
CONTAINERS: dict[str, tuple[str, str]] = {
    "WAV": ("wav", "audio/wav"),
    "WAVEX": ("wav", "audio/wav"),
    "RF64": ("wav", "audio/wav"),
    "W64": ("wav", "audio/wav"),
    "FLAC": ("flac", "audio/flac"),
    "MP3": ("mp3", "audio/mpeg"),
    "OGG": ("ogg", "audio/ogg"),
    "AIFF": ("aiff", "audio/aiff"),
}
ACCEPTED = "WAV, FLAC, MP3, OGG (Vorbis/Opus) or AIFF"
DECODE_BLOCK = 1 << 16
MAX_CHANNELS = 32
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
# Bounds on what one file may cost to decode: a few kilobytes of FLAC or Vorbis can hold
# hours of silence (a decompression bomb), so length, samples, expansion and decoding time
# are all capped.
MAX_SECONDS = 4 * 3600.0
# Samples (frames × channels) in one file: four hours of 48 kHz stereo.
MAX_SAMPLES = 4 * 3600 * 48_000 * 2
# Decoded float32 bytes per byte of file. Real audio stays far below it (FLAC ~2–6×, Vorbis
# and MP3 at their lowest bitrates ~50–300×); a file of near-silence built to expand passes it
# within its first megabytes of output.
MAX_EXPANSION = 500.0
# Short files of near-silence expand more than that; the limit applies past this many samples
# (two minutes of 44.1 kHz stereo, a tenth of a second to decode).
EXPANSION_FLOOR_SAMPLES = 10_000_000
MAX_DECODE_SECONDS = 300.0


class AudioDecodeError(ValueError):
    """The file is not audio we can decode; the message says why, for a person."""


class AudioEncodeError(AudioDecodeError):
    """The audio cannot be written in the format asked for (a rate or channel count the
    encoder does not take). The audio's fault, not the worker's, so it is caught wherever
    AudioDecodeError is and never retried."""


@dataclass(frozen=True)
class AudioInfo:
    format: str
    media_type: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _declared_data_bytes(path: Path) -> tuple[int, int] | None:
    """(declared, available) bytes of the sample data of a RIFF/WAVE or AIFF file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return None
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            little, wanted = True, b"data"
        elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            little, wanted = False, b"SSND"
        else:
            return None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id = chunk[:4]
            (length,) = struct.unpack("<I" if little else ">I", chunk[4:])
            if chunk_id == wanted:
                # 0xFFFFFFFF is how streaming writers say "unknown length".
                if length == 0xFFFFFFFF:
                    return None
                return length, size - f.tell()
            f.seek(length + (length & 1), 1)


# A stream that declares no length is read this many frames at a time (see `frames_of`).
OPEN_ENDED_READ = 2048


def frames_of(f: sf.SoundFile, block_frames: int, overlap: int = 0) -> Iterator[np.ndarray]:
    """Float32 blocks shaped (frames, channels) of an open file, as soundfile's `blocks` gives
    them (each block repeats the last `overlap` frames of the one before), read until the
    decoder has no more.

    A stream that declares no length (a FLAC written live) cannot be read to its end through
    soundfile: after each read it seeks to where it stands, and past the last frame that
    seek fails, after the frames were decoded into the buffer. Such a stream is read
    OPEN_ENDED_READ frames at a time into a buffer filled with NaN first (no decoder of a
    compressed stream writes NaN), and the failing read taken as its end, keeping the frames
    it decoded: the file is read whole rather than refused as damaged."""
    open_ended = not 0 < int(f.frames) < (1 << 62)
    previous: np.ndarray | None = None
    while True:
        wanted = block_frames - overlap if previous is not None else block_frames
        if open_ended:
            parts, got = [], 0
            while got < wanted:
                size = min(OPEN_ENDED_READ, wanted - got)
                buffer = np.full((size, f.channels), np.nan, dtype=np.float32)
                try:
                    part = f.read(size, dtype="float32", always_2d=True, out=buffer)
                except sf.LibsndfileError:  # the end: keep what the last read decoded
                    decoded = ~np.isnan(buffer).any(axis=1)
                    part = buffer[: size if decoded.all() else int(np.argmin(decoded))]
                    parts.append(part)
                    got += len(part)
                    break
                if not len(part):
                    break
                parts.append(part)
                got += len(part)
            data = np.concatenate(parts) if parts else np.zeros((0, f.channels), np.float32)
        else:
            data = f.read(wanted, dtype="float32", always_2d=True)
        if not len(data):
            return
        if overlap and previous is not None:
            data = np.concatenate([previous[-overlap:], data])
        yield data
        previous = data


def header_info(path: Path, *, max_samples: int = MAX_SAMPLES) -> tuple[int, int, int]:
    """(sample rate, channels, frames) from the header, without decoding the samples.
    For files already probed at upload, held to the same bounds again (a worker never trusts
    a file's header more than the gateway did); AudioDecodeError if it no longer opens or
    passes them."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioDecodeError(f"the input is not decodable audio: {decode_reason(e)}") from e
    rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE or not 1 <= channels <= MAX_CHANNELS:
        raise AudioDecodeError(
            f"the header declares {rate} Hz and {channels} channels, which is not a playable stream"
        )
    if 0 < frames < (1 << 62) and frames * channels > max_samples:
        raise AudioDecodeError(
            f"the audio holds more than the limit of {_describe_samples(max_samples)}"
        )
    return rate, channels, frames


def describe_seconds(seconds: float) -> str:
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            amount = seconds / size
            return f"{amount:.3g} {unit}{'' if amount == 1 else 's'}"
    raise AssertionError


# An Ogg page is at most 65,307 bytes, so the last one starts within this many of the end.
OGG_TAIL = 65_536 + 1_024


def _ogg_ends_properly(path: Path) -> bool:
    """Whether the file's last Ogg page carries the end-of-stream flag; a file cut short
    decodes without an error but lacks it."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - OGG_TAIL))
        tail = f.read()
    start = tail.rfind(b"OggS")
    return start >= 0 and len(tail) > start + 5 and bool(tail[start + 5] & 0x04)


def _describe_samples(samples: int) -> str:
    return f"{samples / 1e6:,.0f} million samples"


def probe_audio(
    path: Path,
    *,
    max_seconds: float = MAX_SECONDS,
    max_samples: int = MAX_SAMPLES,
    max_expansion: float = MAX_EXPANSION,
    max_decode_s: float = MAX_DECODE_SECONDS,
) -> AudioInfo:
    """Decode the whole file once, block by block (bounded memory), and return what it is;
    `AudioDecodeError` if it is not audio, is damaged, holds non-finite samples, lasts longer
    than `max_seconds`, holds more than `max_samples` samples (frames × channels), decodes
    to more than `max_expansion` times its size in float32, or takes longer than
    `max_decode_s` to decode. Every limit the header can tell is checked before decoding."""
    size = path.stat().st_size
    if size == 0:
        raise AudioDecodeError("the file is empty")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(
            f"this is not audio we can decode ({ACCEPTED} are accepted): {decode_reason(e)}"
        ) from e
    container = CONTAINERS.get(info.format)
    if container is None:
        raise AudioDecodeError(f"{info.format_info} files are not accepted; use {ACCEPTED}")
    if (
        not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE
        or not 1 <= info.channels <= MAX_CHANNELS
    ):
        raise AudioDecodeError(
            f"the header declares {info.samplerate} Hz and {info.channels} channels, "
            f"which is not a playable stream ({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, "
            f"1..{MAX_CHANNELS} channels)"
        )
    if container[0] == "ogg" and not _ogg_ends_properly(path):
        raise AudioDecodeError(
            "the file is truncated: the Ogg stream stops without its end-of-stream page"
        )
    declared = _declared_data_bytes(path)
    if declared and declared[0] > declared[1]:
        raise AudioDecodeError(
            f"the file is truncated: its header declares {declared[0]} bytes of audio "
            f"but only {declared[1]} are present"
        )
    channels = int(info.channels)
    # The tightest of the three frame limits: length, samples, expansion.
    limits = [
        (
            int(max_seconds * info.samplerate),
            f"lasts longer than the limit of {describe_seconds(max_seconds)}",
        ),
        (
            max_samples // channels,
            f"holds more than the limit of {_describe_samples(max_samples)} (frames × channels)",
        ),
        (
            max(int(max_expansion * size / 4), EXPANSION_FLOOR_SAMPLES) // channels,
            f"decodes to more than {max_expansion:g} times its size, which no real "
            "recording does (a decompression bomb?)",
        ),
    ]
    limit_frames, why = min(limits)
    too_long = f"the audio {why}"
    if 0 < limit_frames < info.frames < (1 << 62):
        raise AudioDecodeError(too_long)
    frames = 0
    deadline = time.monotonic() + max_decode_s
    # Integer samples are always finite; float ones may hold NaN or infinity, which every
    # later stage would spread (and which no encoder can write).
    check_finite = info.subtype in ("FLOAT", "DOUBLE")
    try:
        with sf.SoundFile(str(path)) as f:
            for block in frames_of(f, DECODE_BLOCK):
                frames += len(block)
                if frames > limit_frames:
                    raise AudioDecodeError(too_long)
                if check_finite and not np.isfinite(block).all():
                    raise AudioDecodeError(
                        "the audio holds invalid samples (NaN or infinity) at "
                        f"{describe_seconds(frames / info.samplerate)}; export it again"
                    )
                if time.monotonic() > deadline:
                    raise AudioDecodeError(
                        f"decoding took longer than {describe_seconds(max_decode_s)}; "
                        "the file is damaged or far too long"
                    )
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioDecodeError(f"the audio stream is damaged: {decode_reason(e)}") from e
    if frames == 0:
        raise AudioDecodeError("the file holds no audio samples")
    fmt, media_type = container
    return AudioInfo(fmt, media_type, int(info.samplerate), int(info.channels), frames)


def decode_reason(error: Exception) -> str:
    """libsndfile's message without the server-side path it starts with."""
    text = str(error)
    # libsndfile prefixes its messages with the (server-side) path; keep only the cause.
    if "': " in text:
        text = text.split("': ", 1)[1]
    if "does not exist or is not a regular file" in text:
        # libsndfile's MPEG probe says this about data it cannot sync to.
        text = "format not recognised"
    return text.strip().rstrip(".") or type(error).__name__
