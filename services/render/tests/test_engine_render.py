"""MIDI → audio: a stereo mix and one stem per track from one synthesis, the mix equal to
the stems plus the effects return, tails trimmed, timing to the frame, flat memory, and
bad input refused with a sentence."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from scipy.ndimage import maximum_filter1d

from cadenza.contracts.audio_format import OutputFormat
from cadenza.devstack.testing import rms_db
from cadenza.render.engine import (
    DEFAULT_SOUNDFONT,
    RenderError,
    RenderResult,
    find_soundfonts,
    render_midi,
)
from cadenza.render.engine.demo_midi import write_demo_midi

FLOAT_WAV = OutputFormat(format="wav", bit_depth=32)


def read(path: Path) -> np.ndarray:
    data: np.ndarray = sf.read(str(path), dtype="float64", always_2d=True)[0]
    return data.T


def test_mix_and_one_stereo_stem_per_track(band_midi: Path, rendered: RenderResult) -> None:
    midi_end = pretty_midi.PrettyMIDI(str(band_midi)).get_end_time()
    tail = rendered.duration_s - midi_end
    print(f"MIDI ends at {midi_end:.3f} s, tail {tail:.3f} s")
    assert 0.05 < tail <= 3.0  # release and reverb, trimmed at −90 dBFS or 3 s
    assert set(rendered.stems) == {"Piano", "Bass", "Drums"}
    mix_info = sf.info(str(rendered.mix))
    assert (mix_info.channels, mix_info.samplerate) == (2, 44100)
    assert mix_info.frames == round(rendered.duration_s * 44100)
    for name, path in rendered.stems.items():
        info = sf.info(str(path))
        assert path.name == f"{name}.wav"
        assert (info.channels, info.samplerate, info.frames) == (2, 44100, mix_info.frames)
        assert rms_db(read(path)) > -60, f"{name} is (nearly) silent"
    assert [(t["name"], t["program"], t["is_drum"], t["notes"]) for t in rendered.tracks] == [
        (i.name, i.program, i.is_drum, len(i.notes))
        for i in pretty_midi.PrettyMIDI(str(band_midi)).instruments
    ]


def test_mix_is_the_sum_of_the_stems_and_the_effects_return(rendered: RenderResult) -> None:
    assert rendered.effects is not None
    total = sum(read(path) for path in rendered.stems.values()) + read(rendered.effects)
    mix = read(rendered.mix)
    # Each 24-bit file is off by at most half a step (3e-8); five of them add up.
    assert np.abs(mix - total).max() < 1e-6
    assert rms_db(read(rendered.effects)) > -80  # the reverb and chorus are really there
    assert rendered.peak_db == pytest.approx(20 * np.log10(np.abs(mix).max()), abs=0.01)


def test_drum_stem_has_energy(rendered: RenderResult) -> None:
    assert rms_db(read(rendered.stems["Drums"])) > -50


def test_drums_hit_on_their_notes_and_decay(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    kit = pretty_midi.Instrument(program=0, is_drum=True, name="Kit")
    pad = pretty_midi.Instrument(program=89, name="Pad")  # a drum kit on another channel
    pad.notes.append(pretty_midi.Note(velocity=40, pitch=48, start=0.0, end=4.0))
    for hit in range(8):
        pitch = 36 if hit % 2 == 0 else 38  # kick, snare
        kit.notes.append(
            pretty_midi.Note(velocity=110, pitch=pitch, start=hit / 2, end=hit / 2 + 0.1)
        )
    pm.instruments.extend([pad, kit])
    pm.write(str(tmp_path / "kit.mid"))
    result = render_midi(tmp_path / "kit.mid", tmp_path / "out", output=FLOAT_WAV)
    level = np.abs(read(result.stems["Kit"])).max(axis=0)
    for note in kit.notes:
        start = round(note.start * 44100)
        onset = start + int(np.flatnonzero(level[start : start + 4410] > 1e-3)[0])
        hit = level[start : start + 2205].max()  # the first 50 ms
        assert onset - start < 64 + 64, "a hit sounds within two FluidSynth blocks"
        assert level[start + 13230 : start + 19845].max() < 0.25 * hit, "a drum decays"


def test_without_stems_the_mix_is_the_same(
    band_midi: Path, rendered: RenderResult, tmp_path: Path
) -> None:
    alone = render_midi(band_midi, tmp_path, stems=False)
    assert alone.stems == {} and alone.effects is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]
    assert np.abs(read(alone.mix) - read(rendered.mix)).max() < 1e-5


def test_a_preview_is_the_beginning_released_at_its_cut(
    band_midi: Path, rendered: RenderResult, tmp_path: Path
) -> None:
    preview = render_midi(band_midi, tmp_path, stems=False, until_seconds=5.0)
    cut = 5 * preview.sample_rate
    head, full = read(preview.mix), read(rendered.mix)
    assert 5.0 < preview.duration_s < 5.0 + 3.0  # the release rings out, then stops
    assert rendered.duration_s > 12.0
    # Until the cut, the same samples as the whole piece's render.
    assert np.abs(head[:, :cut] - full[:, :cut]).max() < 1e-5
    # After it, the notes die away: the last half second is far quieter than the music
    # at that point of the whole render.
    end = head.shape[1]
    tail = slice(end - preview.sample_rate // 2, end)
    assert rms_db(head[:, tail]) < rms_db(full[:, tail]) - 20


def test_wet_stems_sum_to_the_mix(band_midi: Path, tmp_path: Path) -> None:
    result = render_midi(band_midi, tmp_path, stem_effects=True, output=FLOAT_WAV)
    assert result.effects is None
    total = sum(read(path) for path in result.stems.values())
    assert np.abs(read(result.mix) - total).max() < 1e-5


def test_other_rates_and_formats(band_midi: Path, rendered: RenderResult, tmp_path: Path) -> None:
    result = render_midi(band_midi, tmp_path, sample_rate=48000, output=OutputFormat(format="flac"))
    assert result.mix.name == "mix.flac" and result.sample_rate == 48000
    for path in [result.mix, *result.stems.values()]:
        info = sf.info(str(path))
        assert (info.format, info.samplerate, info.channels) == ("FLAC", 48000, 2)
        assert info.frames == round(result.duration_s * 48000)
    assert result.duration_s == pytest.approx(rendered.duration_s, abs=0.1)


def test_another_soundfont_path_renders(
    band_midi: Path, rendered: RenderResult, tmp_path: Path
) -> None:
    copy = shutil.copy(DEFAULT_SOUNDFONT, tmp_path / "My Font.sf2")
    result = render_midi(band_midi, tmp_path / "out", soundfont=Path(copy), stems=False)
    assert np.abs(read(result.mix) - read(rendered.mix)).max() < 1e-5


def test_known_soundfonts_start_with_the_bundled_default(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_SOUNDFONT, tmp_path / "Other_GM.sf2")
    (tmp_path / "alias.sf2").symlink_to(tmp_path / "Other_GM.sf2")
    (tmp_path / "notes.txt").write_text("not a font")
    fonts = find_soundfonts([tmp_path])
    assert list(fonts) == ["TimGM6mb", "Other_GM"]
    assert fonts["TimGM6mb"] == DEFAULT_SOUNDFONT


def test_a_note_sounds_on_its_frame(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    organ = pretty_midi.Instrument(program=16, name="Organ")
    organ.notes.append(pretty_midi.Note(velocity=110, pitch=69, start=1.0, end=1.5))
    pm.instruments.append(organ)
    pm.write(str(tmp_path / "one.mid"))
    result = render_midi(tmp_path / "one.mid", tmp_path / "out", output=FLOAT_WAV)
    onset = int(np.flatnonzero(np.abs(read(result.mix)).max(axis=0) > 1e-4)[0])
    print(f"note at frame 44100 sounds from frame {onset}")
    assert 44100 <= onset < 44100 + 64 + 32  # FluidSynth's 64-frame block, a short attack


def test_tracks_sharing_a_channel_make_one_stem_and_names_stay_unique(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=1)
    for name, channel, note in [
        ("Lead/Vox", 0, 60),
        ("Lead Vox", 0, 64),  # same channel: the same stem as the track above
        ("Lead Vox", 1, 67),
        ("mix", 2, 72),  # would collide with mix.wav
    ]:
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name))
        track.append(mido.Message("note_on", channel=channel, note=note, velocity=90))
        track.append(mido.Message("note_off", channel=channel, note=note, time=480))
        midi.tracks.append(track)
    midi.save(str(tmp_path / "shared.mid"))
    result = render_midi(tmp_path / "shared.mid", tmp_path / "out")
    assert list(result.stems) == ["Lead_Vox", "Lead_Vox-2", "mix-2"]
    assert [t["notes"] for t in result.tracks] == [2, 1, 1]
    assert all(rms_db(read(p)) > -60 for p in result.stems.values())


def test_a_type_0_file_gets_a_stem_per_channel_named_by_program(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=0)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name="Song")])
    track.append(mido.Message("program_change", channel=3, program=40))
    for channel, note in [(3, 67), (9, 38)]:
        track.append(mido.Message("note_on", channel=channel, note=note, velocity=90))
    track.append(mido.Message("note_off", channel=3, note=67, time=480))
    track.append(mido.Message("note_off", channel=9, note=38))
    midi.tracks.append(track)
    midi.save(str(tmp_path / "type0.mid"))
    result = render_midi(tmp_path / "type0.mid", tmp_path / "out")
    assert list(result.stems) == ["Violin", "Drums"]
    assert [(t["channel"], t["program"], t["is_drum"]) for t in result.tracks] == [
        (4, 40, False),
        (10, 0, True),
    ]


def test_tempo_changes_are_followed(tmp_path: Path) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=1_000_000))  # 60 bpm
    tempo.append(mido.MetaMessage("set_tempo", tempo=333_333, time=4 * 480))  # 180 bpm
    organ = mido.MidiTrack([mido.Message("program_change", program=16)])
    for _ in range(8):
        organ.append(mido.Message("note_on", note=69, velocity=100))
        organ.append(mido.Message("note_off", note=69, time=48))
        organ.append(mido.Message("note_on", note=69, velocity=0, time=480 - 48))
    midi.tracks.extend([tempo, organ])
    midi.save(str(tmp_path / "tempo.mid"))
    result = render_midi(tmp_path / "tempo.mid", tmp_path / "out", output=FLOAT_WAV)
    # The loudest sample of the last 10 ms: an envelope that rises when a note starts.
    level = maximum_filter1d(np.abs(read(result.mix)).max(axis=0), 441, origin=220)
    level = np.concatenate(([0.0], level / level.max()))
    onsets = np.flatnonzero((level[1:] > 0.3) & (level[:-1] <= 0.3))
    expected = [0, 1, 2, 3, 4, 4 + 1 / 3, 4 + 2 / 3, 5]
    assert np.allclose(onsets / 44100, expected, atol=0.01)
    assert 0 < result.duration_s - (5 + 0.1 / 3 + 0.9 / 3) <= 3.0


def test_memory_stays_flat_in_the_length_of_the_piece(tmp_path: Path) -> None:
    midi = write_demo_midi(tmp_path / "long.mid", 120.0, full=False)
    tracemalloc.start()
    try:
        result = render_midi(midi, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_mix = result.duration_s * 44100 * 2 * 4
    print(
        f"peak traced memory {peak / 2**20:.1f} MiB; the mix alone would be {whole_mix / 2**20:.1f}"
    )
    assert peak < whole_mix / 4


def test_progress_rises_to_one_and_a_stop_removes_the_files(
    band_midi: Path, tmp_path: Path
) -> None:
    seen: list[float] = []
    render_midi(band_midi, tmp_path / "a", on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10

    class CancelledError(Exception):
        pass

    calls = 0

    def stop_after_ten_blocks() -> None:
        nonlocal calls
        calls += 1
        if calls > 10:
            raise CancelledError

    with pytest.raises(CancelledError):
        render_midi(band_midi, tmp_path / "b", should_stop=stop_after_ten_blocks)
    assert not list((tmp_path / "b").rglob("*.wav"))


def test_bad_input_is_refused_with_a_reason(band_midi: Path, tmp_path: Path) -> None:
    (tmp_path / "text.mid").write_text("not a midi file at all")
    with pytest.raises(RenderError, match="not a Standard MIDI File"):
        render_midi(tmp_path / "text.mid", tmp_path / "out")

    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(program=0, name="Silent"))
    empty.write(str(tmp_path / "empty.mid"))
    with pytest.raises(RenderError, match="no notes"):
        render_midi(tmp_path / "empty.mid", tmp_path / "out")

    with pytest.raises(RenderError, match="longer than the 0 minutes"):
        render_midi(band_midi, tmp_path / "out", max_seconds=10)

    with pytest.raises(RenderError, match="does not exist"):
        render_midi(band_midi, tmp_path / "out", soundfont=tmp_path / "missing.sf2")

    with pytest.raises(RenderError, match="could not load"):
        render_midi(band_midi, tmp_path / "out", soundfont=band_midi)

    with pytest.raises(RenderError, match="mp3 cannot store"):
        render_midi(
            band_midi, tmp_path / "out", sample_rate=96000, output=OutputFormat(format="mp3")
        )
    assert not list((tmp_path / "out").rglob("*.*"))


def test_a_render_over_its_output_budget_is_refused_before_synthesis(
    band_midi: Path, tmp_path: Path
) -> None:
    from cadenza.render.engine.score import RenderBudgetError

    with pytest.raises(RenderBudgetError, match=r"rendering would write about .* over the limit"):
        render_midi(band_midi, tmp_path / "out", max_output_bytes=100_000)
    assert not list((tmp_path / "out").rglob("*.wav")), "nothing was written"
    # Without stems the same render fits a budget the stems would not.
    small = render_midi(band_midi, tmp_path / "mix", stems=False, max_output_bytes=50 << 20)
    assert small.mix.exists()
