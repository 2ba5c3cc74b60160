"""The gateway's edge against real servers: rate limits per principal, body limits, deep
JSON, security headers, CORS, and WebSocket sign-in."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cadenza.devstack.nats import NatsServer
from cadenza.gateway.app import create_app
from cadenza.gateway.rate_limit import RateLimiter

from .conftest import bearer, gateway, settings, sign_up


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == pytest.approx(1.0)
    assert limiter.take("b", now=0.0) == 0.0, "another key has its own bucket"
    assert limiter.take("a", now=1.0) == 0.0, "one token a second comes back"
    assert RateLimiter(per_minute=0, burst=1).take("a") == 0.0, "0 turns it off"


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, max_keys=100)
    for i in range(1000):
        limiter.take(f"client-{i}", now=0.0)
    assert len(limiter._buckets) == 100


async def test_rate_limit_per_principal_with_retry_after(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database, nats_server.url, tmp_path, rate_limit_per_minute=60, rate_limit_burst=5
    )
    async with gateway(config) as api:
        greedy = await sign_up(api, "greedy@example.com")
        modest = await sign_up(api, "modest@example.com")
        codes = [
            (await api.get("/api/v1/jobs", headers=bearer(greedy["access_token"]))).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [200] * 5
        assert codes[5:] == [429, 429]
        limited = await api.get("/api/v1/jobs", headers=bearer(greedy["access_token"]))
        assert limited.headers["retry-after"] == "1"
        assert "too many requests" in limited.json()["detail"]
        other = await api.get("/api/v1/jobs", headers=bearer(modest["access_token"]))
        assert other.status_code == 200, "one principal's flood does not limit another"


async def test_sign_in_attempts_are_limited_per_address(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_rate_limit_per_minute=9)
    async with gateway(config) as api:
        codes = [
            (
                await api.post(
                    "/api/v1/auth/login", json={"email": "a@example.com", "password": "guess" * 3}
                )
            ).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]


async def test_body_limits_and_deep_or_broken_json(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with gateway(config) as api:
        huge = b'{"kind": "effects", "pad": "' + b"x" * (2 << 20) + b'"}'
        declared = await api.post(
            "/api/v1/jobs", content=huge, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert "larger than the limit of 262144 bytes" in declared.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 65536

        streamed = await api.post(
            "/api/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413, "chunked bodies are counted as they arrive"

        deep = await api.post(
            "/api/v1/jobs",
            content=b"[" * 100_000 + b"]" * 100_000,
            headers={"Content-Type": "application/json"},
        )
        assert 400 <= deep.status_code < 500, deep.text
        for body in (b"\xff\xfe not utf-8", b'{"kind": "effects",', b"null", b"[]", b'"x"'):
            bad = await api.post(
                "/api/v1/jobs", content=body, headers={"Content-Type": "application/json"}
            )
            assert 400 <= bad.status_code < 500, (body, bad.status_code, bad.text)
            assert bad.json()["detail"]
        assert (await api.get("/health")).status_code == 200


async def test_security_headers_and_cors(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path,
        auth_mode="dev",
        cors_origins=("https://studio.example.com",),
        hsts_seconds=31536000,
    )
    async with gateway(config) as api:
        page = await api.get("/")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        # The docs pages have their own policy (docs_pages.py): scripts from the gateway only.
        docs_policy = (await api.get("/docs")).headers["content-security-policy"]
        assert "script-src 'self';" in docs_policy
        assert "frame-ancestors 'none'" in docs_policy
        allowed = await api.options(
            "/api/v1/jobs",
            headers={
                "Origin": "https://studio.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://studio.example.com"
        foreign = await api.options(
            "/api/v1/jobs",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in foreign.headers


def test_websocket_needs_credentials_and_accepts_a_query_token(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    app = create_app(settings(fresh_database, nats_server.url, tmp_path))
    with TestClient(app) as client:
        with (
            client.websocket_connect("/api/v1/ws") as ws,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            ws.receive_text()
        assert closed.value.code == 4401
        assert "sign in" in closed.value.reason

        # Live effects say it as every live close does: the full reason as text first.
        with client.websocket_connect("/api/v1/live") as ws:
            said = json.loads(ws.receive_text())
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        assert said["type"] == "closed" and said["code"] == 4401 and "sign in" in said["reason"]
        assert closed.value.code == 4401

        client.post(
            "/api/v1/auth/register",
            json={"email": "ws@example.com", "password": "correct horse battery"},
        )
        token = client.post(
            "/api/v1/auth/login",
            json={"email": "ws@example.com", "password": "correct horse battery"},
        ).json()["access_token"]
        job_id = "00000000-0000-0000-0000-000000000001"
        with client.websocket_connect(f"/api/v1/ws?access_token={token}") as ws:
            ws.send_text(json.dumps({"action": "subscribe", "job_id": job_id}))
            reply = json.loads(ws.receive_text())
        assert reply == {"type": "error", "job_id": job_id, "message": f"job {job_id} not found"}


async def test_only_upload_routes_take_multipart_and_each_route_has_its_limit(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with gateway(config) as api:
        # Multipart to a JSON route: refused unread, whatever its size.
        form = await api.post("/api/v1/jobs", files={"file": ("x.wav", b"\0" * (1 << 20))})
        assert form.status_code == 415
        assert "only the upload endpoints take multipart" in form.json()["detail"]
        # Sign-in routes take 16 KiB.
        padded = await api.post(
            "/api/v1/auth/login",
            content=b'{"email": "a@example.com", "password": "' + b"x" * 20_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert padded.status_code == 413
        assert "16384 bytes" in padded.json()["detail"]
        # Upload routes take multipart (and are not held to the JSON limit).
        upload = await api.post("/api/v1/uploads", files={"file": ("x.bin", b"\1" * (300 * 1024))})
        assert upload.status_code == 415, upload.text
        assert "not audio" in upload.json()["detail"]


async def test_a_body_that_does_not_arrive_in_time_is_cut_off(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path,
        auth_mode="dev",
        request_body_timeout_s=0.5,
        upload_idle_timeout_s=0.5,
    )

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"kind": '
        await asyncio.sleep(2.0)
        yield b'"effects"}'

    async with gateway(config) as api:
        started = time.monotonic()
        slow = await api.post(
            "/api/v1/jobs", content=trickle(), headers={"Content-Type": "application/json"}
        )
        assert slow.status_code == 408
        assert "did not arrive within 0.5 s" in slow.json()["detail"]
        assert time.monotonic() - started < 1.9

        async def stalled_upload() -> AsyncIterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            await asyncio.sleep(2.0)
            yield b"RIFF\r\n--b--\r\n"

        stalled = await api.post(
            "/api/v1/uploads",
            content=stalled_upload(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert stalled.status_code == 408
        assert "stalled" in stalled.json()["detail"]


async def test_forwarded_for_counts_only_from_trusted_proxies(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    """Sign-in attempts are limited per address; a rotating X-Forwarded-For does not dodge
    the limit unless the peer is a configured proxy (ASGITransport's peer is 127.0.0.1)."""

    async def attempts(api: httpx.AsyncClient) -> list[int]:
        return [
            (
                await api.post(
                    "/api/v1/auth/login",
                    json={"email": "a@example.com", "password": "guess" * 3},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
            ).status_code
            for i in range(4)
        ]

    untrusted = settings(fresh_database, nats_server.url, tmp_path, auth_rate_limit_per_minute=9)
    async with gateway(untrusted) as api:
        assert await attempts(api) == [401, 401, 401, 429]
    trusted = settings(
        fresh_database,
        nats_server.url,
        tmp_path,
        auth_rate_limit_per_minute=9,
        trusted_proxies=("127.0.0.0/8",),
    )
    async with gateway(trusted) as api:
        assert await attempts(api) == [401, 401, 401, 401]


async def test_failed_sign_ins_back_off_per_account(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path,
        auth_rate_limit_per_minute=0,  # per address: off, to see the per-account back-off
        sign_in_free_attempts=2,
        sign_in_max_backoff_s=1.5,
    )
    async with gateway(config) as api:
        await sign_up(api, "target@example.com")

        async def login(password: str) -> httpx.Response:
            return await api.post(
                "/api/v1/auth/login", json={"email": "target@example.com", "password": password}
            )

        assert [(await login("wrong guess " + str(i))).status_code for i in range(3)] == [
            401,
            401,
            401,
        ]
        # The third failure made the account wait: even the right password is not heard yet.
        waiting = await login("correct horse battery")
        assert waiting.status_code == 429
        assert "too many failed sign-ins for this account" in waiting.json()["detail"]
        assert waiting.headers["retry-after"] == "1"
        # Another account is not affected.
        assert (await sign_up(api, "bystander@example.com"))["access_token"]
        await asyncio.sleep(1.1)
        assert (await login("wrong guess 4")).status_code == 401
        waiting = await login("correct horse battery")
        assert waiting.status_code == 429 and waiting.headers["retry-after"] == "2"
        await asyncio.sleep(1.6)  # the wait doubles, up to SIGN_IN_MAX_BACKOFF_S
        assert (await login("correct horse battery")).status_code == 200
        # A success clears the count: two failures are free again.
        assert [(await login("wrong")).status_code for _ in range(2)] == [401, 401]
        assert (await login("correct horse battery")).status_code == 200


async def test_requests_with_wrong_credentials_are_limited_per_address(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_failures_per_minute=6)
    async with gateway(config) as api:
        codes = [
            (await api.get("/api/v1/jobs", headers=bearer(f"cdz_{i:032x}_guess"))).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 429, 429]
        refused = await api.get("/api/v1/jobs", headers=bearer("not-a-token"))
        assert refused.status_code == 429
        assert "wrong credentials" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1


async def test_text_that_cannot_be_stored_is_refused_naming_the_field(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with gateway(config) as api:
        nul = await api.post(
            "/api/v1/jobs",
            json={
                "kind": "blend",
                "songs": ["Chorale", "Reel\u0000"],
                "params": {"bars": 8},
            },
        )
        assert nul.status_code == 422, nul.text
        assert nul.json()["errors"] == [
            {
                "field": "songs.1",
                "message": "contains a NUL character (U+0000), which text may not hold",
            }
        ]
        surrogate = await api.post(
            "/api/v1/auth/register",
            content=b'{"email": "a\\ud800@example.com", "password": "correct horse battery"}',
            headers={"Content-Type": "application/json"},
        )
        assert surrogate.status_code == 422
        assert surrogate.json()["errors"][0]["field"] == "email"
        assert "lone surrogate" in surrogate.json()["detail"]
        query = await api.get("/api/v1/songs", params={"q": "title\x00"})
        assert query.status_code == 422
        assert query.json()["errors"][0]["field"] == "q"
        form = await api.post(
            "/api/v1/songs",
            files={"midi": ("a.mid", b"MThd")},
            data={"title": "bad\x00title"},
        )
        assert form.status_code == 422
        assert form.json()["errors"][0]["field"] == "title"
        # Nothing reached the database as an error: the server still answers normally.
        assert (await api.get("/api/v1/jobs")).status_code == 200
