"""A multitrack test set for separation, made from MIDI: songs whose true stems are known.

Each song is drawn from a seed (tempo, key, mode, groove, chord progression, instruments) and
has four parts: General MIDI drums (channel 10), a bass line, chords (a comping instrument —
piano, electric piano, organ or guitar — and, in most songs, a pad or strings, panned apart),
and a lead that stands in for a singer: a voice patch (Choir Aahs, Voice Oohs or Synth Voice),
centred, singing phrases with breaths between them. The render service's own engine renders it
with FluidSynth, one stereo stem per part with its own reverb and chorus (`stem_effects`), so
each stem is exactly what that part contributes. A singer is a mono source panned to the
centre, but General MIDI choir patches are often stereo samples (a choir's width): the lead's
dry sound is folded to mono and its reverb and chorus (rendered once more without them, and
subtracted) stay stereo. Stems are levelled (drums and lead up front, chords behind) and the
mix is their sum: the reference stems add up to the mix exactly.

The parts map onto the four stems separation models produce: drums → drums, bass → bass,
chords → other, lead → vocals.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine.render import render_midi

SAMPLE_RATE = 44100
STEMS = ("drums", "bass", "other", "vocals")
# MIDI track name → stem.
ROLE_OF = {"drums": "drums", "bass": "bass", "comp": "other", "pad": "other", "lead": "vocals"}

KICK, SNARE, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 38, 39, 42, 44, 46, 49, 51
GROOVES = ("rock", "four_on_floor", "half_time", "shuffle")
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
# Scale degrees (0 = tonic) of four-bar progressions.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (1, 4, 0, 5), (0, 3, 4, 3)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
}
BASS_PROGRAMS = (32, 33, 34, 35, 38, 39)  # acoustic, finger, pick, fretless, synth 1 and 2
COMP_PROGRAMS = (0, 1, 4, 5, 16, 24, 25, 27)  # pianos, electric pianos, organ, guitars
PAD_PROGRAMS = (48, 49, 50, 88, 89, 90, 91, 94)  # strings, synth strings, pads
LEAD_PROGRAMS = (52, 53, 54)  # Choir Aahs, Voice Oohs, Synth Voice
# Loudness of each stem against the drums, dB (each song moves them by up to ±1.5 dB).
LEVELS_DB = {"drums": 0.0, "bass": -2.0, "other": -4.0, "vocals": 0.0}


@dataclass(frozen=True)
class Song:
    """What one seed draws."""

    seed: int
    tempo_bpm: float
    tonic: int  # MIDI pitch class 0..11
    mode: str  # "major" or "minor"
    groove: str
    progression: tuple[int, ...]
    bass_program: int
    comp_program: int
    pad_program: int | None
    lead_program: int
    comp_pan: float  # −1 (left) … +1 (right); the pad sits on the other side
    levels_db: dict[str, float]

    @property
    def name(self) -> str:
        key = pretty_midi.note_number_to_name(self.tonic + 60)[:-1]
        return f"song{self.seed}-{key}{'m' if self.mode == 'minor' else ''}-{self.groove}"

    @classmethod
    def draw(cls, seed: int) -> Song:
        rng = np.random.default_rng(seed)
        mode = "minor" if rng.random() < 0.4 else "major"
        options = PROGRESSIONS[mode]
        groove = GROOVES[seed % len(GROOVES)]  # every groove in the first four songs
        tempo = {"rock": (96, 132), "four_on_floor": (118, 128), "half_time": (70, 90)}.get(
            groove, (84, 112)
        )
        side = 1.0 if rng.random() < 0.5 else -1.0
        return cls(
            seed=seed,
            tempo_bpm=float(rng.integers(*tempo)),
            tonic=int(rng.integers(12)),
            mode=mode,
            groove=groove,
            progression=options[int(rng.integers(len(options)))],
            bass_program=int(rng.choice(BASS_PROGRAMS)),
            comp_program=int(rng.choice(COMP_PROGRAMS)),
            pad_program=int(rng.choice(PAD_PROGRAMS)) if rng.random() < 0.75 else None,
            lead_program=int(rng.choice(LEAD_PROGRAMS)),
            comp_pan=side * float(rng.uniform(0.25, 0.6)),
            levels_db={k: v + float(rng.uniform(-1.5, 1.5)) for k, v in LEVELS_DB.items()},
        )


def _scale(song: Song) -> tuple[int, ...]:
    return MAJOR if song.mode == "major" else MINOR


def _chord(song: Song, degree: int) -> list[int]:
    """Pitch classes of the triad on `degree` (a seventh on the dominant in minor too)."""
    scale = _scale(song)
    tones = [scale[(degree + step) % 7] for step in (0, 2, 4)]
    if song.mode == "minor" and degree == 4:
        tones[1] = (tones[1] + 1) % 12  # harmonic minor's leading tone
    return [(song.tonic + tone) % 12 for tone in tones]


def _voicing(pitch_classes: list[int], low: int = 55) -> list[int]:
    """The chord as close pitches from `low` upwards."""
    return sorted(low + (pc - low) % 12 for pc in pitch_classes)


def _control(inst: pretty_midi.Instrument, number: int, value: int) -> None:
    inst.control_changes.append(pretty_midi.ControlChange(number, value, 0.0))


def _pan(value: float) -> int:
    return round(64 + 63 * max(-1.0, min(1.0, value)))


class _Writer:
    """Notes placed on a beat grid, swung when the groove shuffles."""

    def __init__(self, song: Song, rng: np.random.Generator) -> None:
        self.beat = 60.0 / song.tempo_bpm
        self.swing = song.groove == "shuffle"
        self.rng = rng

    def time(self, beats: float) -> float:
        whole, part = divmod(beats, 1.0)
        if self.swing and abs(part - 0.5) < 1e-9:
            part = 2 / 3
        return (whole + part) * self.beat

    def note(
        self, inst: pretty_midi.Instrument, pitch: int, at: float, length: float, velocity: int
    ) -> None:
        velocity = int(np.clip(velocity + self.rng.integers(-8, 9), 1, 127))
        start, end = self.time(at), self.time(at) + length * self.beat
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=start, end=end))


def _drums(song: Song, w: _Writer, bars: int) -> pretty_midi.Instrument:
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    _control(drums, 91, 20)
    for bar in range(bars):
        t = bar * 4.0
        if bar % 4 == 0:
            w.note(drums, CRASH, t, 1.0, 100)
        if song.groove == "rock":
            for beat in (0, 2, 2.5 if bar % 2 else 3.5):
                w.note(drums, KICK, t + beat, 0.25, 110)
            for beat in (1, 3):
                w.note(drums, SNARE, t + beat, 0.25, 105)
            for eighth in range(8):
                w.note(drums, CLOSED_HAT, t + eighth / 2, 0.25, 85 if eighth % 2 else 100)
        elif song.groove == "four_on_floor":
            for beat in range(4):
                w.note(drums, KICK, t + beat, 0.25, 115)
                w.note(drums, OPEN_HAT, t + beat + 0.5, 0.25, 90)
            for beat in (1, 3):
                w.note(drums, CLAP, t + beat, 0.25, 100)
                w.note(drums, SNARE, t + beat, 0.25, 80)
        elif song.groove == "half_time":
            w.note(drums, KICK, t, 0.25, 110)
            w.note(drums, KICK, t + 1.75, 0.25, 95)
            w.note(drums, SNARE, t + 2, 0.25, 110)
            for sixteenth in range(16):
                w.note(drums, CLOSED_HAT, t + sixteenth / 4, 0.2, 70 + 25 * (sixteenth % 2 == 0))
        else:  # shuffle: ride on the swung eighths
            for beat in (0, 2):
                w.note(drums, KICK, t + beat, 0.25, 105)
            for beat in (1, 3):
                w.note(drums, SNARE, t + beat, 0.25, 100)
            for eighth in range(8):
                w.note(drums, RIDE, t + eighth / 2, 0.3, 80 if eighth % 2 else 95)
            w.note(drums, PEDAL_HAT, t + 1, 0.2, 70)
            w.note(drums, PEDAL_HAT, t + 3, 0.2, 70)
    return drums


def _bass(song: Song, w: _Writer, bars: int) -> pretty_midi.Instrument:
    bass = pretty_midi.Instrument(program=song.bass_program, name="bass")
    _control(bass, 10, _pan(0.0))
    _control(bass, 91, 10)
    for bar in range(bars):
        t = bar * 4.0
        root_pc, _, fifth_pc = _chord(song, song.progression[bar % len(song.progression)])
        root = 28 + (root_pc - 28) % 12  # E1 … D#2
        fifth = root + (fifth_pc - root_pc) % 12
        if song.groove == "rock":
            for eighth in range(8):
                w.note(bass, root + (12 if eighth == 7 else 0), t + eighth / 2, 0.45, 100)
        elif song.groove == "four_on_floor":
            for beat in range(4):
                w.note(bass, root + 12, t + beat + 0.5, 0.4, 105)
        elif song.groove == "half_time":
            w.note(bass, root, t, 1.6, 105)
            w.note(bass, root, t + 1.75, 0.6, 90)
            w.note(bass, fifth, t + 2.5, 1.3, 95)
        else:
            for beat, pitch in enumerate((root, fifth, root + 12, fifth)):
                w.note(bass, pitch, t + beat, 0.9, 100)
    return bass


def _chords(song: Song, w: _Writer, bars: int) -> list[pretty_midi.Instrument]:
    comp = pretty_midi.Instrument(program=song.comp_program, name="comp")
    _control(comp, 10, _pan(song.comp_pan))
    _control(comp, 91, 40)
    parts = [comp]
    pad = None
    if song.pad_program is not None:
        pad = pretty_midi.Instrument(program=song.pad_program, name="pad")
        _control(pad, 10, _pan(-song.comp_pan * 1.3))
        _control(pad, 91, 60)
        parts.append(pad)
    for bar in range(bars):
        t = bar * 4.0
        chord = _voicing(_chord(song, song.progression[bar % len(song.progression)]))
        hits = {
            "rock": ((0, 1.5), (1.5, 1.0), (2.5, 1.5)),
            "four_on_floor": ((0.5, 0.4), (1.5, 0.4), (2.5, 0.4), (3.5, 0.4)),
            "half_time": ((0, 3.5),),
            "shuffle": ((0, 0.9), (1.5, 0.4), (2, 0.9), (3.5, 0.4)),
        }[song.groove]
        for at, length in hits:
            for pitch in chord:
                w.note(comp, pitch, t + at, length, 78)
        if pad is not None:
            for pitch in (chord[0] - 12, *chord):
                w.note(pad, pitch, t, 3.95, 64)
    return parts


def _lead(song: Song, w: _Writer, bars: int) -> pretty_midi.Instrument:
    """Two-bar phrases of chord tones on strong beats and scale steps between, ending on a
    long note, with a breath of half a bar to a bar before the next phrase."""
    lead = pretty_midi.Instrument(program=song.lead_program, name="lead")
    _control(lead, 10, _pan(0.0))
    _control(lead, 91, 50)
    scale = [song.tonic + 60 + octave + step for octave in (-12, 0, 12) for step in _scale(song)]
    singable = [p for p in scale if 57 <= p <= 79]
    position = len(singable) // 2
    for phrase_start in range(0, bars, 2):
        at = phrase_start * 4.0 + (0.0 if phrase_start % 4 == 0 else 0.5)
        end = phrase_start * 4.0 + float(w.rng.choice((6.0, 7.0, 7.5)))
        while at < end:
            chord = _chord(song, song.progression[int(at // 4) % len(song.progression)])
            length = float(w.rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)))
            length = min(length, end - at)
            if at % 1.0 == 0.0:  # a strong beat: the nearest chord tone
                near = [i for i, p in enumerate(singable) if p % 12 in chord]
                position = min(near, key=lambda i: abs(i - position) + w.rng.random())
            else:
                position = int(
                    np.clip(position + w.rng.choice((-2, -1, 1, 2)), 0, len(singable) - 1)
                )
            w.note(lead, singable[position], at, length * 0.95, 92)
            at += length
    return lead


def write_song_midi(song: Song, seconds: float, path: Path, *, dry_lead: bool = False) -> Path:
    """Whole bars lasting about `seconds`; `dry_lead`: the lead alone, without reverb or
    chorus (the same notes)."""
    rng = np.random.default_rng(song.seed + 1_000)
    w = _Writer(song, rng)
    bars = max(2, round(seconds / (4 * w.beat)))
    pm = pretty_midi.PrettyMIDI(initial_tempo=song.tempo_bpm)
    pm.instruments = [
        _drums(song, w, bars),
        _bass(song, w, bars),
        *_chords(song, w, bars),
        _lead(song, w, bars),
    ]
    if dry_lead:
        lead = pm.instruments[-1]
        lead.control_changes = [c for c in lead.control_changes if c.number != 91]
        _control(lead, 91, 0)
        _control(lead, 93, 0)
        pm.instruments = [lead]
    pm.write(str(path))
    return path


@dataclass(frozen=True)
class Track:
    """One song rendered with one SoundFont: its stems (frames, 2) and their sum."""

    name: str
    song: Song
    soundfont: str
    stems: dict[str, np.ndarray]
    mix: np.ndarray

    def write_mix(self, path: Path) -> Path:
        sf.write(str(path), self.mix, SAMPLE_RATE, subtype="FLOAT")
        return path


def _render(midi: Path, soundfont: Path, out_dir: Path) -> dict[str, np.ndarray]:
    """Each part's stereo stem (frames, 2) by its track name."""
    result = render_midi(
        midi,
        out_dir,
        soundfont=soundfont,
        sample_rate=SAMPLE_RATE,
        output=OutputFormat(format="wav", bit_depth=32),
        stems=True,
        stem_effects=True,  # each part's reverb in its own stem: stems sum to the mix
    )
    return {
        part: sf.read(str(path), dtype="float32", always_2d=True)[0]
        for part, path in result.stems.items()
    }


def _fit(audio: np.ndarray, frames: int) -> np.ndarray:
    out = np.zeros((frames, 2), dtype=np.float32)
    out[: min(frames, len(audio))] = audio[:frames]
    return out


def _rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64)) + 1e-20))


def render_track(song: Song, soundfont: Path, seconds: float) -> Track:
    """Render each part to its own stem with `soundfont`, level the stems and sum them."""
    with tempfile.TemporaryDirectory(prefix="cadenza-multitrack-") as tmp:
        root = Path(tmp)
        parts = _render(write_song_midi(song, seconds, root / "song.mid"), soundfont, root / "a")
        dry = _render(
            write_song_midi(song, seconds, root / "dry.mid", dry_lead=True), soundfont, root / "b"
        )["lead"]
    frames = max(len(audio) for audio in parts.values())
    lead, dry = _fit(parts["lead"], frames), _fit(dry, frames)
    parts["lead"] = (lead - dry) + dry.mean(axis=1, keepdims=True)  # stereo effects, mono voice
    stems = {stem: np.zeros((frames, 2), dtype=np.float32) for stem in STEMS}
    for part, audio in parts.items():
        stems[ROLE_OF[part]] += _fit(audio, frames)
    # Level each stem against the drums, then the whole mix to a peak of −1 dBFS.
    drums_db = _rms_db(stems["drums"])
    for stem, audio in stems.items():
        audio *= 10 ** ((drums_db + song.levels_db[stem] - _rms_db(audio)) / 20)
    mix = np.stack(list(stems.values())).sum(axis=0, dtype=np.float32)
    scale = 10 ** (-1 / 20) / max(float(np.abs(mix).max()), 1e-9)
    stems = {stem: (audio * scale).astype(np.float32) for stem, audio in stems.items()}
    mix = np.stack(list(stems.values())).sum(axis=0, dtype=np.float32)
    return Track(f"{song.name}@{soundfont.stem}", song, soundfont.stem, stems, mix)
