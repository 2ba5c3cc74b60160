"""The separation worker: `separation.requested` in, one stored file per stem, facts out."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial

import torch

from cadenza.audio import AudioDecodeError
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.consumers import SEPARATION_CONSUMER
from cadenza.contracts.ensembles import (
    MAX_WORK,
    SHIFTING_FAMILIES,
    ModelResolutionError,
    compute_factor,
    ensemble_members,
    member_infos,
    member_weight,
    resolve_model,
    work_factor,
)
from cadenza.contracts.limits import describe_bytes
from cadenza.contracts.separation import (
    STAGE,
    ModelInfo,
    SeparationCompleted,
    SeparationRequested,
)
from cadenza.contracts.separation_options import DEFAULT_OVERLAP, SeparationOptions
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.metrics import worker_metrics
from cadenza.runtime.model_registry import ModelRegistry
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import ObjectNotFoundError, ObjectStore, PendingObject, object_key
from cadenza.runtime.worker import JobRun, OverBudgetError, PermanentError
from cadenza.separation.batching import SegmentBatcher, SegmentCancelledError
from cadenza.separation.device import configure_torch
from cadenza.separation.model_pulls import install_model_pulls
from cadenza.separation.models import Catalog, LoadedModels, ModelBook
from cadenza.separation.pipeline import Ensemble, Plan, SeparationInputError, separate_file
from cadenza.separation.roformer import RoformerRunner
from cadenza.separation.separators import classical_plan, demucs_plan, roformer_plan
from cadenza.separation.settings import Settings

log = logging.getLogger(__name__)

ADVERTISE_EVERY_S = 60.0
# Bump when the output of the same model on the same audio changes (part of the cache key).
PIPELINE_VERSION = 2


@dataclass
class Separation:
    """What the handler needs besides the runtime: device, models, batcher."""

    settings: Settings
    device: torch.device
    book: ModelBook
    loaded: LoadedModels
    batcher: SegmentBatcher
    registry: ModelRegistry | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings) -> Separation:
        device = configure_torch(settings.device, settings.torch_threads)
        catalog = Catalog.from_settings(settings.model_dir, settings.use_torch_hub_cache)
        batch = settings.batch_size or (8 if device.type == "cuda" else 1)
        return cls(
            settings=settings,
            device=device,
            book=ModelBook(catalog),
            loaded=LoadedModels(catalog, device, settings.model_cache_size),
            batcher=SegmentBatcher(device, batch_size=batch, wait_s=settings.batch_wait_ms / 1000),
        )

    async def plan(self, model: ModelInfo, options: SeparationOptions) -> Plan | Ensemble:
        """How to run `model` (an ensemble: each member, with the job's weights)."""
        members = ensemble_members(model.name)
        if members is None:
            return await self._single_plan(model, options)
        parts = []
        for name in members:
            info = self.book.models[name]
            weights: dict[str, float] = {
                stem: member_weight(options.ensemble_weights, name, stem) for stem in info.stems
            }
            parts.append((await self._single_plan(info, options), weights))
        return Ensemble(tuple(parts))

    async def _single_plan(self, model: ModelInfo, options: SeparationOptions) -> Plan:
        shifts = options.shifts if model.family in SHIFTING_FAMILIES else 0
        if model.family == "classical":
            overlap = options.overlap_or(DEFAULT_OVERLAP)
            return classical_plan(overlap=overlap, shifts=shifts, seed=options.seed)
        loaded = await asyncio.to_thread(self.loaded.get, model.name)
        inflight = max(1, self.batcher.batch_size)
        if isinstance(loaded, RoformerRunner):
            return roformer_plan(
                loaded, self.batcher, overlap=options.overlap, max_inflight=inflight
            )
        return demucs_plan(
            loaded,
            self.batcher,
            overlap=options.overlap_or(DEFAULT_OVERLAP),
            max_inflight=inflight,
            shifts=shifts,
            seed=options.seed,
        )

    async def advertise_forever(self) -> None:
        assert self.registry is not None
        while True:
            try:
                models = await asyncio.to_thread(self.book.refresh)
                await self.registry.advertise(list(models.values()))
            except Exception:
                log.warning("could not advertise models", exc_info=True)
            await asyncio.sleep(ADVERTISE_EVERY_S)


def cache_prefix(cmd: SeparationRequested, model: ModelInfo) -> str:
    """Stems of the same audio, model (and weights), output and options, for this owner (the
    seed only matters with shifts)."""
    identity = json.dumps(
        {
            "input": cmd.input.sha256,
            "model": model.name,
            "weights": model.fingerprint,
            "output": cmd.output.model_dump(mode="json"),
            "overlap": cmd.overlap,
            "shifts": cmd.shifts,
            "seed": cmd.seed if cmd.shifts else None,
            "pipeline": PIPELINE_VERSION,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"{cmd.owner}/cache/separation/{digest}"


def _details(
    model: ModelInfo, separation: Separation, cmd: SeparationRequested
) -> dict[str, object]:
    """What ran: the model (an ensemble's members each) with the shifts and overlap used."""

    def how(info: ModelInfo) -> dict[str, object]:
        shifts = cmd.shifts if info.family in SHIFTING_FAMILIES else 0
        return {"shifts": shifts, "overlap": round(cmd.overlap_or(info.overlap), 4)}

    details: dict[str, object] = {"model": model.name, "device": str(separation.device)}
    members = member_infos(model, separation.book.models)
    if model.family == "ensemble":
        details["members"] = [{"model": m.name, **how(m)} for m in members]
        details.update(shifts=cmd.shifts, overlap=cmd.overlap)
    else:
        details.update(how(model))
    if cmd.shifts:
        details["seed"] = cmd.seed
    if cmd.ensemble_weights:
        details["ensemble_weights"] = cmd.ensemble_weights
    return details


async def _read_manifest(store: ObjectStore, key: str) -> dict[str, dict[str, object]] | None:
    try:
        async with store.local_copy(key) as path:
            manifest: dict[str, dict[str, object]] = json.loads(path.read_text())
    except ObjectNotFoundError:
        return None
    except (ValueError, OSError):
        return None
    return manifest


def _ref(
    uri: str,
    media_type: str,
    size: int,
    sha256: str,
    duration_s: float | None,
    sample_rate: int | None,
    channels: int | None,
) -> ArtifactRef:
    return ArtifactRef(
        uri=uri,
        media_type=media_type,
        bytes=size,
        sha256=sha256,
        duration_s=duration_s,
        sample_rate=sample_rate,
        channels=channels,
    )


def _check_budget(cmd: SeparationRequested, files: int) -> None:
    """OverBudgetError when the stems would take more than the job may write (estimated
    from the input's recorded length; the gateway checked the same before accepting)."""
    ref, limit = cmd.input, cmd.limits.max_output_bytes
    if limit is None or ref.duration_s is None or ref.sample_rate is None:
        return
    frames = int(ref.duration_s * ref.sample_rate)
    depth = cmd.output.bytes_per_sample
    size = frames * (ref.channels or 2) * depth * files
    if size > limit:
        raise OverBudgetError(
            f"{files} stems of {ref.duration_s:,.0f} s would take about {describe_bytes(size)}, "
            f"over the limit of {describe_bytes(limit)} for this job; choose a compressed "
            "format, a lower bit depth or fewer stems"
        )


async def run_separation(
    runtime: WorkerRuntime, separation: Separation, cmd: SeparationRequested, run: JobRun
) -> SeparationCompleted:
    store, settings = runtime.store, separation.settings
    try:
        model = resolve_model(cmd.model, separation.book.models, cmd.ensemble_weights)
    except ModelResolutionError as e:
        raise PermanentError(f"{e} (on this worker)") from e
    members = member_infos(model, separation.book.models)
    if cmd.shifts and not any(m.family in SHIFTING_FAMILIES for m in members):
        raise PermanentError(
            f"shifts apply to Demucs models and the classical method, not {model.name}"
        )
    work = work_factor(model, separation.book.models, cmd)
    if work > MAX_WORK:
        raise PermanentError(f"the work of {work:.0f} passes of a model; at most {MAX_WORK:.0f}")
    missing = [stem for stem in cmd.stems if stem not in model.stems]
    if missing:
        raise PermanentError(
            f"model {model.name} has no {', '.join(missing)} stem (it has {', '.join(model.stems)})"
        )
    try:
        source_key = store.key_for(cmd.input.uri)
    except ValueError as e:
        raise PermanentError(
            "the input is not in this service's storage (storage settings differ between services)"
        ) from e
    extension = cmd.output.extension
    media_type = cmd.output.media_type
    _check_budget(cmd, len(model.stems) if settings.result_cache else len(cmd.stems))
    seconds = cmd.input.duration_s or 0.0
    allowed = cmd.limits.cpu_seconds_for(seconds)
    if allowed is not None:  # the models' cost, shifts, overlap and members multiply it
        allowed *= compute_factor(model, separation.book.models, cmd)
    run.limit_cpu(allowed, f"{seconds:,.0f} s of audio")

    def job_key(name: str) -> str:
        return object_key(cmd.owner, str(cmd.job_id), name)

    prefix = cache_prefix(cmd, model)
    details = _details(model, separation, cmd)

    if settings.result_cache:
        manifest = await _read_manifest(store, f"{prefix}/manifest.json")
        if manifest and all(stem in manifest for stem in cmd.stems):
            cached: dict[str, ArtifactRef] = {}
            for stem in cmd.stems:
                entry = manifest[stem]
                name = cmd.prefixed(f"{stem}.{extension}")
                copied = await store.copy(f"{prefix}/{stem}.{extension}", job_key(name), media_type)
                cached[name] = _ref(
                    copied.uri,
                    media_type,
                    copied.bytes,
                    str(entry["sha256"]),
                    cmd.input.duration_s,
                    cmd.input.sample_rate,
                    cmd.input.channels,
                )
            run.report(1.0)
            return SeparationCompleted.caused_by(
                cmd, stage=cmd.stage, outputs=cached, details={**details, "cache": "hit"}
            )

    plan = await separation.plan(model, cmd)
    # With the cache on, every stem of the model is kept (a later job may ask for others).
    stems = list(model.stems) if settings.result_cache else list(cmd.stems)

    def key(stem: str) -> str:
        if settings.result_cache:
            return f"{prefix}/{stem}.{extension}"
        return job_key(cmd.prefixed(f"{stem}.{extension}"))

    started = time.monotonic()
    try:
        source_ctx = store.local_copy(source_key)
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(source_ctx)
            pending: dict[str, PendingObject] = {
                stem: await stack.enter_async_context(store.writer(key(stem), media_type))
                for stem in stems
            }
            result = await asyncio.to_thread(
                separate_file,
                source,
                {stem: p.path for stem, p in pending.items()},
                plan,
                cmd.output,
                on_progress=run.report,
                stopped=lambda: run.cancelled,
            )
    except ObjectNotFoundError as e:
        raise PermanentError("the input audio is no longer in storage") from e
    except (AudioDecodeError, SeparationInputError) as e:
        raise PermanentError(str(e)) from e
    except SegmentCancelledError:
        run.check_cancelled()  # the job was cancelled mid-segment: say so
        raise
    elapsed = time.monotonic() - started
    worker_metrics().audio_seconds.labels(STAGE).inc(result.duration_s)
    stored = {stem: p.result() for stem, p in pending.items()}
    outputs: dict[str, ArtifactRef] = {}
    for stem in cmd.stems:
        item = stored[stem]
        name = cmd.prefixed(f"{stem}.{extension}")
        if settings.result_cache:
            item = await store.copy(item.key, job_key(name), media_type)
        outputs[name] = _ref(
            item.uri,
            media_type,
            item.bytes,
            stored[stem].sha256,
            result.duration_s,
            result.sample_rate,
            result.channels,
        )
    if settings.result_cache:
        manifest_body = {stem: {"sha256": s.sha256, "bytes": s.bytes} for stem, s in stored.items()}
        async with store.writer(f"{prefix}/manifest.json", "application/json") as written:
            written.path.write_text(json.dumps(manifest_body))
    details.update(
        cache="miss" if settings.result_cache else "off",
        seconds=round(elapsed, 2),
        realtime_factor=round(result.duration_s / elapsed, 2) if elapsed else None,
    )
    return SeparationCompleted.caused_by(cmd, stage=cmd.stage, outputs=outputs, details=details)


def install(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    separation = Separation.from_settings(settings)

    async def start() -> None:
        separation.registry = ModelRegistry(runtime.broker.connection.jetstream())
        models = await asyncio.to_thread(separation.book.refresh)
        await separation.registry.advertise(list(models.values()))
        log.info("models available: %s", ", ".join(sorted(models)))
        separation.tasks.append(asyncio.create_task(separation.advertise_forever()))

    async def stop() -> None:
        for task in separation.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(separation.batcher.close)

    runtime.startup_hooks.append(start)
    runtime.shutdown_hooks.append(stop)

    subscribe_consumer(runtime, SEPARATION_CONSUMER, partial(run_separation, runtime, separation))
    install_model_pulls(runtime, separation)
