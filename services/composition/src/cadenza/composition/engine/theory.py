"""Keys, scales and chords: parsing key names, spelling, scale degrees, chord qualities and
the mapping of degrees between major and minor.

Pitch classes are ints 0..11 (0 = C). A chord inside the engine is a `Chord`: its root
relative to the key's tonic and its quality, so a progression reads the same in any key
("V7 → I") and becomes absolute only when it is spelled or voiced.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from cadenza.composition.engine.errors import BlendError
from cadenza.music.key_profiles import Mode as Mode  # re-exported: the engine's key modes
from cadenza.music.key_profiles import best_key, key_correlations

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# The usual spelling of each tonic: the key signature with fewer accidentals.
_MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
# Position on the circle of fifths of each major tonic (sharps > 0, flats < 0).
_MAJOR_FIFTHS = (0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5)

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
# What a minor-key melody may use: natural minor and the leading tone (harmonic minor).
MINOR_MELODY_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)

QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
}
QUALITIES = tuple(QUALITY_INTERVALS)
SEVENTHS = ("7", "maj7", "m7")
_SYMBOL_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "7": "7", "maj7": "maj7",
                  "m7": "m7"}  # fmt: skip

# Diatonic (triad, seventh chord) on each root of each mode; minor takes V and vii° from
# harmonic minor, as common-practice and pop minor keys do.
_DIATONIC: dict[Mode, dict[int, tuple[str, str]]] = {
    "major": {0: ("maj", "maj7"), 2: ("min", "m7"), 4: ("min", "m7"), 5: ("maj", "maj7"),
              7: ("maj", "7"), 9: ("min", "m7"), 11: ("dim", "dim")},
    "minor": {0: ("min", "m7"), 2: ("dim", "dim"), 3: ("maj", "maj7"), 5: ("min", "m7"),
              7: ("maj", "7"), 8: ("maj", "maj7"), 10: ("maj", "7"), 11: ("dim", "dim")},
}  # fmt: skip
# Pitch classes (relative to the tonic) that change when a passage moves between modes;
# the others (tonic, 2nd, 4th, 5th, the leading tone) stay.
_TO_MINOR = {4: 3, 9: 8}
_TO_MAJOR = {3: 4, 8: 9, 10: 11}


@dataclass(frozen=True, order=True)
class Key:
    tonic: int  # 0..11
    mode: Mode
    spelling: str = ""  # the tonic as written by whoever named the key; "" for the usual one

    @property
    def tonic_name(self) -> str:
        if self.spelling:
            return self.spelling
        return (_MAJOR_TONICS if self.mode == "major" else _MINOR_TONICS)[self.tonic]

    @property
    def name(self) -> str:
        return f"{self.tonic_name} {self.mode}"

    @property
    def uses_flats(self) -> bool:
        if "b" in self.tonic_name[1:]:
            return True
        if "#" in self.tonic_name[1:]:
            return False
        relative_major = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        return _MAJOR_FIFTHS[relative_major] < 0

    @property
    def midi_key_number(self) -> int:
        """pretty_midi's key number: 0..11 major on C..B, 12..23 minor."""
        return self.tonic + (0 if self.mode == "major" else 12)

    def pitch_name(self, pitch_class: int) -> str:
        """A pitch class spelt in this key: its scale's letters (E# is F# minor's leading tone,
        Bb is C major's bVII)."""
        spelled = _spelled_scale(self.tonic_name, self.tonic, self.mode)
        if pitch_class % 12 in spelled:
            return spelled[pitch_class % 12]
        return (FLAT_NAMES if self.uses_flats else SHARP_NAMES)[pitch_class % 12]

    def melody_scale(self) -> tuple[int, ...]:
        """Absolute pitch classes a melody in this key stays on."""
        degrees = MAJOR_SCALE if self.mode == "major" else MINOR_MELODY_SCALE
        return tuple(sorted((self.tonic + d) % 12 for d in degrees))


_LETTERS = "CDEFGAB"
_ACCIDENTALS = {0: "", 1: "#", 2: "##", 11: "b", 10: "bb"}


# The letter (scale step from the tonic) each interval above the tonic is spelt on: the
# scale's own steps, lowered 2nd, 3rd, 6th and 7th (bII, bIII, bVI, bVII), raised 4th.
_STEP_OF_INTERVAL = (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6)


@functools.cache
def _spelled_scale(tonic_name: str, tonic: int, mode: Mode) -> dict[int, str]:
    """pitch class → name on the letter its interval above the tonic calls for: always for
    the scale (minor with its raised 6th and 7th), for other notes only when that needs a
    plain sharp or flat on a black key (no B#, Cb, E#, Fb, no doubles)."""
    first = _LETTERS.index(tonic_name[0])
    diatonic = set(MAJOR_SCALE if mode == "major" else (*NATURAL_MINOR_SCALE, 9, 11))
    names: dict[int, str] = {}
    for interval, step in enumerate(_STEP_OF_INTERVAL):
        letter = _LETTERS[(first + step) % 7]
        pitch_class = (tonic + interval) % 12
        accidental = _ACCIDENTALS.get((pitch_class - _LETTER_PC[letter]) % 12)
        if accidental is None:
            continue
        plain = len(accidental) <= 1 and letter + accidental not in ("B#", "Cb", "E#", "Fb")
        if interval in diatonic or plain:
            names[pitch_class] = letter + accidental
    return names


_KEY_PATTERN = re.compile(
    r"^\s*([A-Ga-g])\s*(#|♯|b|♭|sharp|flat)?\s*(major|minor|maj|min|m|M)?\s*$"
)
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def hinted_key(
    source: str, key_hint: str | None, mode_hint: Mode | None
) -> tuple[int, Mode | None] | None:
    """A source's key hints as (tonic, mode or None to estimate), None without a key hint;
    BlendError names the `source` when the hint does not parse."""
    if key_hint is None:
        return None
    try:
        hinted, named_mode = parse_key(key_hint)
    except BlendError as e:
        raise BlendError(f"{source} has a key hint that does not parse: {e}") from e
    return hinted.tonic, mode_hint or (hinted.mode if named_mode else None)


def parse_key(text: str, *, default_mode: Mode | None = "major") -> tuple[Key, bool]:
    """("A minor" | "F#" | "Eb major" | "Am") → (Key, whether the text named a mode).

    With no mode in the text the key is `default_mode`'s (major unless told otherwise)."""
    match = _KEY_PATTERN.match(text)
    if not match:
        raise BlendError(
            f'"{text}" is not a key: write a tonic A to G, optionally with # or b,'
            ' then major or minor, e.g. "A minor" or "Eb major"'
        )
    letter, accidental, mode_text = match.groups()
    letter = letter.upper()
    shift = 0
    if accidental in ("#", "♯", "sharp"):
        shift = 1
    elif accidental in ("b", "♭", "flat"):
        shift = -1
    tonic = (_LETTER_PC[letter] + shift) % 12
    spelling = letter + ("#" if shift > 0 else "b" if shift < 0 else "")
    if mode_text is None:
        mode: Mode = default_mode or "major"
    else:
        mode = "minor" if mode_text.lower() in ("minor", "min") or mode_text == "m" else "major"
    return Key(tonic, mode, spelling), mode_text is not None


@dataclass(frozen=True, order=True)
class Chord:
    root: int  # relative to the key's tonic, 0..11
    quality: str  # one of QUALITIES

    def pitch_classes(self, key: Key) -> tuple[int, ...]:
        """Absolute pitch classes, root first."""
        base = (key.tonic + self.root) % 12
        return tuple((base + i) % 12 for i in QUALITY_INTERVALS[self.quality])

    def symbol(self, key: Key) -> str:
        """A lead-sheet symbol: "Am", "F", "G7", "Bdim"."""
        return key.pitch_name(key.tonic + self.root) + _SYMBOL_SUFFIX[self.quality]

    def degree(self, mode: Mode) -> str:
        """A Roman numeral relative to the key: "V7", "iv", "bVII", "vii°"."""
        numeral = (_MAJOR_NUMERALS if mode == "major" else _MINOR_NUMERALS)[self.root]
        if mode == "minor" and self.root == 11 and self.quality != "dim":
            numeral = "#VII"  # vii° is the leading-tone chord; anything else on it is altered
        if self.quality in ("min", "dim", "m7"):
            numeral = numeral.lower()
        suffix = {"dim": "°", "aug": "+", "7": "7", "maj7": "maj7", "m7": "7"}.get(self.quality, "")
        return numeral + suffix


_MAJOR_NUMERALS = ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII")
_MINOR_NUMERALS = ("I", "bII", "II", "III", "#III", "IV", "#IV", "V", "VI", "#VI", "VII", "VII")


def tonic_chord(mode: Mode) -> Chord:
    return Chord(0, "maj" if mode == "major" else "min")


def map_pitch_class(relative: int, source: Mode, target: Mode) -> int:
    """A pitch class relative to the tonic, moved to the same scale degree of the other mode."""
    if source == target:
        return relative % 12
    table = _TO_MINOR if target == "minor" else _TO_MAJOR
    return table.get(relative % 12, relative % 12)


def map_chord(chord: Chord, source: Mode, target: Mode) -> Chord:
    """A chord on a scale degree of `source` as the chord on the same degree of `target`:
    diatonic chords take the target's diatonic quality (I → i, ii → ii°, vi → VI), chromatic
    ones keep theirs."""
    if source == target:
        return chord
    root = map_pitch_class(chord.root, source, target)
    triad, seventh = _DIATONIC[source].get(chord.root, ("", ""))
    natural_v = source == "minor" and chord.root == 7 and chord.quality in ("min", "m7")
    if chord.quality in (triad, seventh) or natural_v:
        target_triad, target_seventh = _DIATONIC[target].get(root, (chord.quality, chord.quality))
        quality = target_seventh if chord.quality in SEVENTHS else target_triad
        return Chord(root, quality)
    return Chord(root, chord.quality)


def estimate_key(profile: np.ndarray, *, tonic: int | None = None) -> Key:
    """The best-correlating key of a 12-bin pitch-class profile (Krumhansl–Schmuckler with
    the profiles the catalog's analysis uses too, see cadenza.music.key_profiles); with
    `tonic` given, only its mode is estimated. Ties go to the lowest tonic, major before
    minor."""
    return Key(*best_key(key_correlations(profile), tonic=tonic))
