"""A small real arrangement (piano, bass, drums; 12 s) as MIDI, rendered once per session
with stems: the input for the render, mix, master and export tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.render.engine import RenderResult, render_midi
from cadenza.render.engine.demo_midi import write_demo_midi


@pytest.fixture(scope="session")
def band_midi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_midi(tmp_path_factory.mktemp("midi") / "band.mid", 12.0, full=False)


@pytest.fixture(scope="session")
def rendered(band_midi: Path, tmp_path_factory: pytest.TempPathFactory) -> RenderResult:
    return render_midi(band_midi, tmp_path_factory.mktemp("render"))
