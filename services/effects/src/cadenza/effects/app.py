"""The effects worker: `effects.requested` in, processed audio stored, `effects.completed` out."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from functools import partial

from cadenza.audio import AudioDecodeError
from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import MEDIA_TYPES
from cadenza.contracts.consumers import EFFECTS_CONSUMER
from cadenza.contracts.effect_chain import EffectChain
from cadenza.contracts.effect_costs import block_frames_for, chain_cpu_seconds
from cadenza.contracts.effects import STAGE, EffectsCompleted, EffectsRequested
from cadenza.effects.live_server import LiveServer
from cadenza.effects.processing import BudgetError, ChainError, ProcessResult, apply_chain
from cadenza.effects.settings import Settings
from cadenza.runtime.artifacts import artifact_ref
from cadenza.runtime.commands import subscribe_consumer
from cadenza.runtime.metrics import worker_metrics
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.storage import ObjectNotFoundError, object_key
from cadenza.runtime.worker import JobRun, OverBudgetError, PermanentError

# Decoding a WAV, encoding one and committing it (sha256, fsyncs), CPU nanoseconds per
# sample: measured with the worker's own code on the reference machine (1 s of stereo at
# 44.1 kHz: about 1.1 ms besides the chain), rounded up.
WAV_IO_NS_PER_SAMPLE = 15.0


def estimated_work_s(cmd: EffectsRequested, settings: Settings) -> float | None:
    """CPU seconds the whole command is expected to take (its chains as
    cadenza.contracts.effect_costs prices them, plus WAV in and out); None when that cannot
    be told from the command (an input without its format, or one that is not WAV)."""
    total = 0.0
    if cmd.output.format != "wav":
        return None
    for _, source, chain in cmd.work_items():
        if chain is None:
            continue
        if source.media_type != MEDIA_TYPES["wav"] or not (
            source.duration_s and source.sample_rate and source.channels
        ):
            return None
        frames = round(source.duration_s * source.sample_rate)
        block = block_frames_for(source.channels, settings.block_frames)
        total += chain_cpu_seconds(chain, frames, source.channels, source.sample_rate, block)
        total += WAV_IO_NS_PER_SAMPLE * frames * source.channels / 1e9
    return total


def runs_inline(cmd: EffectsRequested, settings: Settings, live_open: Callable[[], bool]) -> bool:
    """Whether the command's work runs on the event loop instead of a work thread: when it
    is expected to take at most INLINE_WORK_MS of CPU and no live session is open here.

    For work that short, handing it to a thread costs more than the work: the hop, and the
    GIL traded between the loop and the work threads of concurrent jobs (bench.bus_profile
    measured 0.75 ms of CPU per job more in threads than on the loop, for about 2 ms of
    work; docs/benchmarks.md). The loop is blocked that long, which the jobs' heartbeats
    (every ACK_WAIT_S / 3) do not notice; live sessions would (a block of live audio is due
    every few milliseconds), so with one open every job goes to a thread."""
    if settings.inline_work_ms <= 0 or live_open():
        return False
    estimate = estimated_work_s(cmd, settings)
    return estimate is not None and estimate * 1000 <= settings.inline_work_ms


async def run_effects(
    runtime: WorkerRuntime,
    settings: Settings,
    live_open: Callable[[], bool],
    cmd: EffectsRequested,
    run: JobRun,
) -> EffectsCompleted:
    items = cmd.work_items()
    seconds = sum(source.duration_s or 0.0 for _, source, chain in items if chain is not None)
    run.limit_cpu(cmd.limits.cpu_seconds_for(seconds), f"{seconds:,.0f} s of audio")
    inline = runs_inline(cmd, settings, live_open)
    outputs: dict[str, ArtifactRef] = {}
    for index, (name, source, chain) in enumerate(items):
        if chain is None:  # a stem the pipeline leaves as it is
            outputs[name] = source
            continue

        def report(fraction: float, message: str | None = None, *, done: int = index) -> None:
            run.report((done + fraction) / len(items), message)

        outputs[name] = await process_one(
            runtime, settings, cmd, name, source, chain, report, run.checkpoint, inline=inline
        )
    return EffectsCompleted.caused_by(cmd, stage=cmd.stage, outputs=outputs)


async def process_one(
    runtime: WorkerRuntime,
    settings: Settings,
    cmd: EffectsRequested,
    name: str,
    source_ref: ArtifactRef,
    chain: EffectChain,
    report: Callable[[float], None],
    checkpoint: Callable[[], None],
    *,
    inline: bool = False,
) -> ArtifactRef:
    store = runtime.store
    try:
        source_key = store.key_for(source_ref.uri)
    except ValueError as e:
        raise PermanentError(
            "the input is not in this service's storage (storage settings differ between services)"
        ) from e
    output_key = object_key(cmd.owner, str(cmd.job_id), name)
    try:
        async with (
            store.local_copy(source_key) as source,
            store.writer(output_key, cmd.output.media_type) as pending,
        ):

            def process() -> ProcessResult:
                result = apply_chain(
                    source,
                    pending.path,
                    chain,
                    cmd.output,
                    block_frames=settings.block_frames,
                    on_progress=report,
                    checkpoint=checkpoint,
                    max_memory_bytes=min(
                        settings.max_job_memory_mb << 20,
                        cmd.limits.max_memory_bytes or (settings.max_job_memory_mb << 20),
                    ),
                    max_output_bytes=cmd.limits.max_output_bytes,
                )
                pending.commit_here()  # on a local disk, here: no second hop
                return result

            result = process() if inline else await asyncio.to_thread(process)
    except ObjectNotFoundError as e:
        raise PermanentError("the input audio is no longer in storage") from e
    except BudgetError as e:
        raise OverBudgetError(str(e)) from e
    except (AudioDecodeError, ChainError) as e:
        raise PermanentError(str(e)) from e
    worker_metrics().audio_seconds.labels(STAGE).inc(result.duration_s)
    return artifact_ref(
        pending.result(),
        duration_s=result.duration_s,
        sample_rate=result.sample_rate,
        channels=result.channels,
    )


def install(runtime: WorkerRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    live_open = install_live(runtime, settings)
    subscribe_consumer(
        runtime, EFFECTS_CONSUMER, partial(run_effects, runtime, settings, live_open)
    )


def install_live(runtime: WorkerRuntime, settings: Settings) -> Callable[[], bool]:
    """Live sessions on core NATS, beside the JetStream jobs (cadenza.contracts.live).
    Returns whether any live session is open on this worker now."""
    servers: list[LiveServer] = []

    def live_open() -> bool:
        return any(server.sessions for server in servers)

    if settings.live_max_sessions == 0:
        return live_open

    async def start() -> None:
        server = LiveServer(
            runtime.broker.connection,
            worker=f"{socket.gethostname()}-{os.getpid()}",
            max_sessions=settings.live_max_sessions,
            idle_timeout_s=settings.live_idle_timeout_s,
            timing=settings.live_timing,
            session_memory_bytes=settings.live_session_memory_mb << 20,
            memory_bytes=settings.live_memory_mb << 20,
        )
        await server.start()
        servers.append(server)

    async def stop() -> None:
        for server in servers:
            await server.stop()

    runtime.startup_hooks.append(start)
    runtime.draining_hooks.append(stop)
    return live_open
