"""Catalog service settings (environment variables; README.md lists them)."""

from __future__ import annotations

from pydantic import Field

from cadenza.runtime.settings import WorkerSettings


class Settings(WorkerSettings):
    http_port: int = Field(8013, ge=0, le=65535)
    # The catalog's tables live in the `catalog` schema of this database.
    database_url: str = "postgresql://127.0.0.1:5432/cadenza"
    database_pool_size: int = Field(10, ge=1, le=200)
    concurrency: int = Field(2, ge=1, le=64)
    # Analysis bounds: longer files are refused with a reason.
    max_audio_seconds: float = Field(3600.0, gt=0)
    max_midi_seconds: float = Field(3600.0, gt=0)
    # Cosine similarity at or above which a new song is flagged as a near-duplicate.
    near_duplicate_similarity: float = Field(0.995, gt=0, le=1)
    # HNSW search breadth (pgvector's hnsw.ef_search); higher is slower and more exact.
    hnsw_ef_search: int = Field(64, ge=1, le=1000)
    # Query requests (search, get, similar, match) answered at once.
    query_concurrency: int = Field(8, ge=1, le=256)
    # Songs' files are analysed in this many child processes, each file within these limits
    # (cadenza.runtime.sandbox): address space, CPU seconds and seconds in all.
    analysis_workers: int = Field(2, ge=1, le=64)
    analysis_memory_mb: int = Field(1536, ge=256)
    analysis_cpu_s: float = Field(120.0, gt=0)
    analysis_wall_s: float = Field(300.0, gt=0)
    # Files one account may have matched (POST /songs/match) at once; more are refused.
    matches_per_account: int = Field(2, ge=1, le=100)
