"""Effects service settings (environment variables; README.md lists them)."""

from __future__ import annotations

from pydantic import Field

from cadenza.runtime.settings import WorkerSettings


class Settings(WorkerSettings):
    http_port: int = Field(8011, ge=0, le=65535)
    # Two commands at a time: pedalboard and libsndfile release the GIL, so a second job
    # overlaps the first one's I/O and bus round trips (docs/benchmarks.md).
    concurrency: int = Field(2, ge=1, le=64)
    # Frames per processing block (fewer for many channels: at most 262,144 samples a block);
    # memory per job is about a block × 4 bytes × a few, plus the chain's delay lines.
    block_frames: int = Field(1 << 16, ge=1024, le=1 << 20)
    # A job expected to take at most this much CPU (its chain as effect_costs prices it, WAV
    # in and out) runs on the event loop, not a work thread, while no live session is open:
    # cheaper for such short work (cadenza.effects.app.runs_inline). 0: always a thread.
    inline_work_ms: float = Field(5.0, ge=0, le=50)
    # Working memory one job's chain may need (delay lines, pitch-shift segments), whatever
    # its command allows; and one live session's, and all live sessions' together.
    max_job_memory_mb: int = Field(1024, ge=16)
    live_session_memory_mb: int = Field(64, ge=1)
    live_memory_mb: int = Field(512, ge=1)
    # Live sessions (WebSocket /api/v1/live through the gateway) one worker holds at once,
    # and how long one may go without audio before this worker closes it.
    live_max_sessions: int = Field(64, ge=0, le=4096)
    live_idle_timeout_s: float = Field(60.0, gt=0)
    # Diagnostics: stamp each processed block with when this worker began and finished it
    # (cadenza.contracts.live.TIMING_HEADER), for benchmarks on one host.
    live_timing: bool = False
