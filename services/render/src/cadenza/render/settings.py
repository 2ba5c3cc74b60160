"""Render service settings (environment variables; README.md lists them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cadenza.runtime.settings import WorkerSettings


class Settings(WorkerSettings):
    http_port: int = Field(8014, ge=0, le=65535)
    # FluidSynth and the mastering chain are CPU-bound: one command at a time per process.
    concurrency: int = Field(1, ge=1, le=64)
    # Extra folders searched for SoundFonts (.sf2/.sf3), besides /usr/share/sounds/sf2|sf3.
    soundfont_dirs: list[Path] = Field(default_factory=list)
    # Longer MIDI or audio is refused with a reason.
    max_seconds: float = Field(3600.0, gt=0)
    # Where mastering's true-peak oversampling runs: cpu (scipy), cuda (torch on a GPU,
    # the CUDA image), auto (the GPU when torch sees one). FluidSynth is CPU either way.
    device: Literal["cpu", "cuda", "auto"] = "auto"
