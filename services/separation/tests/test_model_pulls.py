"""Model pulls through the bus: a real nats-server, the separation worker as it installs
itself, files from a loopback server. The pulled model is advertised for jobs; an unknown
name or a mismatching checksum fails the job with a sentence; the worker advertises what it
can pull."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cadenza.contracts import Event, JobProgress
from cadenza.contracts.model_catalog import (
    KNOWN_MODELS,
    ModelPullCompleted,
    ModelPullFailed,
    ModelPullRequested,
)
from cadenza.devstack.model_server import (
    ModelFileServer,
    blob_entry,
    demucs_entry,
    roformer_entry,
)
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import stream_messages
from cadenza.runtime.model_catalog import CatalogRegistry
from cadenza.runtime.model_registry import ModelRegistry
from cadenza.runtime.service import WorkerRuntime
from cadenza.separation.app import install
from cadenza.separation.settings import Settings


@pytest.fixture
def server() -> Iterator[ModelFileServer]:
    with ModelFileServer() as running:
        yield running


@pytest.fixture
def entries(server: ModelFileServer, tmp_path: Path) -> dict[str, dict[str, Any]]:
    demucs, demucs_files = demucs_entry(tmp_path / "built", server.url)
    for name, body in demucs_files.items():
        server.serve(f"/{name}", body, chunk_delay_s=0.1)  # slow enough to report progress
    roformer, roformer_files = roformer_entry(tmp_path / "built", server.url)
    for name, body in roformer_files.items():
        server.serve(f"/{name}", body)
    broken, broken_files = blob_entry(server.url, name="wrong_sum")
    broken["files"][0]["sha256"] = "f" * 64
    for name, body in broken_files.items():
        server.serve(f"/published/{name}", body)
    return {"tiny_demucs": demucs, "tiny_roformer": roformer, "wrong_sum": broken}


@pytest.fixture
async def worker(
    fresh_nats: NatsServer, tmp_path: Path, entries: dict[str, dict[str, Any]]
) -> AsyncIterator[WorkerRuntime]:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"models": list(entries.values())}))
    settings = Settings(
        nats_url=fresh_nats.url,
        storage_dir=tmp_path / "store",
        model_dir=tmp_path / "models",
        model_catalog_file=catalog,
        use_torch_hub_cache=False,
    )
    runtime = WorkerRuntime(settings, "separation-test")
    install(runtime)
    async with runtime:
        await runtime.start_consuming()
        yield runtime


async def outcome(runtime: WorkerRuntime, job_id: uuid.UUID, timeout_s: float = 60) -> Event:
    js = runtime.broker.connection.jetstream()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for subject, cls in (
            (ModelPullCompleted.subject, ModelPullCompleted),
            (ModelPullFailed.subject, ModelPullFailed),
        ):
            for message in await stream_messages(js, subject, timeout_s=0.3):
                event = cls.model_validate_json(message.data)
                if event.job_id == job_id:
                    return event
        await asyncio.sleep(0.2)
    raise AssertionError(f"no outcome for {job_id}")


def pull_command(model: str) -> ModelPullRequested:
    return ModelPullRequested(
        job_id=uuid.uuid4(), owner="admin", correlation_id=uuid.uuid4(), model=model
    )


async def test_a_pulled_model_is_installed_and_advertised(
    worker: WorkerRuntime, tmp_path: Path, entries: dict[str, dict[str, Any]]
) -> None:
    js = worker.broker.connection.jetstream()
    assert "tiny_demucs" not in await ModelRegistry(js, cache_s=0).available()
    command = pull_command("tiny_demucs")
    await worker.bus.publish(command)
    done = await outcome(worker, command.job_id)
    assert isinstance(done, ModelPullCompleted), done
    assert done.details["available"] is True
    files = {f["name"]: f for f in done.details["files"]}
    for spec in entries["tiny_demucs"]["files"]:
        assert files[spec["name"]]["sha256"] == spec["sha256"]
        assert (tmp_path / "models" / spec["name"]).stat().st_size == spec["bytes"]
    advertised = await ModelRegistry(js, cache_s=0).available()
    assert advertised["tiny_demucs"].stems == ("drums", "bass", "other", "vocals")
    progress = [
        JobProgress.model_validate_json(m.data)
        for m in await stream_messages(js, JobProgress.subject, timeout_s=0.3)
    ]
    reported = [p for p in progress if p.job_id == command.job_id]
    assert reported and all(p.stage == "model_pull" for p in reported)
    assert reported[0].message is not None and reported[0].message.endswith(" MB")


async def test_a_pulled_roformer_model_is_laid_out_as_its_loader_reads_it(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    command = pull_command("tiny_roformer")
    await worker.bus.publish(command)
    done = await outcome(worker, command.job_id)
    assert isinstance(done, ModelPullCompleted), done
    assert done.details["available"] is True
    assert {p.name for p in (tmp_path / "models").glob("tiny_roformer.*")} == {
        "tiny_roformer.ckpt",
        "tiny_roformer.yaml",
    }
    advertised = await ModelRegistry(worker.broker.connection.jetstream(), cache_s=0).available()
    assert advertised["tiny_roformer"].family == "mel_band_roformer"
    assert advertised["tiny_roformer"].stems == ("vocals", "instrumental")


async def test_a_checksum_mismatch_fails_the_job_and_leaves_nothing(
    worker: WorkerRuntime, tmp_path: Path
) -> None:
    command = pull_command("wrong_sum")
    await worker.bus.publish(command)
    failed = await outcome(worker, command.job_id)
    assert isinstance(failed, ModelPullFailed), failed
    assert failed.code == "invalid_input"
    assert "is not the registry's file" in failed.reason
    assert "f" * 64 in failed.reason
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")] == []


async def test_an_unknown_model_fails_with_the_known_names(worker: WorkerRuntime) -> None:
    command = pull_command("no_such_model")
    await worker.bus.publish(command)
    failed = await outcome(worker, command.job_id)
    assert isinstance(failed, ModelPullFailed)
    assert "no known model 'no_such_model'" in failed.reason
    assert "tiny_demucs" in failed.reason and "htdemucs_ft" in failed.reason


async def test_the_worker_advertises_what_it_can_pull(worker: WorkerRuntime) -> None:
    catalog = await CatalogRegistry(worker.broker.connection.jetstream(), cache_s=0).available()
    assert set(catalog) == {*KNOWN_MODELS, "tiny_demucs", "tiny_roformer", "wrong_sum"}
    assert catalog["htdemucs"] == KNOWN_MODELS["htdemucs"]
