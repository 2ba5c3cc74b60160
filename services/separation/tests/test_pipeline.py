"""Files in, stem files out: every stem has the input's length, rate and channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cadenza.contracts import OutputFormat
from cadenza.devstack.testing import write_noise
from cadenza.separation.batching import SegmentBatcher
from cadenza.separation.models import Catalog, LoadedModels
from cadenza.separation.pipeline import SeparationInputError, separate_file
from cadenza.separation.separators import classical_plan, demucs_plan


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedModels:
    return LoadedModels(Catalog((model_dir,)), torch.device("cpu"), capacity=3)


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [(44100, 2, "wav"), (48000, 1, "flac"), (22050, 2, "ogg"), (32000, 1, "mp3")],
)
def test_stems_keep_the_inputs_length_rate_and_channels(
    tmp_path: Path,
    loaded: LoadedModels,
    batcher: SegmentBatcher,
    rate: int,
    channels: int,
    fmt: str,
) -> None:
    source = tmp_path / "in.wav"
    frames = int(rate * 4.37)
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, (frames, channels)).astype(np.float32)
    sf.write(str(source), noise, rate)
    plan = demucs_plan(loaded.get("htdemucs"), batcher)
    outputs = {stem: tmp_path / f"{stem}.{fmt}" for stem in ("vocals", "bass")}
    result = separate_file(source, outputs, plan, OutputFormat(format=fmt))
    assert (result.frames, result.sample_rate, result.channels) == (frames, rate, channels)
    for path in outputs.values():
        info = sf.info(str(path))
        assert (info.samplerate, info.channels) == (rate, channels)
        if fmt in ("wav", "flac"):
            assert info.frames == frames
        else:
            assert info.duration == pytest.approx(frames / rate, abs=0.06)


def test_progress_is_frequent_and_reaches_one(
    tmp_path: Path, loaded: LoadedModels, batcher: SegmentBatcher
) -> None:
    source = write_noise(tmp_path / "in.wav", 12.0)
    seen: list[float] = []
    plan = demucs_plan(loaded.get("htdemucs"), batcher)
    separate_file(
        source, {"drums": tmp_path / "d.wav"}, plan, OutputFormat(), on_progress=seen.append
    )
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert len({round(p, 3) for p in seen}) >= 6, "one step per segment at least"


class CancelledError(Exception):
    pass


def test_work_stops_when_progress_raises(
    tmp_path: Path, loaded: LoadedModels, batcher: SegmentBatcher
) -> None:
    source = write_noise(tmp_path / "in.wav", 30.0)
    calls = 0

    def cancel_soon(_: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise CancelledError

    plan = demucs_plan(loaded.get("htdemucs"), batcher)
    with pytest.raises(CancelledError):
        separate_file(
            source, {"drums": tmp_path / "d.wav"}, plan, OutputFormat(), on_progress=cancel_soon
        )
    assert calls == 3


def test_more_than_two_channels_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "surround.wav"
    sf.write(str(source), np.zeros((44100, 6), dtype=np.float32), 44100)
    with pytest.raises(SeparationInputError, match="mono or stereo audio; this file has 6"):
        separate_file(source, {"drums": tmp_path / "d.wav"}, classical_plan(), OutputFormat())


def test_a_stem_the_model_lacks_is_refused(tmp_path: Path) -> None:
    source = write_noise(tmp_path / "in.wav", 1.0)
    with pytest.raises(SeparationInputError, match="no guitar stem"):
        separate_file(source, {"guitar": tmp_path / "g.wav"}, classical_plan(), OutputFormat())


def test_a_track_shorter_than_a_segment(
    tmp_path: Path, loaded: LoadedModels, batcher: SegmentBatcher
) -> None:
    source = tmp_path / "blip.wav"
    sf.write(str(source), np.full((300, 2), 0.1, dtype=np.float32), 44100)
    plan = demucs_plan(loaded.get("htdemucs_ft"), batcher)
    separate_file(source, {"vocals": tmp_path / "v.wav"}, plan, OutputFormat())
    assert sf.info(str(tmp_path / "v.wav")).frames == 300
