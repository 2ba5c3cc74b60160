"""One FluidSynth instance driven offline: a stereo pair per part from one synthesis.

Part i's MIDI channel is mapped onto synth channel i and `synth.audio-groups` is the
number of parts, so FluidSynth mixes each part's voices into a group of its own and
`fluid_synth_process` returns them as separate buffers (see render.py for the why).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import fluidsynth
import numpy as np

from cadenza.render.engine import fluid
from cadenza.render.engine.score import (
    CHANNEL_PRESSURE,
    CONTROL,
    DRUM_CHANNEL,
    KEY_PRESSURE,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    PROGRAM,
    Part,
    RenderError,
)

BLOCK_FRAMES = 4096


class Synth:
    """One FluidSynth rendering into a (rows, BLOCK_FRAMES) float32 buffer: rows 2i and
    2i+1 are part i's stereo pair (or the whole dry mix when stems are off), the last two
    the shared effects return (absent when every part has its own effects)."""

    def __init__(
        self,
        soundfont: Path,
        sample_rate: int,
        gain: float,
        parts: list[Part],
        stems: bool,
        stem_effects: bool,
    ) -> None:
        groups = len(parts) if stems else 1
        self._own_fx = stem_effects and stems
        fx_units = groups if self._own_fx else 1
        self.groups = groups
        self.synth = fluidsynth.Synth(
            gain=gain,
            samplerate=sample_rate,
            channels=16,
            **{
                "synth.audio-groups": groups,
                "synth.audio-channels": groups,
                "synth.effects-groups": fx_units,
                "synth.threadsafe-api": 0,  # one thread drives it
            },
        )
        self.handle = ctypes.c_void_p(self.synth.synth)
        fluid.quiet_logs()
        if fluid.sfload(self.handle, str(soundfont).encode(), 1) < 0:
            self.delete()
            raise RenderError(f"FluidSynth could not load {soundfont.name} as a SoundFont")
        # Part i plays on synth channel i; the drum part keeps its drum kit (bank 128).
        self.channel_of = {part.channel: index for index, part in enumerate(parts)}
        for part, index in self.channel_of.items():
            kind = fluid.CHANNEL_TYPE_DRUM if part == DRUM_CHANNEL else fluid.CHANNEL_TYPE_MELODIC
            fluid.set_channel_type(self.handle, index, kind)
            fluid.program_change(self.handle, index, 0)

        rows = 2 * groups + (0 if self._own_fx else 2)
        self.buffer = np.zeros((rows, BLOCK_FRAMES), dtype=np.float32)
        addresses = [self.buffer[row].ctypes.data for row in range(rows)]
        if self._own_fx:  # unit i's reverb L/R and chorus L/R onto part i's pair
            fx = [addresses[2 * i + side] for i in range(fx_units) for side in (0, 1, 0, 1)]
        else:  # reverb and chorus summed into the last pair
            fx = [addresses[-2], addresses[-1]] * 2
        # out[] then fx[], as one array of addresses; each call adds the frame offset.
        self._pointers = np.array(addresses[: 2 * groups] + fx, dtype=np.uint64)
        self._nout = 2 * groups
        self._nfx = len(fx)
        self.pos = 0

    def render(self, frames: int) -> None:
        """Synthesize `frames` (≤ the room left in the buffer) at the buffer position."""
        shifted = self._pointers + np.uint64(self.pos * 4)
        out = shifted.ctypes.data
        status = fluid.process(
            self.handle, frames, self._nfx, out + self._nout * 8, self._nout, out
        )
        if status != 0:
            raise RenderError("FluidSynth failed to synthesize a block")
        self.pos += frames

    def take(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The rendered frames: (parts, 2, n) dry stems and the (2, n) effects return."""
        n = self.pos
        dry = self.buffer[: 2 * self.groups, :n].reshape(self.groups, 2, n)
        effects = None if self._own_fx else self.buffer[2 * self.groups :, :n]
        return dry, effects

    def clear(self) -> None:
        self.buffer.fill(0.0)  # fluid_synth_process adds into the buffers
        self.pos = 0

    def send(self, kind: int, channel: int, a: int, b: int) -> None:
        handle = self.handle
        if kind == NOTE_ON:
            fluid.noteon(handle, channel, a, b)
        elif kind == NOTE_OFF:
            fluid.noteoff(handle, channel, a)
        elif kind == CONTROL:
            fluid.cc(handle, channel, a, b)
        elif kind == PROGRAM:
            fluid.program_change(handle, channel, a)
        elif kind == PITCH_BEND:
            fluid.pitch_bend(handle, channel, a)
        elif kind == CHANNEL_PRESSURE:
            fluid.channel_pressure(handle, channel, a)
        elif kind == KEY_PRESSURE:
            fluid.key_pressure(handle, channel, a, b)

    def delete(self) -> None:
        if self.synth is not None:
            self.synth.delete()
            self.synth = None
