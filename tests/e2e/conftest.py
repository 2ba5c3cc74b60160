"""The whole platform, as real processes, for end-to-end tests through the public API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cadenza.devstack.demucs_models import install_test_models
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port

MAX_UPLOAD_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    install_test_models(root / "data" / "models")  # random weights, demucs's format
    with Platform(
        root / "data",
        gateway_port=free_port(),
        log_dir=root / "logs",
        extra_env={"MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "LOG_LEVEL": "INFO"},
    ) as running:
        yield running


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=60) as client:
        yield client


@pytest.fixture
def ws_url(platform: Platform) -> str:
    return platform.url.replace("http://", "ws://") + "/api/v1/ws"


def upload(api: httpx.Client, path: Path, name: str | None = None) -> httpx.Response:
    with path.open("rb") as f:
        return api.post("/api/v1/uploads", files={"file": (name or path.name, f)})
