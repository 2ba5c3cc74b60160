"""`cadenza-separation models list|pull` as an operator runs them: the installed console
script, the worker's settings from the environment, files from a loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cadenza.contracts.model_catalog import KNOWN_MODELS
from cadenza.devstack.model_server import ModelFileServer, blob_entry

SCRIPT = Path(sys.executable).parent / "cadenza-separation"


@pytest.fixture
def server() -> Iterator[ModelFileServer]:
    with ModelFileServer() as running:
        yield running


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_")}
    return subprocess.run(
        [str(SCRIPT), *args],
        env={**base, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def catalog_env(tmp_path: Path, *entries: dict[str, Any]) -> dict[str, str]:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"models": list(entries)}))
    return {"MODEL_DIR": str(tmp_path / "models"), "MODEL_CATALOG_FILE": str(catalog)}


def test_list_shows_the_shipped_registry_and_the_operators_models(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, _ = blob_entry(server.url)
    env = catalog_env(tmp_path, entry)
    listed = run(env, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {*KNOWN_MODELS, "test_roformer"}
    assert rows["htdemucs"]["files"][0]["name"] == "955717e8-8726e21a.th"
    assert rows["htdemucs"]["bytes"] == 84141911
    assert rows["test_roformer"]["present"] is False
    human = run(env, "models", "list")
    assert "mel_band_roformer_vocals" in human.stdout
    assert "licence: MIT" in human.stdout


def test_pull_fetches_verifies_and_reports_the_sha256(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    for name, body in files.items():
        server.serve(f"/published/{name}", body)
    env = catalog_env(tmp_path, entry)
    pulled = run(env, "models", "pull", "test_roformer")
    assert pulled.returncode == 0, pulled.stderr
    assert "100%" in pulled.stderr  # the progress bar reached the end
    for spec in entry["files"]:
        assert f"{spec['name']}  {spec['bytes']:,} bytes fetched  sha256 {spec['sha256']}" in (
            pulled.stdout
        )
        assert (tmp_path / "models" / spec["name"]).read_bytes() == files[spec["name"]]
    again = run(env, "models", "pull", "test_roformer", "--json")
    assert again.returncode == 0, again.stderr
    assert all(f["already_present"] for f in json.loads(again.stdout)["files"])
    listed = json.loads(run(env, "models", "list", "--json").stdout)
    assert next(r for r in listed if r["name"] == "test_roformer")["present"] is True


def test_an_unknown_model_is_refused_with_the_known_names(tmp_path: Path) -> None:
    refused = run({"MODEL_DIR": str(tmp_path / "models")}, "models", "pull", "htdemucs_9000")
    assert refused.returncode == 1
    assert "no known model 'htdemucs_9000'" in refused.stderr
    assert "known models: bs_roformer_vocals, htdemucs, htdemucs_6s, htdemucs_ft" in (
        refused.stderr
    )
    assert not (tmp_path / "models").exists()


def test_a_broken_download_is_resumed_by_the_next_pull(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url, size=1_000_000)
    server.serve("/published/test_roformer.ckpt", files["test_roformer.ckpt"], drop_after=400_000)
    server.serve("/published/test_roformer.yaml", files["test_roformer.yaml"])
    env = catalog_env(tmp_path, entry)
    broken = run(env, "models", "pull", "test_roformer")
    assert broken.returncode == 1
    assert "broke off at 400,000 of 1,000,000 bytes" in broken.stderr
    assert "pull again to resume" in broken.stderr
    resumed = run(env, "models", "pull", "test_roformer")
    assert resumed.returncode == 0, resumed.stderr
    assert "600,000 bytes fetched, resumed after 400,000" in resumed.stdout
    assert server.requests[1].range == "bytes=400000-"


def test_the_mirror_comes_from_the_flag_or_the_setting(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    for name, body in files.items():
        server.serve(f"/flag/{name}", body)
        server.serve(f"/setting/{name}", body)
    env = catalog_env(tmp_path, entry)
    flagged = run(env, "models", "pull", "test_roformer", "--mirror", f"{server.url}/flag")
    assert flagged.returncode == 0, flagged.stderr
    assert {r.path.split("/")[1] for r in server.requests} == {"flag"}
    other = {
        **env,
        "MODEL_DIR": str(tmp_path / "other"),
        "MODEL_MIRROR_URL": f"{server.url}/setting",
    }
    assert run(other, "models", "pull", "test_roformer").returncode == 0
    assert {r.path.split("/")[1] for r in server.requests[2:]} == {"setting"}


def test_a_catalog_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text(json.dumps({"models": [{"name": "../../etc", "family": "demucs"}]}))
    refused = run({"MODEL_CATALOG_FILE": str(bad)}, "models", "list")
    assert refused.returncode == 1
    assert "is not a model catalog (models.0.name" in refused.stderr
