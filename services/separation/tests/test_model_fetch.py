"""`model_fetch.pull` against a real HTTP server on loopback: verified installs, checksum
mismatches that leave nothing, resumed and restarted transfers, oversized answers, mirrors,
and two pulls of the same model at once."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cadenza.contracts.model_catalog import KnownModel
from cadenza.devstack.model_server import ModelFileServer, blob_entry, demucs_entry
from cadenza.separation.model_fetch import (
    ChecksumMismatchError,
    PullError,
    PullInterruptedError,
    pull,
)
from cadenza.separation.models import Catalog


@pytest.fixture
def server() -> Iterator[ModelFileServer]:
    with ModelFileServer() as running:
        yield running


def served(
    server: ModelFileServer, entry: dict[str, Any], files: dict[str, bytes], **options: Any
) -> KnownModel:
    """Serve each file at its entry's URL path (with `options` for the first, the big one)."""
    for index, spec in enumerate(entry["files"]):
        path = spec["url"].removeprefix(server.url)
        server.serve(path, files[spec["name"]], **(options if index == 0 else {}))
    return KnownModel.model_validate(entry)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_verified_pull_installs_every_file_and_demucs_loads_it(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = demucs_entry(tmp_path / "built", server.url)
    model = served(server, entry, files)
    models = tmp_path / "models"
    seen: list[tuple[int, int]] = []
    got = pull(model, models, progress=lambda done, total: seen.append((done, total)))
    assert listing(models) == sorted(files)
    for name, body in files.items():
        assert (models / name).read_bytes() == body
    assert [f.sha256 for f in got] == [hashlib.sha256(files[f.name]).hexdigest() for f in got]
    assert all(f.verified and not f.already_present for f in got)
    assert seen[-1] == (model.bytes, model.bytes)
    # demucs's own repository finds the bag and checks the checksum in the file's name.
    catalog = Catalog((models,))
    assert "tiny_demucs" in catalog.available()
    assert catalog.load("tiny_demucs") is not None

    again = pull(model, models)  # nothing to do: verified in place, nothing fetched
    assert all(f.already_present and f.fetched == 0 for f in again)
    assert len(server.requests) == len(files)


def test_a_checksum_mismatch_leaves_nothing(server: ModelFileServer, tmp_path: Path) -> None:
    entry, files = blob_entry(server.url)
    entry["files"][0]["sha256"] = "0" * 64
    model = served(server, entry, files)
    models = tmp_path / "models"
    with pytest.raises(ChecksumMismatchError, match="not the registry's file") as caught:
        pull(model, models)
    assert "0" * 64 in str(caught.value)
    assert listing(models) == []  # neither the file nor its .part


def test_a_demucs_checkpoint_must_match_the_checksum_in_its_name(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = demucs_entry(tmp_path / "built", server.url)
    spec = entry["files"][0]
    del spec["sha256"]  # no full sha256 known: the name's 8 hex digits still count
    body = files[spec["name"]]
    wrong = dict(files)
    wrong[spec["name"]] = body[:-1] + bytes([body[-1] ^ 1])
    model = served(server, entry, wrong)
    with pytest.raises(ChecksumMismatchError, match="does not begin with"):
        pull(model, tmp_path / "models")
    assert listing(tmp_path / "models") == []


def test_a_broken_transfer_resumes_with_a_range_request(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url, size=2_000_000)
    half = 1_000_000
    model = served(server, entry, files, drop_after=half)
    models = tmp_path / "models"
    with pytest.raises(PullInterruptedError, match="pull again to resume"):
        pull(model, models)
    part = models / "test_roformer.ckpt.part"
    assert part.stat().st_size == half
    assert not (models / "test_roformer.ckpt").exists()

    got = pull(model, models)
    path = "/published/test_roformer.ckpt"
    ranges = [r.range for r in server.requests if r.path == path]
    assert ranges == [None, f"bytes={half}-"]
    assert got[0].resumed_from == half
    assert got[0].fetched == len(files["test_roformer.ckpt"]) - half
    assert server.sent(path) < 2 * len(files["test_roformer.ckpt"])
    assert (models / "test_roformer.ckpt").read_bytes() == files["test_roformer.ckpt"]
    assert not part.exists()


def test_a_server_that_ignores_range_sends_the_whole_file_again(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    model = served(server, entry, files, drop_after=100_000, ignore_range=True)
    models = tmp_path / "models"
    with pytest.raises(PullInterruptedError):
        pull(model, models)
    got = pull(model, models)
    assert got[0].resumed_from == 0
    assert got[0].fetched == len(files["test_roformer.ckpt"])
    assert (models / "test_roformer.ckpt").read_bytes() == files["test_roformer.ckpt"]


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "no-length"])
def test_more_bytes_than_the_registry_says_are_refused(
    server: ModelFileServer, tmp_path: Path, announce: bool
) -> None:
    entry, files = blob_entry(server.url)
    model = served(server, entry, files, extra=b"x" * 5000, announce_length=announce)
    models = tmp_path / "models"
    with pytest.raises(PullError, match="more than the registry's"):
        pull(model, models)
    assert listing(models) == []


def test_a_mirror_serves_every_file_by_its_name(server: ModelFileServer, tmp_path: Path) -> None:
    entry, files = blob_entry(server.url)
    model = KnownModel.model_validate(entry)  # nothing served where it is published
    for name, body in files.items():
        server.serve(f"/mirror/{name}", body)
    pull(model, tmp_path / "models", mirror=f"{server.url}/mirror/")
    assert {r.path for r in server.requests} == {f"/mirror/{n}" for n in files}
    assert listing(tmp_path / "models") == sorted(files)


@pytest.mark.parametrize("mirror", ["ftp://example.com/m", "file:///etc", "http://u:p@h/", "x"])
def test_only_http_urls_are_fetched(tmp_path: Path, mirror: str) -> None:
    entry, _ = blob_entry("http://127.0.0.1:9")
    with pytest.raises(PullError, match="not an http"):
        pull(KnownModel.model_validate(entry), tmp_path / "models", mirror=mirror)


def test_an_answer_that_is_not_the_file_fails_with_the_status(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, _ = blob_entry(server.url)  # nothing served: 404
    with pytest.raises(PullError, match="answered 404"):
        pull(KnownModel.model_validate(entry), tmp_path / "models")


def test_a_different_file_already_in_place_is_left_alone(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    model = served(server, entry, files)
    models = tmp_path / "models"
    models.mkdir()
    mine = b"an operator's own checkpoint"
    (models / "test_roformer.ckpt").write_bytes(mine)
    with pytest.raises(PullError, match="move it away"):
        pull(model, models)
    assert (models / "test_roformer.ckpt").read_bytes() == mine


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a 0o555 folder")
def test_a_read_only_model_directory_is_refused_before_fetching(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    model = served(server, entry, files)
    models = tmp_path / "models"
    models.mkdir()
    models.chmod(0o555)
    try:
        with pytest.raises(PullError, match="not writable"):
            pull(model, models)
    finally:
        models.chmod(0o755)
    assert server.requests == []


def test_a_model_directory_that_cannot_be_made_is_refused_before_fetching(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url)
    model = served(server, entry, files)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(PullError, match="cannot make the model directory"):
        pull(model, tmp_path / "a-file" / "models")
    assert server.requests == []


def test_two_pulls_of_one_model_at_once_fetch_it_once(
    server: ModelFileServer, tmp_path: Path
) -> None:
    entry, files = blob_entry(server.url, size=1_500_000)
    model = served(server, entry, files, chunk_delay_s=0.01)
    models = tmp_path / "models"
    results: dict[int, Any] = {}
    waited = threading.Event()

    def run(index: int) -> None:
        try:
            results[index] = pull(model, models, waiting=lambda _: waited.set())
        except Exception as e:  # reported below
            results[index] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(r, list) for r in results.values()), results
    assert waited.is_set()
    assert server.sent("/published/test_roformer.ckpt") == len(files["test_roformer.ckpt"])
    checkpoint = [f for r in results.values() for f in r if f.name == "test_roformer.ckpt"]
    presence = sorted(f.already_present for f in checkpoint)
    assert presence == [False, True]
    assert (models / "test_roformer.ckpt").read_bytes() == files["test_roformer.ckpt"]
    assert listing(models) == sorted(files)
