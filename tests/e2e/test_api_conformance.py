"""schemathesis with every check it has, and stateful sequences along the OpenAPI's links, over
every operation of a gateway that requires accounts: any finding fails the test.

The checks (`st run --checks all`) include: no 5xx; each status, content type, header and body
as the document declares; invalid data refused and valid data accepted; a resource answers
after it is created and not after it is deleted; an operation that declares security refuses
a call without credentials; unsupported methods answer 405. FUZZ_EXAMPLES=200 for a long run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cadenza.devstack.platform import Platform

from .conftest import second_gateway

pytestmark = pytest.mark.platform

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# About a minute at 8 examples; a long run grows with FUZZ_EXAMPLES.
RUN_TIMEOUT_S = 240 + 30 * EXAMPLES
PASSWORD = "correct horse battery staple"
# The few rules no schema can state (stored state, file contents), each named there.
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Real audio in some of its uploads and songs, and a callback that is allowed, so stateful
# sequences get past creating things and follow the links from them.
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
# About 50 at the default FUZZ_EXAMPLES (5 before the hooks and whole-body links); fewer
# means the sequences stop at their first step again.
MIN_LINKS_FOLLOWED = 35


@pytest.fixture(scope="module")
def strict_gateway(platform: Platform) -> Iterator[str]:
    """A second gateway on the platform's bus and database that requires credentials, without
    the sign-in rate limits (the fuzzer signs in far more often than a person)."""
    env = {
        "AUTH_MODE": "required",
        "COMPAT_ROUTES": "true",  # the seeds' routes (docs/compat.md) are checked too
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_FAILURES_PER_MINUTE": "0",
        "RATE_LIMIT_PER_MINUTE": "0",
    }
    with second_gateway(platform, "gateway-conformance", env) as url:
        yield url


def api_key(base: str) -> str:
    """A fresh account's API key (a token would end when the fuzzer calls logout)."""
    email = f"conformance-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=30) as api:
        created = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert pair.status_code == 200, pair.text
        token = pair.json()["access_token"]
        key = api.post(
            "/api/v1/auth/api-keys",
            json={"name": "schemathesis"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert key.status_code == 201, key.text
        secret: str = key.json()["key"]
        return secret


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_schemathesis_finds_nothing(strict_gateway: str, tmp_path: Path) -> None:
    # Two accounts (Web Fuzzing Commons' auth file): requests go as the first, and
    # object_level_authorization replays what it read as the second.
    accounts = tmp_path / "accounts.json"
    accounts.write_text(
        json.dumps(
            {
                "auth": [
                    {
                        "name": name,
                        "fixedHeaders": [
                            {"name": "Authorization", "value": f"Bearer {api_key(strict_gateway)}"}
                        ],
                    }
                    for name in ("owner", "stranger")
                ]
            }
        )
    )
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{strict_gateway}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "19",
        # One worker: hypothesis's lambda descriptions call ast.parse, which CPython 3.11
        # can fail with "AST constructor recursion depth mismatch" from threads.
        "--workers",
        "1",
        "--auth-wfc",
        str(accounts),
        "--output-sanitize",
        "false",
        "--request-timeout",
        "60",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
    )
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    # How far the stateful sequences got (`pytest -s` shows it): scenarios run, and links
    # followed of those in the document (its own and those schemathesis infers).
    for line in output.splitlines():
        if line.strip().startswith(("API Links:", "Scenarios:")):
            print("stateful", " ".join(line.split()))
    assert run.returncode == 0, output[-20000:]
    links = re.search(r"API Links:\s+(\d+) covered", output)
    assert links is not None, output[-5000:]
    assert int(links.group(1)) >= MIN_LINKS_FOLLOWED, (
        f"the stateful phase followed only {links.group(1)} links: its sequences no longer get "
        "past creating an upload, job, song or webhook (see schemathesis_hooks.py)"
    )
