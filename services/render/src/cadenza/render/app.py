"""The render worker: `render.requested` (MIDI → mix and stems), `render.mix.requested`
(stems → mix) and `render.master.requested` (loudness and true peak), each from JetStream,
each writing its artifacts under `{owner}/{job_id}/` before publishing its fact."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

from cadenza.audio import AudioDecodeError, header_info
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import MEDIA_TYPES
from cadenza.contracts.consumers import MASTER_CONSUMER, MIX_CONSUMER, RENDER_CONSUMER
from cadenza.contracts.render import (
    MASTER_STAGE,
    MIX_STAGE,
    RENDER_STAGE,
    MasterCompleted,
    MasterRequested,
    MixCompleted,
    MixRequested,
    RenderCompleted,
    RenderRequested,
    SoundFontInfo,
)
from cadenza.render.engine import (
    DEFAULT_SOUNDFONT,
    MasterError,
    MixError,
    RenderError,
    find_soundfonts,
    master,
    mix_stems,
    render_midi,
    zip_stems,
)
from cadenza.render.engine.oversample import Oversampler, oversampler_for
from cadenza.render.engine.score import RenderBudgetError
from cadenza.render.engine.soundfonts import SEARCH_DIRS
from cadenza.render.settings import Settings
from cadenza.runtime.artifacts import artifact_ref, input_file
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.metrics import worker_metrics
from cadenza.runtime.model_registry import SoundFontRegistry
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import ObjectStore, object_key
from cadenza.runtime.worker import JobRun, OverBudgetError, PermanentError

log = logging.getLogger(__name__)
ADVERTISE_EVERY_S = 60.0

Command = RenderRequested | MixRequested | MasterRequested


async def store_file(store: ObjectStore, cmd: Command, name: str, path: Path) -> ArtifactRef:
    """Move a finished local file into storage as the artifact `name` (already prefixed);
    audio gets its duration, rate and channels (from the header: this worker wrote it)."""
    media_type = media_type_for(path)
    info = await asyncio.to_thread(header_info, path) if media_type.startswith("audio/") else None
    stored = await store.put_file(
        object_key(cmd.owner, str(cmd.job_id), name), path, media_type, move=True
    )
    if info is None:
        return artifact_ref(stored)
    rate, channels, frames = info
    return artifact_ref(stored, duration_s=frames / rate, sample_rate=rate, channels=channels)


def media_type_for(path: Path) -> str:
    suffix = path.suffix.lstrip(".").lower()
    if suffix == "zip":
        return "application/zip"
    return MEDIA_TYPES.get(suffix, "application/octet-stream")


def soundfonts(settings: Settings) -> dict[str, Path]:
    return find_soundfonts([*settings.soundfont_dirs, *SEARCH_DIRS])


def soundfont_path(settings: Settings, name: str | None) -> Path:
    if name is None:
        return DEFAULT_SOUNDFONT
    fonts = soundfonts(settings)
    if name not in fonts:
        raise PermanentError(f"unknown soundfont {name!r}; available: {', '.join(fonts)}")
    return fonts[name]


async def advertise_forever(registry: SoundFontRegistry, settings: Settings) -> None:
    while True:
        try:
            fonts = await asyncio.to_thread(soundfonts, settings)
            await registry.advertise(
                [
                    SoundFontInfo(name=name, bytes=path.stat().st_size, default=index == 0)
                    for index, (name, path) in enumerate(fonts.items())
                    if len(name) <= 64
                ]
            )
        except Exception:
            log.warning("could not advertise soundfonts", exc_info=True)
        await asyncio.sleep(ADVERTISE_EVERY_S)


async def run_render(
    runtime: WorkerRuntime, settings: Settings, cmd: RenderRequested, run: JobRun
) -> RenderCompleted:
    params = cmd.params
    font = soundfont_path(settings, params.soundfont)
    seconds = cmd.input.duration_s or settings.max_seconds
    if params.preview_seconds is not None:
        seconds = min(seconds, params.preview_seconds)
    run.limit_cpu(cmd.limits.cpu_seconds_for(seconds), f"{seconds:,.0f} s of music")
    async with AsyncExitStack() as stack:
        midi = await stack.enter_async_context(
            input_file(runtime.store, cmd.input, what="the MIDI")
        )
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cadenza-render-")))
        try:
            result = await asyncio.to_thread(
                render_midi,
                midi,
                out,
                soundfont=font,
                sample_rate=params.sample_rate,
                output=params.output,
                stems=params.stems,
                on_progress=run.report,
                should_stop=run.checkpoint,
                max_seconds=settings.max_seconds,
                max_output_bytes=cmd.limits.max_output_bytes,
                until_seconds=params.preview_seconds,
            )
        except RenderBudgetError as e:
            raise OverBudgetError(str(e)) from e
        except RenderError as e:
            raise PermanentError(str(e)) from e
        ext = params.output.extension
        # Stems, and the shared reverb/chorus return beside them: together they sum to the mix.
        stem_files = {f"{name}.{ext}": path for name, path in result.stems.items()}
        if result.effects is not None:
            stem_files[f"effects.{ext}"] = result.effects
        outputs: dict[str, ArtifactRef] = {}
        if stem_files:
            archive = await asyncio.to_thread(zip_stems, stem_files, out / "stems.zip")
            name = cmd.prefixed("stems.zip")
            outputs[name] = await store_file(runtime.store, cmd, name, archive)
        for filename, path in stem_files.items():
            name = cmd.prefixed(filename)
            outputs[name] = await store_file(runtime.store, cmd, name, path)
        mix = "mix" if params.preview_seconds is None else "preview"
        name = cmd.prefixed(f"{mix}.{ext}")
        outputs[name] = await store_file(runtime.store, cmd, name, result.mix)
    worker_metrics().audio_seconds.labels(RENDER_STAGE).inc(result.duration_s)
    return RenderCompleted.caused_by(
        cmd,
        stage=cmd.stage,
        outputs=outputs,
        details={
            "soundfont": font.name,
            "duration_s": round(result.duration_s, 3),
            "sample_rate": result.sample_rate,
            "tracks": result.tracks,
            **({"preview_of_s": params.preview_seconds} if params.preview_seconds else {}),
        },
    )


async def run_mix(
    runtime: WorkerRuntime, settings: Settings, cmd: MixRequested, run: JobRun
) -> MixCompleted:
    seconds = max((ref.duration_s or 0.0) for ref in cmd.inputs.values())
    run.limit_cpu(cmd.limits.cpu_seconds_for(seconds), f"{seconds:,.0f} s of audio")
    async with AsyncExitStack() as stack:
        stems = {
            name: await stack.enter_async_context(
                input_file(runtime.store, ref, what=f"the stem {name!r}")
            )
            for name, ref in sorted(cmd.inputs.items())
        }
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cadenza-mix-")))
        name = cmd.prefixed(f"mix.{cmd.params.output.extension}")
        try:
            result = await asyncio.to_thread(
                mix_stems,
                stems,
                out / name,
                gains_db=dict(cmd.params.gains_db),
                pans=dict(cmd.params.pans),
                output=cmd.params.output,
                on_progress=run.report,
            )
        except (MixError, AudioDecodeError) as e:
            raise PermanentError(str(e)) from e
        ref = await store_file(runtime.store, cmd, name, out / name)
    worker_metrics().audio_seconds.labels(MIX_STAGE).inc(ref.duration_s or 0.0)
    return MixCompleted.caused_by(
        cmd,
        stage=cmd.stage,
        outputs={name: ref},
        details={"stems": sorted(cmd.inputs), "peak_db": round(result.peak_db, 2)},
    )


async def run_master(
    runtime: WorkerRuntime,
    oversampler: Oversampler,
    cmd: MasterRequested,
    run: JobRun,
) -> MasterCompleted:
    target, ceiling = cmd.params.target
    seconds = cmd.input.duration_s or 0.0
    run.limit_cpu(cmd.limits.cpu_seconds_for(seconds), f"{seconds:,.0f} s of audio")
    async with AsyncExitStack() as stack:
        source = await stack.enter_async_context(
            input_file(runtime.store, cmd.input, what="the audio")
        )
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cadenza-master-")))
        name = cmd.prefixed(f"mastered.{cmd.params.output.extension}")
        try:
            result = await asyncio.to_thread(
                master,
                source,
                out / name,
                target_lufs=target,
                true_peak_db=ceiling,
                output=cmd.params.output,
                eq=cmd.params.eq,
                compress=cmd.params.compress,
                on_progress=run.report,
                oversampler=oversampler,
            )
        except (MasterError, AudioDecodeError) as e:
            raise PermanentError(str(e)) from e
        ref = await store_file(runtime.store, cmd, name, out / name)
    worker_metrics().audio_seconds.labels(MASTER_STAGE).inc(result.duration_s)
    return MasterCompleted.caused_by(
        cmd,
        stage=cmd.stage,
        outputs={name: ref},
        details={
            "preset": cmd.params.preset,
            "target_lufs": target,
            "true_peak_ceiling_db": ceiling,
            "lufs": round(result.lufs, 2),
            "true_peak_db": round(result.true_peak_db, 2),
            "input_lufs": round(result.input_lufs, 2),
            "input_true_peak_db": round(result.input_true_peak_db, 2),
            "gain_db": round(result.gain_db, 2),
        },
    )


def install(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    oversampler = oversampler_for(settings.device)
    log.info("true-peak oversampling (mastering) on %s", oversampler.device)
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        registry = SoundFontRegistry(runtime.broker.connection.jetstream())
        tasks.append(asyncio.create_task(advertise_forever(registry, settings)))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    runtime.startup_hooks.append(start)
    runtime.shutdown_hooks.append(stop)
    subscribe_consumer(runtime, RENDER_CONSUMER, partial(run_render, runtime, settings))
    subscribe_consumer(runtime, MIX_CONSUMER, partial(run_mix, runtime, settings))
    subscribe_consumer(runtime, MASTER_CONSUMER, partial(run_master, runtime, oversampler))
