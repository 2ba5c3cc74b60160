"""Separation service settings (environment variables; README.md lists them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from cadenza.runtime.settings import WorkerSettings


class Settings(WorkerSettings):
    http_port: int = Field(8012, ge=0, le=65535)
    # Where the operator puts Demucs checkpoints (`<sig>-<checksum>.th`) and, optionally,
    # bag files (`htdemucs.yaml`); demucs's own bag definitions are used otherwise.
    model_dir: Path = Path("var/models")
    # Also look in torch hub's checkpoint cache (where an online machine downloads them).
    use_torch_hub_cache: bool = True
    # "auto" picks CUDA when torch sees a GPU; or "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    # Threads for torch on CPU; 0 = from the container's CPU quota.
    torch_threads: int = Field(0, ge=0, le=256)
    # Segments per forward pass; segments of concurrent jobs share a batch. 0 = auto
    # (1 on CPU, where batching gains nothing; 8 on a GPU).
    batch_size: int = Field(0, ge=0, le=64)
    # How long the batcher waits for more segments before running a partial batch.
    batch_wait_ms: float = Field(5.0, ge=0.0, le=1000.0)
    # Models kept loaded at once.
    model_cache_size: int = Field(2, ge=1, le=16)
    # Reuse stems of identical audio + model + parameters (per owner).
    result_cache: bool = True
    # `models pull` fetches each file from here (base URL + the file's name in MODEL_DIR)
    # instead of where it is published: a mirror inside the operator's network.
    model_mirror_url: str | None = Field(None, max_length=2000)
    # More models `models pull` knows (JSON in the shipped registry's format), e.g. private
    # checkpoints on an internal server.
    model_catalog_file: Path | None = None
    concurrency: int = Field(1, ge=1, le=64)
