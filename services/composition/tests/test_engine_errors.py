"""Input a blend cannot use fails with BlendError and a sentence that says what is wrong."""

from __future__ import annotations

import io
from functools import partial

import pretty_midi
import pytest

from cadenza.composition.engine import BlendError, BlendParams, SourceSong, blend

# The Markov engine, named (the learned one is the default).
markov = partial(BlendParams, engine="markov")


def midi(*, notes: bool = True, drums_only: bool = False) -> bytes:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    instrument = pretty_midi.Instrument(program=0, is_drum=drums_only, name="Part")
    if notes:
        instrument.notes = [pretty_midi.Note(80, 60 + i, i * 0.5, i * 0.5 + 0.5) for i in range(8)]
    pm.instruments.append(instrument)
    out = io.BytesIO()
    pm.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def two(chorales: list[SourceSong]) -> list[SourceSong]:
    return chorales[:2]


@pytest.mark.parametrize("count", [0, 1, 6])
def test_two_to_five_sources(chorales: list[SourceSong], count: int) -> None:
    sources = (chorales * 2)[:count]
    with pytest.raises(BlendError, match=rf"^a blend needs 2 to 5 source songs; {count} given$"):
        blend(sources, markov())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r'^source 2 \("bad"\) is empty$'),
        (b"RIFF\x00\x00WAVEfmt ", r"^source 2 \(\"bad\"\) is not a Standard MIDI File \(it"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x40\x00\x90",
         r'^source 2 \("bad"\) is a damaged MIDI file'),
        (midi(notes=False), r'^source 2 \("bad"\) has no notes$'),
        (midi(drums_only=True), r'^source 2 \("bad"\) has no pitched notes to learn from'),
    ],
)  # fmt: skip
def test_sources_that_are_not_usable_midi(two: list[SourceSong], data: bytes, message: str) -> None:
    with pytest.raises(BlendError, match=message):
        blend([two[0], SourceSong("bad", data)], markov())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (markov(key="H major"), r'^"H major" is not a key: write a tonic A to G'),
        (markov(key="C dorian"), r'^"C dorian" is not a key'),
        (markov(creativity=2), r"^creativity must be between 0 and 1; 2 was asked for$"),
        (markov(creativity=float("nan")), r"^creativity must be between 0 and 1"),
        (markov(length_bars=0), r"^the length must be 1 to 512 bars; 0 was asked for$"),
        (markov(length_bars=513), r"^the length must be 1 to 512 bars; 513 was"),
        (markov(length_seconds=4), r"^the length must be 5 to 900 seconds; 4 was"),
        (markov(length_seconds=901), r"^the length must be 5 to 900 seconds; 901 was"),
        (markov(length_seconds=900, tempo_bpm=180),
         r"^900 seconds at 180 BPM is 675 bars; the limit is 512$"),
        (markov(length_bars=8, length_seconds=20),
         r"^give the length in bars or in seconds, not both$"),
        (markov(tempo_bpm=400), r"^the tempo must be 40 to 240 BPM; 400 was asked for$"),
        (markov(style="polka"), r"^the style must be one of pop, rock, ballad, folk, dance"),  # type: ignore[arg-type]
        (markov(seed=-1), r"^the seed must be a whole number 0 or more; -1 is not$"),
    ],
)  # fmt: skip
def test_parameters_out_of_range(two: list[SourceSong], params: BlendParams, message: str) -> None:
    with pytest.raises(BlendError, match=message):
        blend(two, params)


def test_a_key_hint_that_is_not_a_key(two: list[SourceSong]) -> None:
    hinted = SourceSong("hinted", two[1].midi, key="Z")
    message = r'^source 2 \("hinted"\) has a key hint that does not parse: "Z" is not a key'
    with pytest.raises(BlendError, match=message):
        blend([two[0], hinted], markov())


def test_blend_error_is_a_value_error() -> None:
    assert issubclass(BlendError, ValueError)
