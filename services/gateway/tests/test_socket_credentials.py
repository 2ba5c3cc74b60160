"""Credentials that end close the WebSockets opened with them, within a second, with the
reason: sign-out, a revoked API key, a disabled account, a changed role; in every replica;
and the periodic recheck catches what no announcement said."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cadenza.devstack.nats import NatsServer
from cadenza.gateway.app import create_app
from cadenza.gateway.services import Services

from .conftest import settings

PASSWORD = "correct horse battery"


@contextmanager
def replica(database: str, nats: str, storage: Path, **overrides: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings(database, nats, storage, **overrides))) as client:
        yield client


def account(client: TestClient, email: str) -> dict[str, Any]:
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    pair: dict[str, Any] = client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    ).json()
    return pair


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sql(client: TestClient, query: str, *args: Any) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(services.pool.execute, query, *args)  # type: ignore[union-attr]


def closed_within(ws: Any, seconds: float = 1.0) -> WebSocketDisconnect:
    """Wait for the socket to close (a socket left open blocks here until the test times
    out); the close, after checking it came in time."""
    started = time.monotonic()
    try:
        while True:
            ws.receive_text()
    except WebSocketDisconnect as closed:
        assert time.monotonic() - started < seconds, "the socket stayed open too long"
        return closed


def subscribe_works(ws: Any) -> None:
    job_id = str(uuid.uuid4())
    ws.send_text(json.dumps({"action": "subscribe", "job_id": job_id}))
    assert json.loads(ws.receive_text())["message"] == f"job {job_id} not found"


def test_sign_out_and_key_revocation_close_their_sockets_only(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    with replica(fresh_database, nats_server.url, tmp_path) as client:
        pair = account(client, "ws-owner@example.com")
        token = pair["access_token"]
        key = client.post("/api/v1/auth/api-keys", json={"name": "cli"}, headers=auth(token))
        key_id, key_text = key.json()["id"], key.json()["key"]
        other = account(client, "ws-other@example.com")
        with (
            client.websocket_connect(f"/api/v1/ws?access_token={token}") as by_token,
            client.websocket_connect("/api/v1/ws", headers={"X-API-Key": key_text}) as by_key,
            client.websocket_connect(
                f"/api/v1/ws?access_token={other['access_token']}"
            ) as bystander,
        ):
            for ws in (by_token, by_key, bystander):
                subscribe_works(ws)
            assert client.post("/api/v1/auth/logout", headers=auth(token)).status_code == 204
            ended = closed_within(by_token)
            assert (ended.code, ended.reason) == (4401, "signed out")
            subscribe_works(by_key)  # a key is not a sign-in session
            revoked = client.delete(
                f"/api/v1/auth/api-keys/{key_id}", headers={"X-API-Key": key_text}
            )
            assert revoked.status_code == 204
            ended = closed_within(by_key)
            assert (ended.code, ended.reason) == (4401, "the API key was revoked")
            subscribe_works(bystander)  # another account's socket is untouched


def test_disabling_an_account_or_changing_its_role_closes_its_sockets_everywhere(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    with (
        replica(fresh_database, nats_server.url, tmp_path / "a") as first,
        replica(fresh_database, nats_server.url, tmp_path / "b") as second,
    ):
        admin = account(first, "ws-admin@example.com")
        sql(first, "UPDATE users SET role = 'owner' WHERE email = 'ws-admin@example.com'")
        user = account(first, "ws-user@example.com")
        user_id, token = user["user"]["id"], user["access_token"]
        # The user's sockets on the other replica: an admin's change on this one ends them.
        with second.websocket_connect(f"/api/v1/ws?access_token={token}") as ws:
            subscribe_works(ws)
            changed = first.patch(
                f"/api/v1/admin/users/{user_id}",
                json={"role": "reviewer"},
                headers=auth(admin["access_token"]),
            )
            assert changed.status_code == 200, changed.text
            ended = closed_within(ws)
            assert (ended.code, ended.reason) == (4401, "your role changed to reviewer; reconnect")
        # Reconnected with the new role, then disabled: closed again, and refused after.
        with second.websocket_connect(f"/api/v1/ws?access_token={token}") as ws:
            subscribe_works(ws)
            first.patch(
                f"/api/v1/admin/users/{user_id}",
                json={"disabled": True},
                headers=auth(admin["access_token"]),
            )
            ended = closed_within(ws)
            assert (ended.code, ended.reason) == (4401, "the account was disabled by an admin")
        with (
            second.websocket_connect(f"/api/v1/ws?access_token={token}") as ws,
            pytest.raises(WebSocketDisconnect) as refused,
        ):
            ws.receive_text()
        assert refused.value.code == 4401


def test_live_sessions_close_too(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    with replica(fresh_database, nats_server.url, tmp_path) as client:
        token = account(client, "live-user@example.com")["access_token"]
        with client.websocket_connect(f"/api/v1/live?access_token={token}") as ws:
            client.post("/api/v1/auth/logout", headers=auth(token))
            started = time.monotonic()
            said = json.loads(ws.receive_text())
            assert said == {"type": "closed", "code": 4401, "reason": "signed out"}
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 4401
            assert time.monotonic() - started < 1.0


def test_the_recheck_closes_what_no_announcement_said(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    with replica(fresh_database, nats_server.url, tmp_path, socket_recheck_s=0.2) as client:
        token = account(client, "quiet-end@example.com")["access_token"]
        with client.websocket_connect(f"/api/v1/ws?access_token={token}") as ws:
            subscribe_works(ws)
            # The session ends in the database only (as expiry would): no announcement.
            sql(
                client,
                "UPDATE sessions SET revoked_at = now() "
                "WHERE user_id = (SELECT id FROM users WHERE email = 'quiet-end@example.com')",
            )
            ended = closed_within(ws, seconds=2.0)
            assert ended.code == 4401
            assert "credentials ended" in ended.reason


def test_wrong_credentials_on_sockets_count_against_the_address(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    with replica(fresh_database, nats_server.url, tmp_path, auth_failures_per_minute=6) as client:
        codes = []
        for _ in range(3):
            with (
                client.websocket_connect("/api/v1/ws?access_token=forged") as ws,
                pytest.raises(WebSocketDisconnect) as closed,
            ):
                ws.receive_text()
            codes.append(closed.value.code)
        assert codes == [4401, 4401, 4429]
