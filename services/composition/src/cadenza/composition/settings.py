"""Composition service settings (environment variables; README.md lists them)."""

from __future__ import annotations

from pydantic import Field

from cadenza.runtime.settings import WorkerSettings


class Settings(WorkerSettings):
    http_port: int = Field(8015, ge=0, le=65535)
    concurrency: int = Field(2, ge=1, le=64)
    # torch threads per process for the learned engine: sampling one token at a time from a
    # small model gains nothing from more, and blends run side by side (CONCURRENCY).
    torch_threads: int = Field(1, ge=1, le=64)
