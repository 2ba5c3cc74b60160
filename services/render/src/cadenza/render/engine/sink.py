"""Where rendered blocks go: each stem, the effects return, and their sum (the mix),
written on a background thread so that encoding overlaps synthesis (FluidSynth runs
without holding the GIL). The queue is short, so memory stays flat."""

from __future__ import annotations

import queue
import threading

import numpy as np

from cadenza.audio import AudioWriter

QUEUE_BLOCKS = 8


class Sink:
    def __init__(
        self, mix: AudioWriter, stems: list[AudioWriter], effects: AudioWriter | None
    ) -> None:
        self._mix, self._stems, self._effects = mix, stems, effects
        self._queue: queue.Queue[tuple[np.ndarray, np.ndarray | None] | None]
        self._queue = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._error: BaseException | None = None
        self._discard = False
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name="render-writer", daemon=True
        )
        self._thread.start()
        self.frames = 0
        self.peak = 0.0  # of the mix, linear; final once `finish` returned

    def write(self, dry: np.ndarray, effects: np.ndarray | None, frames: int | None = None) -> None:
        """Queue the first `frames` of (parts, 2, n) dry stems and the (2, n) effects
        return (copied: the caller reuses its buffer)."""
        if self._error is not None:
            raise self._error
        n = dry.shape[-1] if frames is None else frames
        self._queue.put((dry[..., :n].copy(), None if effects is None else effects[:, :n].copy()))
        self.frames += n

    def finish(self) -> None:
        """Wait until everything queued is written; raise what the writer thread hit."""
        self.stop()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the writer thread without writing what is still queued (a failed or
        cancelled render); a no-op after `finish`."""
        self._discard = True
        self.stop()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None and not self._discard:  # else only drain
                try:
                    self._write(*item)
                except BaseException as e:  # handed to the rendering thread
                    self._error = e

    def _write(self, dry: np.ndarray, effects: np.ndarray | None) -> None:
        mix = dry.sum(axis=0) if dry.shape[0] > 1 else dry[0].copy()
        if effects is not None:
            mix += effects
            if self._effects is not None:
                self._effects.write(effects)
        for writer, stem in zip(self._stems, dry, strict=False):
            writer.write(stem)
        self._mix.write(mix)
        self.peak = max(self.peak, float(np.abs(mix).max(initial=0.0)))
