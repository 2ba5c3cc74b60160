"""Plans for the families of models: Demucs and RoFormer (through the shared batcher), and
classical."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import torch
from demucs.apply import BagOfModels

from cadenza.separation.batching import SegmentBatcher
from cadenza.separation.chunked import ChunkStream
from cadenza.separation.classical import ClassicalSeparator
from cadenza.separation.pipeline import Plan
from cadenza.separation.roformer import RoformerRunner
from cadenza.separation.streaming import StreamingSeparator, shift_leads


class DemucsSegments:
    """A demucs model as the stream sees it: its segment length and valid lengths."""

    def __init__(self, model: Any) -> None:  # demucs's models are not typed
        self.model = model
        self.sources = list(model.sources)
        self.samplerate = int(model.samplerate)
        self.audio_channels = int(model.audio_channels)
        self.segment_length = int(model.samplerate * model.segment)

    def valid_length(self, length: int) -> int:
        # As demucs's apply_model does for a segment (split=False, segment=None).
        if hasattr(self.model, "valid_length"):
            return int(self.model.valid_length(length))
        return length


def demucs_plan(
    model: BagOfModels | torch.nn.Module,
    batcher: SegmentBatcher,
    *,
    overlap: float = 0.25,
    max_inflight: int = 1,
    shifts: int = 0,
    seed: int = 0,
) -> Plan:
    """`shifts` test-time shifts (their leads drawn from `seed`, see `streaming`)."""
    if isinstance(model, BagOfModels):
        members = list(model.models)
        weights = [list(w) for w in model.weights]
    else:
        members, weights = [model], None
    segments = [DemucsSegments(member) for member in members]

    def make_stream(_: int, stopped: Callable[[], bool]) -> StreamingSeparator:
        def submit(index: int, segment: torch.Tensor) -> Future[torch.Tensor]:
            return batcher.submit(members[index], segment, stopped)

        leads = shift_leads([m.samplerate for m in segments], shifts, seed)
        return StreamingSeparator(
            segments,
            submit,
            weights=weights,
            overlap=overlap,
            max_inflight=max_inflight,
            leads=leads,
        )

    first = segments[0]
    return Plan(
        sources=tuple(first.sources),
        samplerate=first.samplerate,
        audio_channels=first.audio_channels,
        normalise=True,
        make_stream=make_stream,
    )


def classical_plan(*, overlap: float = 0.25, shifts: int = 0, seed: int = 0) -> Plan:
    def make_stream(samplerate: int, stopped: Callable[[], bool]) -> StreamingSeparator:
        separator = ClassicalSeparator(samplerate)

        def submit(_: int, segment: torch.Tensor) -> Future[torch.Tensor]:
            future: Future[torch.Tensor] = Future()
            with torch.inference_mode():
                future.set_result(separator(segment[None])[0])
            return future

        leads = shift_leads([samplerate], shifts, seed)
        return StreamingSeparator([separator], submit, overlap=overlap, leads=leads)

    return Plan(
        sources=tuple(ClassicalSeparator(44100).sources),
        samplerate=None,
        audio_channels=2,
        normalise=False,
        make_stream=make_stream,
    )


def roformer_plan(
    model: RoformerRunner,
    batcher: SegmentBatcher,
    *,
    overlap: float | None = None,
    max_inflight: int = 1,
) -> Plan:
    """Chunks as the reference inference cuts them: `chunk // num_overlap` apart, or
    `overlap` of a chunk shared with the next when the job says."""
    config = model.config
    chunk = config.chunk_size
    step = chunk // config.num_overlap if overlap is None else max(1, int((1 - overlap) * chunk))

    def make_stream(_: int, stopped: Callable[[], bool]) -> ChunkStream:
        def submit(part: torch.Tensor) -> Future[torch.Tensor]:
            return batcher.submit(model, part, stopped)

        return ChunkStream(
            len(model.sources), model.audio_channels, chunk, step, submit, max_inflight=max_inflight
        )

    return Plan(
        sources=tuple(model.sources),
        samplerate=model.samplerate,
        audio_channels=model.audio_channels,
        normalise=config.normalise,
        make_stream=make_stream,
    )
