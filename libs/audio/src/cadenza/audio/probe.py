"""Is this file audio we can work with? Decided by decoding it, never by its name."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

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


class AudioDecodeError(ValueError):
    """The file is not audio we can decode; the message says why, for a person."""


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


def header_info(path: Path) -> tuple[int, int, int]:
    """(sample rate, channels, frames) from the header, without decoding the samples.
    For files already probed at upload; AudioDecodeError if it no longer opens."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioDecodeError(f"the input is not decodable audio: {decode_reason(e)}") from e
    return int(info.samplerate), int(info.channels), int(info.frames)


def probe_audio(path: Path) -> AudioInfo:
    """Decode the whole file once; return what it is or raise `AudioDecodeError`."""
    if path.stat().st_size == 0:
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
    if info.samplerate <= 0 or not 1 <= info.channels <= MAX_CHANNELS:
        raise AudioDecodeError(
            f"the header declares {info.samplerate} Hz and {info.channels} channels, "
            f"which is not a playable stream (1..{MAX_CHANNELS} channels)"
        )
    declared = _declared_data_bytes(path)
    if declared and declared[0] > declared[1]:
        raise AudioDecodeError(
            f"the file is truncated: its header declares {declared[0]} bytes of audio "
            f"but only {declared[1]} are present"
        )
    frames = 0
    try:
        with sf.SoundFile(str(path)) as f:
            for block in f.blocks(DECODE_BLOCK, dtype="float32", always_2d=True):
                frames += len(block)
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
