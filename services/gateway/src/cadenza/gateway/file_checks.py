"""Is an uploaded file what it claims, within the limits? Decided in the sandbox's child
processes (cadenza.runtime.sandbox), never in the threads that serve requests: audio is
decoded once under frame, sample, expansion, CPU-time and memory limits; a MIDI file has its
events counted on its bytes. An account has at most PROBES_PER_ACCOUNT files being checked
at once; the pool is shared fairly between accounts."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException

from cadenza.audio import AudioDecodeError, AudioInfo, probe_audio
from cadenza.gateway.midi_events import midi_problem
from cadenza.gateway.settings import Settings
from cadenza.runtime.fair import OwnerBusyError
from cadenza.runtime.sandbox import Limits, Sandbox, SandboxLimitError

MIB = 1 << 20


def probe_sandbox(settings: Settings) -> Sandbox:
    return Sandbox(
        "file check",
        workers=settings.probe_workers,
        limits=Limits(
            memory_bytes=settings.probe_memory_mb * MIB,
            cpu_seconds=settings.probe_cpu_s,
            wall_seconds=settings.probe_wall_s,
        ),
        max_in_flight_per_owner=settings.probes_per_account,
        preload=["cadenza.audio", "cadenza.music", "cadenza.gateway.midi_events"],
    )


async def check_audio(
    sandbox: Sandbox, settings: Settings, owner: str, path: Path, filename: str
) -> AudioInfo:
    """What the audio file is; 415 with the reason when it is not audio we accept or passes
    a limit, 429 when the owner already has as many files being checked as allowed."""
    try:
        return await sandbox.run(
            owner,
            probe_audio,
            path,
            max_seconds=settings.max_audio_seconds,
            max_samples=settings.max_audio_samples,
            max_expansion=settings.max_audio_expansion,
            max_decode_s=settings.probe_wall_s,
        )
    except (AudioDecodeError, SandboxLimitError) as e:
        raise HTTPException(415, f"{filename} was refused: {e}") from e
    except OwnerBusyError as e:
        raise HTTPException(429, f"{filename} was not checked: {e}", {"Retry-After": "2"}) from e


async def check_midi(
    sandbox: Sandbox, settings: Settings, owner: str, path: Path, filename: str
) -> None:
    """415 unless the file is a Standard MIDI File, 422 past the event limit; 429 as above."""
    try:
        problem = await sandbox.run(owner, midi_problem, path, settings.max_midi_events)
    except SandboxLimitError as e:
        raise HTTPException(415, f"{filename} was refused: {e}") from e
    except OwnerBusyError as e:
        raise HTTPException(429, f"{filename} was not checked: {e}", {"Retry-After": "2"}) from e
    if problem is not None:
        status, sentence = problem
        raise HTTPException(status, f"{filename} was refused: {sentence}")
