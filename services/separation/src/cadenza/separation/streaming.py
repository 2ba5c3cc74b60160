"""Source separation streamed segment by segment, faithful to demucs's `apply_model`.

`apply_model(model, mix, shifts=0, split=True, overlap=...)` cuts the whole mix into
segments at a fixed stride, pads each one to the model's valid length with real audio
around it (or zeros at the edges), runs the model, trims, and overlap-adds the results
with a triangular window; a bag of models does that per sub-model and averages with
per-source weights. This module does the same computation on a stream: input arrives in
blocks, segments run as soon as the audio they need is there, and output frames are
released as soon as no later segment can touch them. Memory is a few segments whatever
the track length, and every segment is a point to report progress, check for
cancellation, or batch with other jobs' segments (see `batching.py`).

Test-time shifts (`apply_model(..., shifts=n)`): demucs runs each model n times on the mix
delayed by a random lead of silence (0 to half a second), drops the lead from the output
and averages. Here each (model, shift) is a track of its own with that `lead`: its segments
sit on a grid that starts `lead` frames before the mix, and its output joins the others'
at the mix's frames. `shift_leads` draws the leads as demucs does, from a seeded generator.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling


class SegmentModel(Protocol):
    """What the stream needs from one model (a demucs model, or a sub-model of a bag)."""

    @property
    def sources(self) -> Sequence[str]: ...

    @property
    def audio_channels(self) -> int: ...

    @property
    def segment_length(self) -> int: ...

    def valid_length(self, length: int) -> int: ...


# Runs sub-model `index` on a padded segment [channels, valid] → [sources, channels, valid].
Submit = Callable[[int, torch.Tensor], "Future[torch.Tensor]"]


def triangle_window(length: int, transition_power: float = 1.0) -> torch.Tensor:
    """demucs's weighting: rises to the middle of the segment, then falls."""
    weight = torch.cat(
        [
            torch.arange(1, length // 2 + 1, dtype=torch.float32),
            torch.arange(length - length // 2, 0, -1, dtype=torch.float32),
        ]
    )
    return (weight / weight.max()) ** transition_power


@dataclass
class _Pending:
    offset: int
    length: int
    future: Future[torch.Tensor]


@dataclass
class _Track:
    """One sub-model's pass over the stream."""

    index: int
    model: SegmentModel
    source_weights: list[float]
    stride: int
    window: torch.Tensor
    inflight: int = 1  # segments this track may have outstanding
    lead: int = 0  # frames of silence before the mix on this track's grid
    next_offset: int = 0  # on the track's grid: the mix's frame f is the grid's f + lead
    pending: deque[_Pending] = field(default_factory=deque)
    acc: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    weight_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(0))

    @property
    def segment_length(self) -> int:
        return self.model.segment_length


class StreamingSeparator:
    """Push normalised model-rate audio in, take finished stems out.

    `push(block)` adds [channels, n] frames; `drain(wait)` schedules every segment whose
    audio is complete, collects finished segments (waiting for them if `wait`, or when more
    than `max_inflight` are outstanding) and returns the frames no later segment can change,
    as [sources, channels, n]. `end()` marks the end of the input; drain until `done`.
    """

    def __init__(
        self,
        models: Sequence[SegmentModel],
        submit: Submit,
        *,
        weights: Sequence[Sequence[float]] | None = None,
        overlap: float = 0.25,
        transition_power: float = 1.0,
        max_inflight: int = 1,
        leads: Sequence[Sequence[int]] | None = None,
    ) -> None:
        """`leads[i]`: the shifts of model i (one track each, averaged); none or `[0]` is
        one pass without a shift. A model's shifts share its `max_inflight` segments and its
        window, so shifts multiply the work, not the segments held in flight."""
        first = models[0]
        self.sources = list(first.sources)
        self.channels = first.audio_channels
        self.submit = submit
        self.max_inflight = max(1, max_inflight)
        self.tracks = []
        for index, model in enumerate(models):
            length = model.segment_length
            mine = list(leads[index]) if leads else [0]
            source_weights = list(weights[index]) if weights else [1.0] * len(self.sources)
            window = triangle_window(length, transition_power)
            for lead in mine:
                self.tracks.append(
                    _Track(
                        index=index,
                        model=model,
                        source_weights=[w / len(mine) for w in source_weights],
                        stride=max(1, int((1 - overlap) * length)),
                        window=window,
                        inflight=max(1, self.max_inflight // len(mine)),
                        lead=lead,
                    )
                )
        for track in self.tracks:
            track.acc = torch.zeros(len(self.sources), self.channels, 0)
            track.weight_sum = torch.zeros(0)
        # Input kept from `_mix_base`; every segment still to run starts after it.
        self._mix = torch.zeros(self.channels, 0)
        self._mix_base = 0
        self._received = 0
        self._ended = False
        self._emitted = 0
        # History kept before the next segment: the widest left padding a segment can take.
        self._history = max(
            max(t.segment_length, t.model.valid_length(t.segment_length)) for t in self.tracks
        )

    @property
    def done(self) -> bool:
        return self._ended and self._emitted >= self._received

    @property
    def emitted(self) -> int:
        return self._emitted

    def push(self, block: torch.Tensor) -> None:
        if self._ended:
            raise RuntimeError("push after end")
        if block.shape[0] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[0]}")
        self._mix = torch.cat([self._mix, block.to(torch.float32)], dim=-1)
        self._received += block.shape[-1]

    def end(self) -> None:
        self._ended = True

    # -- scheduling ---------------------------------------------------------------------

    def _padded(self, start: int, end: int) -> torch.Tensor:
        """Input frames [start, end) in absolute positions, zero outside the track."""
        lo, hi = max(start, 0), min(end, self._received)
        piece = self._mix[:, lo - self._mix_base : hi - self._mix_base]
        return F.pad(piece, (lo - start, end - hi))

    def _schedule(self, track: _Track) -> None:
        length = track.segment_length
        received = self._received + track.lead  # on the track's grid
        while len(track.pending) < track.inflight:
            offset = track.next_offset
            if self._ended and offset >= received:
                return
            chunk = min(length, received - offset) if self._ended else length
            valid = track.model.valid_length(chunk)
            delta = valid - chunk
            start = offset - delta // 2
            end = start + valid
            if not self._ended and end > received:
                return  # wait for more audio
            segment = self._padded(start - track.lead, end - track.lead)
            track.pending.append(_Pending(offset, chunk, self.submit(track.index, segment)))
            track.next_offset += track.stride

    def _collect(self, track: _Track, wait: bool) -> None:
        while track.pending and (wait or track.pending[0].future.done()):
            item = track.pending.popleft()
            out = item.future.result()
            trim = (out.shape[-1] - item.length) // 2
            out = out[..., trim : trim + item.length].to("cpu", torch.float32)
            rel = item.offset - track.lead - self._emitted
            window = track.window[: item.length]
            if rel < 0:  # the part over the lead of silence, before the mix
                out, window, rel = out[..., -rel:], window[-rel:], 0
            needed = rel + out.shape[-1]
            if track.acc.shape[-1] < needed:
                grow = needed - track.acc.shape[-1]
                track.acc = F.pad(track.acc, (0, grow))
                track.weight_sum = F.pad(track.weight_sum, (0, grow))
            track.acc[..., rel:needed] += window * out
            track.weight_sum[rel:needed] += window

    def _final_upto(self, track: _Track) -> int:
        """Frames before this position will not change for this track."""
        if track.pending:
            return max(track.pending[0].offset - track.lead, 0)
        if self._ended and track.next_offset >= self._received + track.lead:
            return self._received
        return max(min(track.next_offset - track.lead, self._received), 0)

    def drain(self, wait: bool = False) -> torch.Tensor:
        for track in self.tracks:
            self._schedule(track)
            self._collect(track, wait=wait or len(track.pending) >= track.inflight)
            self._schedule(track)
        upto = min(self._final_upto(t) for t in self.tracks)
        count = upto - self._emitted
        if count <= 0:
            return torch.zeros(len(self.sources), self.channels, 0)
        total = torch.zeros(len(self.sources), self.channels, count)
        totals = torch.zeros(len(self.sources))
        for track in self.tracks:
            estimate = track.acc[..., :count] / track.weight_sum[:count]
            weights = torch.tensor(track.source_weights, dtype=torch.float32)
            total += estimate * weights[:, None, None]
            totals += weights
            track.acc = track.acc[..., count:]
            track.weight_sum = track.weight_sum[count:]
        self._emitted = upto
        self._trim_input()
        return total / totals[:, None, None]

    def _trim_input(self) -> None:
        keep_from = min(t.next_offset - t.lead for t in self.tracks) - self._history
        drop = keep_from - self._mix_base
        if drop > 0:
            self._mix = self._mix[:, drop:]
            self._mix_base += drop


def shift_leads(samplerates: Sequence[int], shifts: int, seed: int) -> list[list[int]] | None:
    """Each model's leads for `shifts` test-time shifts, drawn as demucs's apply_model draws
    them (`random.randint(0, max_shift)`, half a second at the model's rate; model after
    model, shift after shift) from a generator seeded with `seed`: with demucs's global
    generator seeded alike (and models whose forward pass draws nothing from it), the same
    leads. None for no shift."""
    if shifts <= 0:
        return None
    rng = random.Random(seed)  # noqa: S311 - time shifts, not secrets
    leads = []
    for rate in samplerates:
        max_shift = int(0.5 * rate)
        leads.append([max_shift - rng.randint(0, max_shift) for _ in range(shifts)])
    return leads
