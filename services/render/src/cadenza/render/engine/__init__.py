"""The render service's audio engine, free of messaging: MIDI → audio with FluidSynth
(mix and stems in one pass), mixing stems, mastering to a loudness target, export."""

from cadenza.render.engine.export import ExportError, export, zip_stems
from cadenza.render.engine.master import PRESETS, MasterError, MasterResult, master
from cadenza.render.engine.mix import MixError, MixResult, mix_stems
from cadenza.render.engine.render import RenderResult, render_midi
from cadenza.render.engine.score import RenderError
from cadenza.render.engine.soundfonts import DEFAULT_SOUNDFONT, find_soundfonts

__all__ = [
    "DEFAULT_SOUNDFONT",
    "PRESETS",
    "ExportError",
    "MasterError",
    "MasterResult",
    "MixError",
    "MixResult",
    "RenderError",
    "RenderResult",
    "export",
    "find_soundfonts",
    "master",
    "mix_stems",
    "render_midi",
    "zip_stems",
]
