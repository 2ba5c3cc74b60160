"""Classes 7 and 8: sessions end with their credentials, and guessing is slow. A live
effects session and a job feed opened with an API key or a sign-in close within a second
of the key's revocation or the sign-out; a rotating X-Forwarded-For does not dodge the
per-address limits (no proxy is trusted by default); an account's failed sign-ins back off
whatever address they come from."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import websockets

from cadenza.devstack.abuse import PASSWORD, Account, new_account
from cadenza.devstack.platform import Platform


async def test_a_revoked_key_and_a_sign_out_end_their_sockets_at_once(
    platform: Platform, attacker: Account
) -> None:
    base = platform.url.replace("http://", "ws://")
    with httpx.Client(base_url=platform.url, headers=attacker.headers) as api:
        key = api.post("/api/v1/auth/api-keys", json={"name": "stolen"}).json()
    live_headers = {"X-API-Key": key["key"]}
    async with (
        websockets.connect(base + "/api/v1/live", additional_headers=live_headers) as live,
        websockets.connect(base + "/api/v1/ws", additional_headers=attacker.headers) as feed,
    ):
        await live.send(json.dumps({"type": "open", "chain": [{"type": "gain"}]}))
        assert json.loads(await live.recv())["type"] == "ready"
        with httpx.Client(base_url=platform.url, headers=attacker.headers) as api:
            started = time.monotonic()
            assert api.delete(f"/api/v1/auth/api-keys/{key['id']}").status_code == 204
            said = json.loads(await live.recv())
            assert said == {"type": "closed", "code": 4401, "reason": "the API key was revoked"}
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            assert api.post("/api/v1/auth/logout").status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await feed.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "signed out")
        assert time.monotonic() - started < 1.0


def test_forwarded_for_does_not_dodge_the_limits_and_sign_ins_back_off(
    platform: Platform, api: httpx.Client
) -> None:
    codes = [
        api.get(
            "/api/v1/jobs",
            headers={"Authorization": "Bearer forged", "X-Forwarded-For": f"198.51.100.{i}"},
        ).status_code
        for i in range(40)
    ]
    assert codes[0] == 401 and codes[-1] == 429, codes
    target = new_account(api, "target")
    attempts = [
        api.post(
            "/api/v1/auth/login",
            json={"email": target.email, "password": f"guess number {i}"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(7)
    ]
    assert attempts[:5] == [401] * 5 and 429 in attempts[5:], attempts
    # The owner, with the right password, waits its turn too (then gets in).
    waiting = api.post("/api/v1/auth/login", json={"email": target.email, "password": PASSWORD})
    assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) >= 1
