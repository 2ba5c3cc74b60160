"""What one job may spend, decided by the gateway before it accepts the job and carried by
every command of it, so each worker can hold the job to it (defence in depth: the gateway
refuses what it can estimate; a worker refuses what only it can see, such as the tracks of
a MIDI file, and stops work that runs past its CPU time)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JobLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Bytes a stage of the job may write in all (None: no limit).
    max_output_bytes: int | None = Field(default=None, ge=0)
    # Working memory a stage may need (delay lines, buffers), as the stage estimates it.
    max_memory_bytes: int | None = Field(default=None, ge=0)
    # CPU seconds a stage may use per second of audio it processes, and at least.
    cpu_seconds_per_audio_second: float | None = Field(default=None, gt=0)
    min_cpu_seconds: float = Field(default=60.0, gt=0)

    def cpu_seconds_for(self, audio_seconds: float) -> float | None:
        """The CPU time allowed for this much audio (None: no limit)."""
        if self.cpu_seconds_per_audio_second is None:
            return None
        return max(self.min_cpu_seconds, self.cpu_seconds_per_audio_second * audio_seconds)


def describe_bytes(size: float) -> str:
    """1536 → "1.5 KiB"; for sentences about limits."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} bytes" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError
