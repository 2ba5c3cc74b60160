"""Live effects: audio blocks streamed through an effect chain in real time.

Not JetStream: blocks are worth nothing a second later, so they travel on core NATS. The
gateway asks `live.open` (a queue group of the effects workers: one of them answers and owns
the session from then on), then publishes the client's blocks and control messages, in order,
on `live.session.<id>.in`; the worker publishes the processed blocks, in order, on
`live.session.<id>.out`. A header says what each message is.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from cadenza.contracts.effect_chain import Effect, EffectChain, nyquist_violations

OPEN_SUBJECT = "live.open"
OPEN_QUEUE = "effects-live"
# Header: "audio" (raw PCM, the session's format), "control" (a LiveControl as JSON) or
# "close" (gateway → worker: the client left; worker → gateway: a LiveClosed as JSON).
KIND_HEADER = "Cadenza-Live"
SEQ_HEADER = "Cadenza-Seq"
# Worker → gateway, on processed blocks, only from a worker run with LIVE_TIMING on: when the
# worker began and finished the block, "start,end" in seconds of its monotonic clock
# (time.perf_counter). Comparable with another process's clock on the same host only: a
# diagnostic for benchmarks, which tells the worker's time from the transport's.
TIMING_HEADER = "Cadenza-Worker-Times"
# Effects that cannot run block by block in real time.
NOT_LIVE = {"pitch_shift": "pitch_shift needs half a second of look-ahead, too much for live"}
MAX_BLOCK_SECONDS = 0.1


def session_in(session_id: uuid.UUID) -> str:
    return f"live.session.{session_id}.in"


def session_out(session_id: uuid.UUID) -> str:
    return f"live.session.{session_id}.out"


class LiveFormat(BaseModel):
    """The PCM the client sends and gets back: interleaved frames, little-endian."""

    sample_rate: int = Field(48000, ge=8000, le=192000)
    channels: int = Field(2, ge=1, le=2)
    block_frames: int = Field(480, ge=16, le=8192, description="frames per block")
    sample_format: Literal["float32", "int16"] = "float32"

    @model_validator(mode="after")
    def _block_is_short(self) -> LiveFormat:
        if self.block_frames > MAX_BLOCK_SECONDS * self.sample_rate:
            raise ValueError(
                f"block_frames: {self.block_frames} frames is longer than "
                f"{MAX_BLOCK_SECONDS * 1000:.0f} ms at {self.sample_rate} Hz"
            )
        return self

    @property
    def bytes_per_sample(self) -> int:
        return 4 if self.sample_format == "float32" else 2

    @property
    def block_bytes(self) -> int:
        return self.block_frames * self.channels * self.bytes_per_sample

    @property
    def block_seconds(self) -> float:
        return self.block_frames / self.sample_rate


def live_problems(chain: list[Effect], sample_rate: int) -> list[str]:
    """Why `chain` cannot run live at `sample_rate`, field by field (empty: it can)."""
    problems = [
        f"chain.{i}.type: {NOT_LIVE[e.type]}" for i, e in enumerate(chain) if e.type in NOT_LIVE
    ]
    return problems + nyquist_violations(chain, sample_rate)


class LiveOpen(BaseModel):
    """Gateway → `live.open`: start a session."""

    session_id: uuid.UUID
    owner: str
    chain: EffectChain
    format: LiveFormat


class LiveOpened(BaseModel):
    """The worker's answer: `worker` owns the session, or `reason` why none could."""

    ok: bool
    worker: str | None = None
    reason: str | None = None


class SetParams(BaseModel):
    """Change parameters of the chain's effect at `index`; ramped over one block."""

    type: Literal["set"]
    index: int = Field(ge=0)
    params: dict[str, float | int | bool]


class ReplaceChain(BaseModel):
    """A new chain; effects that stay at the same place with the same type keep their state
    (reverb tails ring on) and ramp to the new parameters."""

    type: Literal["chain"]
    chain: EffectChain


LiveControl = Annotated[SetParams | ReplaceChain, Field(discriminator="type")]


class LiveClosed(BaseModel):
    """Worker → gateway: the session is over, and why (for the client's close reason)."""

    reason: str
    code: int = 1011


def updated_effect(effect: Effect, params: dict[str, Any]) -> dict[str, Any]:
    """The effect with `params` applied, as data to validate as an Effect again."""
    unknown = sorted(set(params) - set(type(effect).model_fields) | ({"type"} & set(params)))
    if unknown:
        raise ValueError(f"{effect.type} has no parameter {', '.join(unknown)}")
    return {**effect.model_dump(), **params}
