"""Fetching a model through the platform, as an admin does: `cadenza models pull` (the API,
a separation worker, a loopback server of random-weight files) ends with the model runnable;
everyone else gets 403, unknown names a 422 that lists the known ones."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cadenza.contracts.model_catalog import KNOWN_MODELS
from cadenza.devstack.model_server import ModelFileServer, blob_entry, demucs_entry
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_noise

from .conftest import upload, wait_for_status
from .test_cli import cadenza, ok_json
from .test_ownership import account, headers

pytestmark = pytest.mark.platform


@pytest.fixture(scope="module")
def files_server() -> Iterator[ModelFileServer]:
    with ModelFileServer() as running:
        yield running


@pytest.fixture(scope="module")
def pulling_platform(
    tmp_path_factory: pytest.TempPathFactory, files_server: ModelFileServer
) -> Iterator[Platform]:
    """The gateway and a separation worker that knows two test models besides the shipped
    ones: `tiny_demucs` (random weights) and `wrong_sum` (its sha256 is not its bytes')."""
    root = tmp_path_factory.mktemp("pulls")
    demucs, demucs_files = demucs_entry(root / "built", files_server.url)
    for name, body in demucs_files.items():
        files_server.serve(f"/{name}", body, chunk_delay_s=0.05)
    wrong, wrong_files = blob_entry(files_server.url, name="wrong_sum")
    wrong["files"][0]["sha256"] = "e" * 64
    for name, body in wrong_files.items():
        files_server.serve(f"/published/{name}", body)
    catalog = root / "catalog.json"
    catalog.write_text(json.dumps({"models": [demucs, wrong]}))
    with Platform(
        root / "data",
        gateway_port=free_port(),
        workers=("separation",),
        log_dir=root / "logs",
        extra_env={"MODEL_CATALOG_FILE": str(catalog), "LOG_LEVEL": "INFO"},
    ) as running:
        yield running


def pullable(platform: Platform) -> dict[str, dict[str, Any]]:
    listed = ok_json(cadenza(platform, "--json", "models", "list"))
    return {m["name"]: m for m in listed["pullable"]}


def test_an_admin_pull_ends_with_the_model_running_jobs(
    pulling_platform: Platform, tmp_path: Path
) -> None:
    platform = pulling_platform
    before = pullable(platform)
    assert set(before) == {*KNOWN_MODELS, "tiny_demucs", "wrong_sum"}
    assert before["tiny_demucs"]["available"] is False
    table = cadenza(platform, "models", "list")
    assert table.returncode == 0, table.stderr
    assert "Known models (admins: cadenza models pull NAME)" in table.stdout
    assert "classical (default)" in table.stdout and "tiny_demucs" in table.stdout

    # AUTH_MODE=dev: the CLI without credentials acts as the local owner, an admin.
    pulled = cadenza(platform, "models", "pull", "tiny_demucs")
    assert pulled.returncode == 0, pulled.stderr
    assert "model_pull" in pulled.stderr and "100%" in pulled.stderr  # its progress bar
    assert "completed" in pulled.stdout and "available=True" in pulled.stdout
    for spec in before["tiny_demucs"]["files"]:
        assert f"{spec['name']}  sha256 {spec['sha256']}" in pulled.stdout
        installed = platform.data_dir / "models" / spec["name"]
        assert installed.stat().st_size == spec["bytes"]

    deadline = time.monotonic() + 10
    while not pullable(platform)["tiny_demucs"]["available"]:
        assert time.monotonic() < deadline, "the pulled model was never advertised"
        time.sleep(0.5)
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        upload_id = upload(api, write_noise(tmp_path / "mix.wav", 2.0)).json()["id"]
        job = api.post(
            "/api/v1/jobs",
            json={
                "kind": "separation",
                "input": {"upload_id": upload_id},
                "params": {"model": "tiny_demucs", "stems": ["vocals"]},
            },
        )
        assert job.status_code == 202, job.text
        done = wait_for_status(api, job.json()["id"], 120)
    assert done["status"] == "completed", done
    assert [a["name"] for a in done["artifacts"]] == ["vocals.wav"]


def test_a_checksum_mismatch_fails_the_pull_and_installs_nothing(
    pulling_platform: Platform,
) -> None:
    failed = cadenza(pulling_platform, "--json", "models", "pull", "wrong_sum")
    assert failed.returncode == 1
    job = json.loads(failed.stdout)
    assert job["status"] == "failed"
    assert "is not the registry's file" in job["error"]["reason"]
    left = [p.name for p in (pulling_platform.data_dir / "models").iterdir()]
    assert not [name for name in left if name.startswith("wrong_sum")]


def test_only_admins_pull_and_unknown_names_are_refused_with_the_known_ones(
    pulling_platform: Platform,
) -> None:
    platform = pulling_platform
    with httpx.Client(base_url=platform.url, timeout=60) as api:
        producer = account(api, f"producer-{uuid.uuid4().hex[:8]}@example.com")
        refused = api.post("/api/v1/models/tiny_demucs/pull", headers=headers(producer))
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this needs the admin or owner role"
        listed = api.get("/api/v1/models", headers=headers(producer))
        assert listed.status_code == 200  # reading the list is for everyone
        unknown = api.post("/api/v1/models/htdemucs_9000/pull")
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "name"
        assert "known models: bs_roformer_vocals, htdemucs" in unknown.json()["detail"]
        assert "tiny_demucs, wrong_sum" in unknown.json()["detail"]
    token = producer["Authorization"].removeprefix("Bearer ")
    as_producer = cadenza(platform, "--api-key", token, "models", "pull", "tiny_demucs")
    assert as_producer.returncode == 1
    assert "this needs the admin or owner role" in as_producer.stderr
    unknown_cli = cadenza(platform, "models", "pull", "htdemucs_9000")
    assert unknown_cli.returncode == 1
    assert "no known model 'htdemucs_9000'" in unknown_cli.stderr
