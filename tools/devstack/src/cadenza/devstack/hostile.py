"""A corpus of hostile and broken files, built on demand: the suite sends each to the API
(tests/e2e/test_hostile_input.py) and docs/reliability.md counts them.

Every file is made from scratch here (no binary fixtures in the repo); the slow ones
(hours of silence) are cached in the directory given.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mido
import numpy as np
import soundfile as sf

from cadenza.devstack.music import song_midi

Field = Literal["upload", "midi"]


@dataclass(frozen=True)
class BadFile:
    case: str
    filename: str
    field: Field  # "upload": POST /api/v1/uploads; "midi": POST /api/v1/songs
    make: Callable[[Path], bytes]
    # What the server must answer, and a phrase its sentence contains.
    status: int
    says: str


def _tone(seconds: float = 1.0, rate: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * 440 * t))[:, None], 2, axis=1).astype(np.float32)


def _encoded(fmt: str, subtype: str, seconds: float = 2.0) -> bytes:
    out = io.BytesIO()
    sf.write(out, _tone(seconds), 44100, format=fmt, subtype=subtype)
    return out.getvalue()


def _wav_header(
    *, channels: int = 2, rate: int = 44100, bits: int = 16, data_bytes: int = 0
) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, min(rate * block, 0xFFFFFFFF), block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + data_bytes, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _aiff_claiming(data_bytes: int) -> bytes:
    # COMM: channels, frames, bits, 80-bit extended 44100.0
    rate = bytes.fromhex("400EAC44000000000000")
    comm = struct.pack(">hIh", 2, data_bytes // 4, 16) + rate
    ssnd = struct.pack(">II", 0, 0)
    body = (
        b"AIFF"
        + b"COMM"
        + struct.pack(">I", len(comm))
        + comm
        + b"SSND"
        + struct.pack(">I", data_bytes + 8)
        + ssnd
        + b"\0" * 64
    )
    return b"FORM" + struct.pack(">I", len(body)) + body


def _garbage(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _silence_file(cache: Path, name: str, fmt: str, subtype: str, hours: float) -> bytes:
    """Hours of silence at 8 kHz mono: a few hundred KB that decode to hundreds of MB."""
    path = cache / name
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{name}.partial"
        minute = np.zeros(8000 * 60, dtype=np.float32)
        with sf.SoundFile(str(partial), "w", 8000, 1, format=fmt, subtype=subtype) as f:
            for _ in range(int(hours * 60)):
                f.write(minute)  # a minute at a time: one huge write crashes libvorbis
        partial.rename(path)
    return path.read_bytes()


def _flac_without_length(cache: Path) -> bytes:
    """The FLAC bomb with STREAMINFO's total-samples field zeroed ("unknown"), so only
    decoding can find out how long it is."""
    return _without_length(_silence_file(cache, "bomb.flac", "FLAC", "PCM_16", 2.0))


def wide_flac_bomb(cache: Path, seconds: int = 30) -> bytes:
    """Silence at FLAC's highest rate (655,350 Hz) in 8 channels, with no declared length:
    about 170 KB that decode to 160 million samples (640 MB as float32)."""
    path = cache / f"wide-bomb-{seconds}.flac"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{path.name}.partial"
        second = np.zeros((655_350, 8), dtype=np.float32)
        with sf.SoundFile(str(partial), "w", 655_350, 8, format="FLAC", subtype="PCM_16") as f:
            for _ in range(seconds):
                f.write(second)
        partial.rename(path)
    return _without_length(path.read_bytes())


def _without_length(flac: bytes) -> bytes:
    data = bytearray(flac)
    field = slice(8 + 10, 8 + 18)
    value = int.from_bytes(data[field], "big") & ~((1 << 36) - 1)
    data[field] = value.to_bytes(8, "big")
    return bytes(data)


def _midi(tracks: list[mido.MidiTrack], ticks_per_beat: int = 480) -> bytes:
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.extend(tracks)
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def _track(*messages: mido.Message | mido.MetaMessage) -> mido.MidiTrack:
    return mido.MidiTrack(messages)


def _note(at: int = 0, length: int = 480) -> list[mido.Message]:
    return [
        mido.Message("note_on", note=60, velocity=90, time=at),
        mido.Message("note_off", note=60, velocity=0, time=length),
    ]


def _slowest_tempo_far_note() -> bytes:
    # 16.7 s per beat and a note 5 million beats in: about 2.6 years of "music".
    return _midi(
        [_track(mido.MetaMessage("set_tempo", tempo=0xFFFFFF), *_note(at=5_000_000, length=1))],
        ticks_per_beat=1,
    )


def _fastest_tempo_note_flood(notes: int = 600_000) -> bytes:
    """A tempo of 1 µs per beat and more note-ons than any song has, written byte by byte
    (running status: 4 bytes a note-on, 3 a note-off)."""
    tempo = b"\x00\xff\x51\x03\x00\x00\x01"
    events = tempo + b"\x00\x90\x3c\x5a" + b"\x01\x3c\x00\x00\x3c\x5a" * notes + b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    return header + b"MTrk" + struct.pack(">I", len(events)) + events


def _tracks_header_lies() -> bytes:
    data = bytearray(song_midi(seed=1, bars=2))
    data[10:12] = struct.pack(">H", 65535)  # MThd's track count
    return bytes(data)


def _smpte_division() -> bytes:
    data = bytearray(song_midi(seed=1, bars=2))
    data[12:14] = bytes([0xE7, 40])  # -25 fps, 40 ticks per frame
    return bytes(data)


def _chunk_length_lies() -> bytes:
    data = bytearray(song_midi(seed=1, bars=2))
    track = data.index(b"MTrk")
    data[track + 4 : track + 8] = struct.pack(">I", 0x7FFFFFFF)
    return bytes(data)


def corpus(cache: Path) -> list[BadFile]:
    """The bad files. `cache` keeps the slow ones between runs."""
    valid_flac = _encoded("FLAC", "PCM_16")
    valid_ogg = _encoded("OGG", "VORBIS")
    valid_wav = _encoded("WAV", "PCM_16")
    return [
        # ---- audio uploads -------------------------------------------------------------
        BadFile("zero-length wav", "empty.wav", "upload", lambda _: b"", 422, "empty"),
        BadFile(
            "truncated wav",
            "cut.wav",
            "upload",
            lambda _: valid_wav[: len(valid_wav) // 3],
            415,
            "truncated",
        ),
        BadFile(
            "wav header declaring 4 GB",
            "huge.wav",
            "upload",
            lambda _: _wav_header(data_bytes=0xFFFFFFF0) + b"\0" * 4096,
            415,
            "truncated",
        ),
        BadFile(
            "aiff header declaring 2 GB",
            "huge.aiff",
            "upload",
            lambda _: _aiff_claiming(0x7FFFFF00),
            415,
            "refused",
        ),
        BadFile(
            "wav with zero channels",
            "mute.wav",
            "upload",
            lambda _: _wav_header(channels=0, data_bytes=64) + b"\0" * 64,
            415,
            "refused",
        ),
        BadFile(
            "wav at 4 GHz",
            "fast.wav",
            "upload",
            lambda _: _wav_header(rate=4_000_000_000, data_bytes=64) + b"\0" * 64,
            415,
            "refused",
        ),
        BadFile(
            "wav at 1 Hz",
            "slow.wav",
            "upload",
            lambda _: _wav_header(rate=1, data_bytes=64) + b"\0" * 64,
            415,
            "not a playable stream",
        ),
        BadFile(
            "wav header only, no samples",
            "hollow.wav",
            "upload",
            lambda _: _wav_header(data_bytes=0),
            415,
            "refused",
        ),
        BadFile(
            "garbage named .wav",
            "noise.wav",
            "upload",
            lambda _: _garbage(50_000, 1),
            415,
            "not audio",
        ),
        BadFile(
            "garbage named .mp3",
            "noise.mp3",
            "upload",
            lambda _: _garbage(50_000, 2),
            415,
            "not audio",
        ),
        BadFile(
            "garbage named .flac",
            "noise.flac",
            "upload",
            lambda _: _garbage(50_000, 3),
            415,
            "not audio",
        ),
        BadFile(
            "garbage named .ogg",
            "noise.ogg",
            "upload",
            lambda _: _garbage(50_000, 4),
            415,
            "not audio",
        ),
        BadFile(
            "text named .flac",
            "readme.flac",
            "upload",
            lambda _: b"hello world\n" * 500,
            415,
            "not audio",
        ),
        BadFile(
            "fLaC magic then garbage",
            "magic.flac",
            "upload",
            lambda _: b"fLaC" + _garbage(20_000, 5),
            415,
            "refused",
        ),
        BadFile(
            "OggS magic then garbage",
            "magic.ogg",
            "upload",
            lambda _: b"OggS" + _garbage(20_000, 6),
            415,
            "refused",
        ),
        BadFile(
            "truncated flac",
            "cut.flac",
            "upload",
            lambda _: valid_flac[: len(valid_flac) * 4 // 10],
            415,
            "damaged",
        ),
        BadFile(
            "truncated ogg",
            "cut.ogg",
            "upload",
            lambda _: valid_ogg[: len(valid_ogg) * 4 // 10],
            415,
            "refused",
        ),
        BadFile(
            "flac bomb: 2 hours of silence in 180 KB",
            "bomb.flac",
            "upload",
            lambda cache: _silence_file(cache, "bomb.flac", "FLAC", "PCM_16", 2.0),
            415,
            "decompression bomb",
        ),
        BadFile(
            "flac bomb without a declared length",
            "bomb-nolength.flac",
            "upload",
            _flac_without_length,
            415,
            "decompression bomb",
        ),
        BadFile(
            "flac bomb: 655 kHz, 8 channels, no declared length",
            "wide-bomb.flac",
            "upload",
            wide_flac_bomb,
            415,
            "decompression bomb",
        ),
        BadFile(
            "ogg bomb: 2 hours of silence in 480 KB",
            "bomb.ogg",
            "upload",
            lambda cache: _silence_file(cache, "bomb.ogg", "OGG", "VORBIS", 2.0),
            415,
            "longer than the limit",
        ),
        BadFile(
            "a MIDI file named .wav",
            "song.wav",
            "upload",
            lambda _: song_midi(seed=2, bars=2),
            415,
            "not audio",
        ),
        # ---- MIDI songs ----------------------------------------------------------------
        BadFile("zero-length midi", "empty.mid", "midi", lambda _: b"", 422, "empty"),
        BadFile(
            "text named .mid",
            "notes.mid",
            "midi",
            lambda _: b"C D E F G\n" * 50,
            415,
            "not a Standard MIDI File",
        ),
        BadFile(
            "truncated midi",
            "cut.mid",
            "midi",
            lambda _: song_midi(seed=3)[:200],
            422,
            "damaged",
        ),
        BadFile(
            "midi whose chunk claims 2 GB",
            "liar.mid",
            "midi",
            lambda _: _chunk_length_lies(),
            422,
            "damaged",
        ),
        BadFile(
            "midi header claiming 65535 tracks",
            "tracks.mid",
            "midi",
            lambda _: _tracks_header_lies(),
            422,
            "announces 65,535 tracks",
        ),
        BadFile(
            "midi in SMPTE time", "smpte.mid", "midi", lambda _: _smpte_division(), 422, "SMPTE"
        ),
        BadFile(
            "slowest tempo and a note years in",
            "years.mid",
            "midi",
            lambda _: _slowest_tempo_far_note(),
            422,
            "the limit is",
        ),
        BadFile(
            "600,000 notes at an absurd tempo",
            "flood.mid",
            "midi",
            lambda _: _fastest_tempo_note_flood(),
            422,
            "events",
        ),
        BadFile(
            "midi without notes",
            "silent.mid",
            "midi",
            lambda _: _midi([_track(mido.MetaMessage("set_tempo", tempo=500_000))]),
            422,
            "no notes",
        ),
        BadFile(
            "garbage after MThd",
            "mthd.mid",
            "midi",
            lambda _: b"MThd" + _garbage(5_000, 7),
            422,
            "damaged",
        ),
    ]
