"""The composition worker: `composition.requested` in (2–5 catalog songs' MIDI), a new
piece out: `blend.mid`, `blend.musicxml` and `summary.json`, then `composition.completed`
with the summary in its details."""

from __future__ import annotations

import asyncio
import json
import threading
from functools import partial

from cadenza.composition.engine import BlendError, BlendParams, SourceSong, blend
from cadenza.composition.settings import Settings
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.composition import (
    CompositionCompleted,
    CompositionRequested,
    longest_duration_s,
)
from cadenza.contracts.consumers import COMPOSITION_CONSUMER
from cadenza.runtime.artifacts import artifact_ref, input_file
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import object_key
from cadenza.runtime.worker import JobRun, PermanentError

MUSICXML = "application/vnd.recordare.musicxml+xml"
# The largest source MIDI file read (a song's MIDI is kilobytes; this is a bound, not a norm).
MAX_SOURCE_BYTES = 16 * 1024 * 1024


async def read_source(runtime: WorkerRuntime, ref: ArtifactRef, title: str) -> bytes:
    if ref.bytes > MAX_SOURCE_BYTES:
        raise PermanentError(f"the MIDI of {title!r} is too large ({ref.bytes} bytes)")
    async with input_file(runtime.store, ref, what=f"the MIDI of {title!r}") as path:
        return await asyncio.to_thread(path.read_bytes)


async def run_blend(
    runtime: WorkerRuntime, cmd: CompositionRequested, run: JobRun
) -> CompositionCompleted:
    sources = [
        SourceSong(
            title=source.title,
            midi=await read_source(runtime, source.midi, source.title),
            key=source.key,
            mode=source.mode,
            tempo_bpm=source.tempo_bpm,
            tags=source.tags,
        )
        for source in cmd.sources
    ]
    settings = cmd.settings
    longest = longest_duration_s(settings)
    run.limit_cpu(cmd.limits.cpu_seconds_for(longest), f"a blend of up to {longest:,.0f} s")
    params = BlendParams(
        length_bars=settings.length_bars,
        length_seconds=settings.length_seconds,
        tempo_bpm=settings.tempo_bpm,
        key=settings.key,
        style=settings.style,
        engine=settings.engine,
        ensemble=settings.ensemble,
        creativity=settings.creativity,
        temperature=settings.temperature,
        seed=settings.seed,
        lyrics=settings.lyrics,
    )
    if params.chosen_engine == "learned":
        _torch_threads(runtime.settings)
    try:
        result = await asyncio.to_thread(blend, sources, params, run.report)
    except BlendError as e:
        raise PermanentError(str(e)) from e
    # The engine describes each source by what it learnt; the catalog adds who and which.
    summary = {
        **result.summary,
        "sources": [
            {"song_id": str(given.song_id), "artist": given.artist, **learnt}
            for given, learnt in zip(cmd.sources, result.summary["sources"], strict=True)
        ],
    }
    files = {
        "blend.mid": (result.midi, "audio/midi"),
        "blend.musicxml": (result.musicxml, MUSICXML),
        "summary.json": (json.dumps(summary, indent=2).encode(), "application/json"),
    }
    outputs: dict[str, ArtifactRef] = {}
    for filename, (data, media_type) in files.items():
        name = cmd.prefixed(filename)
        async with runtime.store.writer(
            object_key(cmd.owner, str(cmd.job_id), name), media_type
        ) as pending:
            await asyncio.to_thread(pending.path.write_bytes, data)
        duration = summary.get("duration_s") if media_type == "audio/midi" else None
        outputs[name] = artifact_ref(pending.result(), duration_s=duration)
    details = {k: v for k, v in summary.items() if k not in ("chords",)}
    return CompositionCompleted.caused_by(cmd, stage=cmd.stage, outputs=outputs, details=details)


_TORCH_READY = threading.Event()


def _torch_threads(settings: object) -> None:
    """torch is imported at the first learned blend, not when the worker starts: a worker
    that only runs the Markov engine never loads it."""
    if _TORCH_READY.is_set():
        return
    assert isinstance(settings, Settings)
    import torch

    torch.set_num_threads(settings.torch_threads)
    _TORCH_READY.set()


def install(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    subscribe_consumer(runtime, COMPOSITION_CONSUMER, partial(run_blend, runtime))
