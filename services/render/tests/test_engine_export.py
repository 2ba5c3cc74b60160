"""Export re-encodes into every output format with the length kept; the stems ZIP holds
every stem under its name, deflating only what shrinks."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cadenza.contracts.audio_format import OutputFormat
from cadenza.render.engine import ExportError, RenderResult, export, zip_stems

FORMATS = {
    "wav16": OutputFormat(format="wav", bit_depth=16),
    "wav24": OutputFormat(format="wav", bit_depth=24),
    "float": OutputFormat(format="wav", bit_depth=32),
    "flac": OutputFormat(format="flac"),
    "mp3": OutputFormat(format="mp3"),
    "ogg": OutputFormat(format="ogg"),
}
SUBTYPES = {"wav16": "PCM_16", "wav24": "PCM_24", "float": "FLOAT", "flac": "PCM_24"}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_decodes_back_with_the_same_duration(
    rendered: RenderResult, name: str, tmp_path: Path
) -> None:
    output = FORMATS[name]
    dst = export(rendered.mix, tmp_path / f"mix.{output.extension}", output)
    info = sf.info(str(dst))
    decoded, rate = sf.read(str(dst), dtype="float32", always_2d=True)
    assert (rate, decoded.shape[1]) == (44100, 2)
    # MP3 frames are 1152 samples: the decoder may hand back a little padding.
    assert abs(len(decoded) / rate - rendered.duration_s) < (0.03 if name == "mp3" else 1e-9)
    if name in SUBTYPES:
        assert info.subtype == SUBTYPES[name]
        original, _ = sf.read(str(rendered.mix), dtype="float32")
        step = {"wav16": 2**-15, "float": 1e-9}.get(name, 2**-23)
        assert np.abs(decoded - original).max() <= step


def test_mp3_refuses_rates_it_cannot_store(tmp_path: Path) -> None:
    sf.write(str(tmp_path / "hi.wav"), np.zeros((9600, 2), np.float32), 96000)
    with pytest.raises(ExportError, match="mp3 cannot store 96000 Hz"):
        export(tmp_path / "hi.wav", tmp_path / "hi.mp3", OutputFormat(format="mp3"))


def test_zip_holds_every_stem_deflating_only_what_shrinks(
    rendered: RenderResult, tmp_path: Path
) -> None:
    quiet = tmp_path / "Quiet.wav"  # a stem that plays for 1 s of 10: deflates well
    audio = np.zeros((441000, 2), np.float32)
    audio[:44100] = np.random.default_rng(0).standard_normal((44100, 2)) * 0.1
    sf.write(str(quiet), audio, 44100, subtype="PCM_24")
    flac = export(rendered.stems["Piano"], tmp_path / "Piano.flac", FORMATS["flac"])
    stems = {**{f"{k}.wav": v for k, v in rendered.stems.items()}, "Quiet": quiet, "Piano": flac}
    archive = zip_stems(stems, tmp_path / "stems.zip")
    with zipfile.ZipFile(archive) as z:
        infos = {i.filename: i for i in z.infolist()}
        assert set(infos) == {"Piano.wav", "Bass.wav", "Drums.wav", "Quiet.wav", "Piano.flac"}
        assert infos["Quiet.wav"].compress_type == zipfile.ZIP_DEFLATED
        assert infos["Quiet.wav"].compress_size < infos["Quiet.wav"].file_size / 4
        assert infos["Piano.flac"].compress_type == zipfile.ZIP_STORED
        for name, path in stems.items():
            arcname = name if "." in name else f"{name}{path.suffix}"
            assert z.read(arcname) == path.read_bytes()


def test_zip_refuses_two_stems_with_one_name(rendered: RenderResult, tmp_path: Path) -> None:
    piano = rendered.stems["Piano"]
    with pytest.raises(ExportError, match=r"both be called 'piano\.wav'"):
        zip_stems({"Piano": piano, "piano.wav": piano}, tmp_path / "s.zip")
