"""Effect-chain contracts turned into pedalboard processors that stream block by block.

pedalboard keeps plugin state across calls with `reset=False`, so a streamed chain gives
the same samples as one whole-buffer call, for every plugin but PitchShift: in streaming
mode it outputs silence (spotify/pedalboard#415). PitchShift therefore runs on
overlapping segments with a short crossfade (`OverlapPitchShift`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pedalboard

from cadenza.contracts.effect_chain import Effect, PitchShift

# Plugins run in one pedalboard call (between two checkpoints): a block of 262,144 samples
# through eight of the heaviest (phasers) takes about 0.1 s.
PLUGINS_PER_CALL = 8

PEDALBOARD_CLASSES: dict[str, str] = {
    "gain": "Gain",
    "reverb": "Reverb",
    "delay": "Delay",
    "chorus": "Chorus",
    "phaser": "Phaser",
    "distortion": "Distortion",
    "compressor": "Compressor",
    "limiter": "Limiter",
    "noise_gate": "NoiseGate",
    "highpass_filter": "HighpassFilter",
    "lowpass_filter": "LowpassFilter",
    "high_shelf_filter": "HighShelfFilter",
    "low_shelf_filter": "LowShelfFilter",
    "peak_filter": "PeakFilter",
    "pitch_shift": "PitchShift",
    "bitcrush": "Bitcrush",
    "clipping": "Clipping",
    "invert": "Invert",
}


def to_plugin(effect: Effect) -> pedalboard.Plugin:
    cls = getattr(pedalboard, PEDALBOARD_CLASSES[effect.type])
    plugin: pedalboard.Plugin = cls(**effect.model_dump(exclude={"type"}))
    return plugin


class Stage(Protocol):
    def process(self, block: np.ndarray) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


class StreamingBoard:
    """Plugins whose state carries across blocks: output length equals input length."""

    def __init__(self, plugins: Sequence[pedalboard.Plugin], sample_rate: int) -> None:
        self.board = pedalboard.Pedalboard(list(plugins))
        self.sample_rate = sample_rate
        self.channels = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        self.channels = block.shape[0]
        if block.shape[-1] == 0:
            return block
        out: np.ndarray = self.board(block, self.sample_rate, reset=False)
        return out

    def flush(self) -> np.ndarray:
        return np.zeros((self.channels, 0), dtype=np.float32)


class OverlapPitchShift:
    """PitchShift over segments with `context_s` of real audio on each side.

    Each block is shifted together with the audio around it (so the shifter is primed with
    real signal, not silence), the middle is kept, and `crossfade_s` at each seam blends
    into the previous segment's look-ahead at an offset (within `search_s`) where the two
    agree in phase. Output lags input by one block; `flush` emits it.
    """

    def __init__(
        self,
        semitones: float,
        sample_rate: int,
        *,
        context_s: float = 0.5,
        crossfade_s: float = 0.03,
        search_s: float = 0.015,
    ) -> None:
        self.shifter = pedalboard.Pedalboard([pedalboard.PitchShift(semitones=semitones)])
        self.sample_rate = sample_rate
        self.context = max(1, int(context_s * sample_rate))
        self.crossfade = max(1, min(int(crossfade_s * sample_rate), self.context // 4))
        self.search = max(1, min(int(search_s * sample_rate), self.context // 4))
        self._history: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._tail: np.ndarray | None = None

    def _best_lag(self, shifted: np.ndarray, start: int, length: int) -> int:
        """The offset near `start` where this segment best continues the previous tail.

        Two independently shifted segments disagree in phase; splicing where they agree
        (synchronised overlap-add) avoids the dips a plain crossfade would cause.
        """
        assert self._tail is not None
        tail = self._tail.mean(axis=0)
        n = tail.shape[0]
        low = max(-self.search, -start)
        high = min(self.search, shifted.shape[1] - start - max(length, n))
        if high <= low:
            return 0
        mono = shifted.mean(axis=0)
        window = mono[start + low : start + high + n]
        corr = np.correlate(window, tail, mode="valid")
        energy = np.convolve(window * window, np.ones(n, dtype=np.float32), mode="valid")
        score = corr / np.sqrt(np.maximum(energy, 1e-12))
        # Periodic sound matches at every period: of the near-best offsets take the one
        # closest to the nominal position, so offsets cannot drift from seam to seam
        # (a drift would change the tempo and the pitch).
        lags = np.arange(low, low + score.shape[0])
        good = lags[score >= 0.9 * score.max()]
        return int(good[np.argmin(np.abs(good))])

    def _render(self, lookahead: np.ndarray) -> np.ndarray:
        assert self._pending is not None
        pending = self._pending
        history = (
            self._history
            if self._history is not None
            else np.zeros((pending.shape[0], 0), dtype=np.float32)
        )
        segment = np.concatenate([history, pending, lookahead], axis=1)
        shifted = self.shifter(segment, self.sample_rate, reset=True)
        start, length = history.shape[1], pending.shape[1]
        if self._tail is not None and self._tail.shape[1]:
            start += self._best_lag(shifted, start, length)
        body = np.zeros((pending.shape[0], length), dtype=np.float32)
        available = shifted[:, start : start + length]
        body[:, : available.shape[1]] = available
        if self._tail is not None and self._tail.shape[1]:
            n = min(self._tail.shape[1], length)
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            body[:, :n] = self._tail[:, :n] * (1.0 - ramp) + body[:, :n] * ramp
        end = start + length
        self._tail = np.array(shifted[:, end : end + self.crossfade], dtype=np.float32)
        self._history = np.concatenate([history, pending], axis=1)[:, -self.context :]
        return body

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.shape[-1] == 0:
            return block
        if self._pending is None:
            self._pending = block
            return np.zeros((block.shape[0], 0), dtype=np.float32)
        body = self._render(block[:, : self.context])
        self._pending = block
        return body

    def flush(self) -> np.ndarray:
        if self._pending is None:
            return np.zeros((0, 0), dtype=np.float32)
        body = self._render(np.zeros((self._pending.shape[0], 0), dtype=np.float32))
        self._pending = None
        return body


def _nothing() -> None:
    return None


class ChainProcessor:
    """A whole chain as a sequence of stages; total output length equals total input length.

    `checkpoint` is called before every stage of every block (each plugin but those that run
    together in one pedalboard call): the worker stops a cancelled or over-budget job there,
    never more than one stage's work on one block later."""

    def __init__(
        self,
        chain: Sequence[Effect],
        sample_rate: int,
        checkpoint: Callable[[], None] = _nothing,
    ) -> None:
        self.checkpoint = checkpoint
        self.stages: list[Stage] = []
        run: list[pedalboard.Plugin] = []
        for effect in chain:
            if isinstance(effect, PitchShift):
                if run:
                    self.stages.append(StreamingBoard(run, sample_rate))
                    run = []
                self.stages.append(OverlapPitchShift(effect.semitones, sample_rate))
            else:
                run.append(to_plugin(effect))
                if len(run) == PLUGINS_PER_CALL:  # a checkpoint between groups of plugins
                    self.stages.append(StreamingBoard(run, sample_rate))
                    run = []
        if run:
            self.stages.append(StreamingBoard(run, sample_rate))

    def process(self, block: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            self.checkpoint()
            block = stage.process(block)
        return block

    def flush(self, channels: int) -> np.ndarray:
        """Drain every stage in order, passing each one's remainder through the rest."""
        out = np.zeros((channels, 0), dtype=np.float32)
        for index, stage in enumerate(self.stages):
            remainder = stage.flush()
            if remainder.shape[-1] == 0:
                continue
            for later in self.stages[index + 1 :]:
                remainder = later.process(remainder)
            out = np.concatenate([out, remainder], axis=1)
        return out
