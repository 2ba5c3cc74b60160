"""The RoFormer reference inference's chunking, on a stream.

The reference (`demix` in ZFTurbo's Music-Source-Separation-Training, which UVR and
python-audio-separator follow) separates a whole track like this: with `step = chunk //
num_overlap` and `border = chunk - step`, the track is mirrored by `border` frames at both
ends (reflect padding, when it is longer than two borders); chunks start every `step`
frames; a chunk cut short by the end is padded to full size, mirrored when more than half
of it is audio, with zeros otherwise; each output is weighted by a window that fades in and
out linearly over a tenth of the chunk (the first chunk does not fade in; the last one,
unless it is also the first, does not fade out), summed, divided by the summed weights
(0/0 is 0), and the border cut off again.

`ChunkStream` computes the same on a stream: chunks run as soon as their audio is there
(the end's mirror and short chunks once the input has ended), and frames are released as
soon as no later chunk can touch them, so memory is a few chunks whatever the length. The
reference's batches of more than one chunk fade the whole batch as its last chunk (a quirk
of its loop); this is the reference with batches of one, which is what it means.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling

# Runs the model on one chunk [channels, chunk] → [sources, channels, chunk].
ChunkSubmit = Callable[[torch.Tensor], "Future[torch.Tensor]"]


def fade_window(chunk: int, fade: int) -> torch.Tensor:
    """Ones, rising linearly from 0 over the first `fade` frames, falling to 0 over the last."""
    window = torch.ones(chunk)
    window[-fade:] = torch.linspace(1, 0, fade)
    window[:fade] = torch.linspace(0, 1, fade)
    return window


@dataclass
class _Pending:
    start: int  # in padded frames
    length: int
    window: torch.Tensor
    future: Future[torch.Tensor]


class ChunkStream:
    """Push model-rate audio [channels, n] in, take finished stems [sources, channels, n]
    out; the same interface as `StreamingSeparator`."""

    def __init__(
        self,
        sources: int,
        channels: int,
        chunk: int,
        step: int,
        submit: ChunkSubmit,
        *,
        max_inflight: int = 1,
    ) -> None:
        if not 0 < step <= chunk or chunk < 10:
            raise ValueError(f"step {step} does not fit chunk {chunk}")
        self.sources = sources
        self.channels = channels
        self.chunk = chunk
        self.step = step
        self.border = chunk - step
        self.fade = chunk // 10
        self.window = fade_window(chunk, self.fade)
        self.submit = submit
        self.max_inflight = max(1, max_inflight)
        self.pending: deque[_Pending] = deque()
        self._mix = torch.zeros(channels, 0)
        self._mix_base = 0  # the mix frame _mix starts at
        self._received = 0
        self._ended = False
        # Whether the track is mirrored at its ends: known once it is longer than two
        # borders, or when it ends.
        self._mirrored: bool | None = False if self.border == 0 else None
        self._next = 0  # the next chunk's start, in padded frames
        self._acc = torch.zeros(sources, channels, 0)
        self._weight = torch.zeros(0)
        self._acc_base = 0  # the padded frame _acc starts at
        self._emitted = 0

    @property
    def done(self) -> bool:
        return self._ended and self._emitted >= self._received

    @property
    def emitted(self) -> int:
        return self._emitted

    @property
    def _offset(self) -> int:
        return self.border if self._mirrored else 0

    @property
    def _padded_length(self) -> int:
        return self._received + 2 * self._offset

    def push(self, block: torch.Tensor) -> None:
        if self._ended:
            raise RuntimeError("push after end")
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        self._mix = torch.cat([self._mix, block.to(torch.float32)], dim=-1)
        self._received += block.shape[-1]
        if self._mirrored is None and self._received > 2 * self.border:
            self._mirrored = True

    def end(self) -> None:
        self._ended = True
        if self._mirrored is None:
            self._mirrored = False

    def _mix_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """The padded track at these padded positions (mirrored beyond the mix's ends)."""
        position = frames - self._offset
        last = self._received - 1
        position = torch.where(position < 0, -position, position)
        position = torch.where(position > last, 2 * last - position, position)
        return self._mix[:, position - self._mix_base]

    def _schedule(self) -> None:
        if self._mirrored is None:
            return  # too early to know where the chunks lie
        while len(self.pending) < self.max_inflight:
            start = self._next
            known = self._received + self._offset  # padded frames whose audio is known
            if not self._ended:
                # A frame past the chunk must be known: a chunk that ends the track is
                # the last one, which does not fade out.
                if start + self.chunk >= known:
                    return  # wait for more audio
                length = self.chunk
            else:
                total = self._padded_length
                if start >= total:
                    return
                length = min(self.chunk, total - start)
            part = self._mix_frames(torch.arange(start, start + length))
            if length < self.chunk:
                mode = "reflect" if length > self.chunk // 2 else "constant"
                part = F.pad(part, (0, self.chunk - length), mode=mode)
            window = self.window
            if start == 0:
                window = window.clone()
                window[: self.fade] = 1
            elif self._ended and start + self.step >= self._padded_length:
                window = window.clone()
                window[-self.fade :] = 1
            self.pending.append(_Pending(start, length, window, self.submit(part)))
            self._next += self.step

    def _collect(self, wait: bool) -> None:
        while self.pending and (wait or self.pending[0].future.done()):
            item = self.pending.popleft()
            out = item.future.result()[..., : item.length].to("cpu", torch.float32)
            window = item.window[: item.length]
            rel = item.start - self._acc_base
            needed = rel + item.length
            if self._acc.shape[-1] < needed:
                grow = needed - self._acc.shape[-1]
                self._acc = F.pad(self._acc, (0, grow))
                self._weight = F.pad(self._weight, (0, grow))
            self._acc[..., rel:needed] += out * window
            self._weight[rel:needed] += window

    def _final_upto(self) -> int:
        """Mix frames before this one will not change."""
        if self._mirrored is None:
            return 0
        if self.pending:
            padded = self.pending[0].start
        elif self._ended and self._next >= self._padded_length:
            return self._received
        else:
            padded = self._next
        return max(0, min(padded - self._offset, self._received))

    def drain(self, wait: bool = False) -> torch.Tensor:
        self._schedule()
        self._collect(wait=wait or len(self.pending) >= self.max_inflight)
        self._schedule()
        upto = self._final_upto()
        count = upto - self._emitted
        if count <= 0:
            return torch.zeros(self.sources, self.channels, 0)
        first = self._emitted + self._offset - self._acc_base
        acc = self._acc[..., first : first + count]
        out = torch.nan_to_num(acc / self._weight[first : first + count], nan=0.0)
        drop = first + count
        self._acc, self._weight = self._acc[..., drop:], self._weight[drop:]
        self._acc_base += drop
        self._emitted = upto
        self._trim_input()
        return out

    def _trim_input(self) -> None:
        """Keep what a later chunk can read: from the next chunk's first frame, and the last
        `border` frames (the mirror at the end)."""
        keep_from = max(0, min(self._next - self._offset, self._received - self.border - 1))
        drop = keep_from - self._mix_base
        if drop > 0:
            self._mix = self._mix[:, drop:]
            self._mix_base += drop
