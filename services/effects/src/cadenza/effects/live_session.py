"""One live session: PCM blocks in, the same blocks through the chain out, with the plugins'
state (reverb tails, delay lines) carried from block to block, and parameter changes ramped
across the next block so that they do not click."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import numpy as np
import pedalboard
from pydantic import TypeAdapter

from cadenza.contracts.effect_chain import Effect
from cadenza.contracts.effect_costs import chain_memory_bytes, memory_problem
from cadenza.contracts.live import (
    LiveFormat,
    LiveOpen,
    ReplaceChain,
    SetParams,
    live_problems,
    updated_effect,
)
from cadenza.effects.chain import to_plugin

EFFECT = TypeAdapter(Effect)
# A parameter change is spread over the next block: gain sample by sample, the others in up
# to RAMP_STEPS steps of at least MIN_STEP_FRAMES (a 10 ms block at 48 kHz: 30 steps of
# 16 frames).
RAMP_STEPS = 32
MIN_STEP_FRAMES = 16


class LiveInputError(ValueError):
    """A block or control that cannot be used; the message says why, for the client."""


class NoRoomError(LiveInputError):
    """This worker holds too much for the chain asked for; another one may have room."""


class LiveSession:
    """`max_memory_bytes` bounds what the chain may hold (delay lines above all), checked
    at open and at every change of the chain; `room` says how much more the worker can
    give this session beyond what it holds now."""

    def __init__(
        self,
        request: LiveOpen,
        *,
        max_memory_bytes: int | None = None,
        room: Callable[[LiveSession | None], int] | None = None,
    ) -> None:
        problems = live_problems(list(request.chain), request.format.sample_rate)
        if problems:
            raise LiveInputError("; ".join(problems))
        self.id: uuid.UUID = request.session_id
        self.owner = request.owner
        self.format: LiveFormat = request.format
        self.max_memory_bytes = max_memory_bytes
        self.room = room
        self.memory_bytes = 0
        self.memory_bytes = self._memory_for(list(request.chain))
        self.chain: list[Effect] = list(request.chain)
        self.plugins = [to_plugin(e) for e in self.chain]
        # (plugin index, parameter) → (value now, value to reach over the next block)
        self._ramps: dict[tuple[int, str], tuple[float, float]] = {}
        self.blocks = 0
        self.last_active = time.monotonic()

    # --- audio ---------------------------------------------------------------------------

    def process(self, data: bytes) -> bytes:
        self.last_active = time.monotonic()
        audio = self._decode(data)
        rate = self.format.sample_rate
        for index, plugin in enumerate(self.plugins):
            ramps = {name: ends for (i, name), ends in self._ramps.items() if i == index}
            if not ramps:
                audio = plugin(audio, rate, reset=False)
            elif isinstance(plugin, pedalboard.Gain):
                audio = self._gain_ramp(plugin, audio, *ramps["gain_db"])
            else:
                audio = self._stepped(plugin, audio, ramps)
        self._ramps.clear()
        self.blocks += 1
        return self._encode(audio)

    @staticmethod
    def _gain_ramp(
        plugin: pedalboard.Gain, audio: np.ndarray, start_db: float, end_db: float
    ) -> np.ndarray:
        """A gain change as a per-sample ramp across the block: no step, no click."""
        frames = audio.shape[1]
        start, end = 10 ** (start_db / 20), 10 ** (end_db / 20)
        envelope = np.linspace(start, end, frames + 1, dtype=np.float32)[1:]
        plugin.gain_db = end_db
        ramped: np.ndarray = audio * envelope
        return ramped

    def _stepped(
        self, plugin: pedalboard.Plugin, audio: np.ndarray, ramps: dict[str, tuple[float, float]]
    ) -> np.ndarray:
        """Other parameters move in small steps across the block (JUCE's plugins smooth
        their own levels within each step)."""
        frames = audio.shape[1]
        steps = max(1, min(RAMP_STEPS, frames // MIN_STEP_FRAMES))
        bounds = np.linspace(0, frames, steps + 1).astype(int)
        parts = []
        for step in range(steps):
            share = (step + 1) / steps
            for name, (start, end) in ramps.items():
                setattr(plugin, name, start + (end - start) * share)
            chunk = audio[:, bounds[step] : bounds[step + 1]]
            parts.append(plugin(chunk, self.format.sample_rate, reset=False))
        return np.concatenate(parts, axis=1)

    def _decode(self, data: bytes) -> np.ndarray:
        if len(data) != self.format.block_bytes:
            raise LiveInputError(
                f"a block of {len(data)} bytes; this session takes "
                f"{self.format.block_bytes} ({self.format.block_frames} frames × "
                f"{self.format.channels} channels × {self.format.bytes_per_sample} bytes)"
            )
        channels = self.format.channels
        if self.format.sample_format == "float32":
            samples = np.frombuffer(data, dtype="<f4")
        else:
            samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        return np.ascontiguousarray(samples.reshape(-1, channels).T, dtype=np.float32)

    def _encode(self, audio: np.ndarray) -> bytes:
        interleaved = audio.T
        if self.format.sample_format == "float32":
            return np.ascontiguousarray(interleaved, dtype="<f4").tobytes()
        scaled = np.clip(np.round(interleaved * 32768.0), -32768, 32767)
        return scaled.astype("<i2").tobytes()

    def close(self) -> None:
        """Let go of the plugins (and their delay lines) now: the subscription that delivered
        this session's blocks may keep the session itself alive until the cycle collector
        runs, and with it hundreds of megabytes."""
        self.plugins = []
        self._ramps.clear()

    # --- memory --------------------------------------------------------------------------

    def _memory_for(self, chain: list[Effect]) -> int:
        """What `chain` needs in this session's format; LiveInputError past a limit."""
        rate, channels, block = (
            self.format.sample_rate,
            self.format.channels,
            self.format.block_frames,
        )
        needs = chain_memory_bytes(chain, rate, channels, block)
        if self.max_memory_bytes is not None and (
            problem := memory_problem(chain, rate, channels, block, self.max_memory_bytes)
        ):
            index, sentence = problem
            raise LiveInputError(f"chain.{index}: {sentence} per live session; shorten its delays")
        if self.room is not None and needs - self.memory_bytes > self.room(self):
            raise NoRoomError(
                "this effects worker has no room for a chain that large now; "
                "use shorter delays, or try again shortly"
            )
        return needs

    # --- control -------------------------------------------------------------------------

    def apply(self, control: SetParams | ReplaceChain) -> None:
        self.last_active = time.monotonic()
        if isinstance(control, SetParams):
            self._set(control.index, control.params)
        else:
            self._replace(list(control.chain))

    def _set(self, index: int, params: dict[str, float | int | bool]) -> None:
        if index >= len(self.chain):
            raise LiveInputError(f"index: the chain has {len(self.chain)} effects, not {index + 1}")
        try:
            effect = EFFECT.validate_python(updated_effect(self.chain[index], params))
        except ValueError as e:
            raise LiveInputError(f"chain.{index}: {e}") from e
        if problems := live_problems([effect], self.format.sample_rate):
            raise LiveInputError(
                "; ".join(p.replace("chain.0", f"chain.{index}") for p in problems)
            )
        changed = [*self.chain[:index], effect, *self.chain[index + 1 :]]
        self.memory_bytes = self._memory_for(changed)
        self._ramp_to(index, effect)
        self.chain[index] = effect

    def _replace(self, chain: list[Effect]) -> None:
        if problems := live_problems(chain, self.format.sample_rate):
            raise LiveInputError("; ".join(problems))
        self.memory_bytes = self._memory_for(chain)
        plugins = []
        for index, effect in enumerate(chain):
            if index < len(self.chain) and self.chain[index].type == effect.type:
                self._ramp_to(index, effect)  # same place, same kind: keep its state
                plugins.append(self.plugins[index])
            else:
                plugins.append(to_plugin(effect))
        self._ramps = {k: v for k, v in self._ramps.items() if k[0] < len(chain)}
        self.chain, self.plugins = chain, plugins

    def _ramp_to(self, index: int, effect: Effect) -> None:
        plugin = self.plugins[index]
        for name, value in effect.model_dump(exclude={"type"}).items():
            now = float(getattr(plugin, name))
            if float(value) != now:
                self._ramps[(index, name)] = (now, float(value))
