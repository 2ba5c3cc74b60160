"""The platform as it is deployed (accounts required, the default limits and quotas), for the
abuse suite: each test attacks it as a free account (or none) would and measures what that
cost, while another account keeps being served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cadenza.devstack.abuse import Account, new_account
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_tone

# Small enough to fill in a test, large enough for the victims' own work.
STORAGE_QUOTA_BYTES = 64 << 20


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("abuse")
    with Platform(
        root / "data",
        gateway_port=free_port(),
        log_dir=root / "logs",
        extra_env={
            "AUTH_MODE": "required",
            "RATE_LIMIT_PER_MINUTE": "6000",
            "RATE_LIMIT_BURST": "500",
            # Every test signs up accounts from 127.0.0.1.
            "AUTH_RATE_LIMIT_PER_MINUTE": "600",
            "STORAGE_QUOTA_BYTES": str(STORAGE_QUOTA_BYTES),
            "MAX_ACTIVE_JOBS": "4",
            "SOCKET_RECHECK_S": "5",
            "LOG_LEVEL": "INFO",
        },
    ) as running:
        yield running


@pytest.fixture
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, timeout=120) as client:
        yield client


@pytest.fixture
def attacker(api: httpx.Client) -> Account:
    return new_account(api, "attacker")


@pytest.fixture
def victim(api: httpx.Client) -> Account:
    return new_account(api, "victim")


@pytest.fixture(scope="session")
def tone_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("tone") / "tone.wav", 2.0)
