"""Accounts against real PostgreSQL and NATS: register, sign in, rotate and reuse refresh
tokens, sign out, API keys, roles, and the refusal of development mode in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cadenza.devstack.nats import NatsServer
from cadenza.gateway.settings import Settings

from .conftest import bearer, gateway, settings, sign_up


@pytest.fixture
def config(fresh_database: str, nats_server: NatsServer, tmp_path: Path) -> Settings:
    return settings(fresh_database, nats_server.url, tmp_path / "artifacts")


async def test_no_credentials_no_access_and_a_sentence_saying_how(config: Settings) -> None:
    async with gateway(config) as api:
        for path in ("/api/v1/jobs", "/api/v1/uploads/00000000-0000-0000-0000-000000000000"):
            refused = await api.get(path)
            assert refused.status_code == 401, path
            assert "sign in" in refused.json()["detail"]
            assert refused.headers["www-authenticate"] == "Bearer"
        bad = await api.get("/api/v1/jobs", headers=bearer("not.a.jwt"))
        assert bad.status_code == 401
        assert bad.json()["detail"] == "the access token is not valid"
        basic = await api.get("/api/v1/jobs", headers={"Authorization": "Basic abc"})
        assert basic.status_code == 401
        assert "Bearer" in basic.json()["detail"]
        assert (await api.get("/health")).status_code == 200, "health stays public"


async def test_register_login_and_use_the_access_token(config: Settings) -> None:
    async with gateway(config) as api:
        pair = await sign_up(api, "Ada@Example.com")
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == config.access_token_ttl_s
        assert pair["user"]["role"] == "producer"
        me = await api.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
        identity = {k: me.json()[k] for k in ("id", "role", "via", "email")}
        assert identity == {
            "id": pair["user"]["id"],
            "role": "producer",
            "via": "token",
            "email": "Ada@Example.com",
        }
        assert me.json()["storage"] == {
            "stored_bytes": 0,
            "reserved_bytes": 0,
            "quota_bytes": 5 << 30,
            "remaining_bytes": 5 << 30,
        }
        assert me.json()["jobs"] == {"active": 0, "max_active": 4}
        jobs = await api.get("/api/v1/jobs", headers=bearer(pair["access_token"]))
        assert jobs.status_code == 200
        assert jobs.json()["items"] == []
        # The refresh token is not an access token.
        wrong = await api.get("/api/v1/jobs", headers=bearer(pair["refresh_token"]))
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "this is not an access token"


async def test_registration_refusals(config: Settings) -> None:
    async with gateway(config) as api:
        await sign_up(api, "bob@example.com")
        same = await api.post(
            "/api/v1/auth/register",
            json={"email": "BOB@example.com", "password": "another long password"},
        )
        assert same.status_code == 409
        assert "already exists" in same.json()["detail"]
        short = await api.post(
            "/api/v1/auth/register", json={"email": "c@example.com", "password": "short"}
        )
        assert short.status_code == 422
        assert "at least 10 characters" in short.json()["detail"]
        simple = await api.post(
            "/api/v1/auth/register", json={"email": "c@example.com", "password": "a" * 20}
        )
        assert simple.status_code == 422
        not_email = await api.post(
            "/api/v1/auth/register", json={"email": "nobody", "password": "long enough pass"}
        )
        assert not_email.status_code == 422
        assert "not an email address" in not_email.json()["detail"]
        wrong = await api.post(
            "/api/v1/auth/login", json={"email": "bob@example.com", "password": "wrong password!"}
        )
        assert wrong.status_code == 401
        unknown = await api.post(
            "/api/v1/auth/login", json={"email": "who@example.com", "password": "wrong password!"}
        )
        assert unknown.status_code == 401
        assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong email or password"


async def test_passwords_are_stored_as_argon2id_hashes(config: Settings) -> None:
    import asyncpg

    async with gateway(config) as api:
        await sign_up(api, "hash@example.com", "my secret phrase 42")
    conn = await asyncpg.connect(config.database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
    assert "my secret phrase 42" not in stored


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(
    config: Settings,
) -> None:
    async with gateway(config) as api:
        first = await sign_up(api, "rot@example.com")
        second = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert second.status_code == 200, second.text
        second_pair = second.json()
        assert second_pair["refresh_token"] != first["refresh_token"]
        ok = await api.get("/api/v1/jobs", headers=bearer(second_pair["access_token"]))
        assert ok.status_code == 200

        # Someone replays the first refresh token: refused, and the whole session ends.
        replay = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert replay.status_code == 401
        assert "already used" in replay.json()["detail"]
        for token in (first["access_token"], second_pair["access_token"]):
            gone = await api.get("/api/v1/jobs", headers=bearer(token))
            assert gone.status_code == 401
            assert "session has ended" in gone.json()["detail"]
        latest = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": second_pair["refresh_token"]}
        )
        assert latest.status_code == 401

        # Signing in again starts a new session.
        again = await api.post(
            "/api/v1/auth/login",
            json={"email": "rot@example.com", "password": "correct horse battery"},
        )
        assert again.status_code == 200


async def test_logout_ends_the_access_and_refresh_tokens(config: Settings) -> None:
    async with gateway(config) as api:
        pair = await sign_up(api, "out@example.com")
        other = await api.post(
            "/api/v1/auth/login",
            json={"email": "out@example.com", "password": "correct horse battery"},
        )
        out = await api.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
        assert out.status_code == 204
        assert (
            await api.get("/api/v1/jobs", headers=bearer(pair["access_token"]))
        ).status_code == 401
        refreshed = await api.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 401
        # Another session of the same account (another device) is unaffected.
        still = await api.get("/api/v1/jobs", headers=bearer(other.json()["access_token"]))
        assert still.status_code == 200


async def test_api_keys_work_list_without_secrets_and_revoke(config: Settings) -> None:
    async with gateway(config) as api:
        pair = await sign_up(api, "keys@example.com")
        made = await api.post(
            "/api/v1/auth/api-keys", json={"name": "laptop"}, headers=bearer(pair["access_token"])
        )
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        assert key.startswith("cdz_")
        for headers in (bearer(key), {"X-API-Key": key}):
            me = await api.get("/api/v1/auth/me", headers=headers)
            assert me.status_code == 200
            assert me.json()["via"] == "api_key"
            assert me.json()["id"] == pair["user"]["id"]
        assert made.headers["location"] == f"/api/v1/auth/api-keys/{made.json()['id']}"
        listed = await api.get("/api/v1/auth/api-keys", headers=bearer(key))
        assert [k["name"] for k in listed.json()["items"]] == ["laptop"]
        assert listed.json()["next"] is None
        assert key not in listed.text
        assert listed.json()["items"][0]["last_used_at"] is not None

        tampered = key[:-3] + ("AAA" if not key.endswith("AAA") else "BBB")
        assert (await api.get("/api/v1/jobs", headers=bearer(tampered))).status_code == 401

        intruder = await sign_up(api, "intruder@example.com")
        theirs = await api.delete(
            f"/api/v1/auth/api-keys/{made.json()['id']}", headers=bearer(intruder["access_token"])
        )
        assert theirs.status_code == 404
        revoked = await api.delete(
            f"/api/v1/auth/api-keys/{made.json()['id']}", headers=bearer(pair["access_token"])
        )
        assert revoked.status_code == 204
        after = await api.get("/api/v1/jobs", headers=bearer(key))
        assert after.status_code == 401
        assert "revoked" in after.json()["detail"]


async def test_roles_admin_versus_user_reviewer_reads_only_disabled_is_out(
    config: Settings,
) -> None:
    import asyncpg

    async with gateway(config) as api:
        boss = await sign_up(api, "boss@example.com")
        user = await sign_up(api, "user@example.com")
        refused = await api.get("/api/v1/admin/users", headers=bearer(user["access_token"]))
        assert refused.status_code == 403
        assert "admin" in refused.json()["detail"]

        conn = await asyncpg.connect(config.database_url)
        try:  # the first admin comes from the CLI or the database
            await conn.execute("UPDATE users SET role = 'admin' WHERE email = 'boss@example.com'")
        finally:
            await conn.close()
        listed = await api.get("/api/v1/admin/users", headers=bearer(boss["access_token"]))
        assert listed.status_code == 200
        assert listed.json()["total"] == 2
        assert listed.json()["next"] is None
        first = await api.get(
            "/api/v1/admin/users", params={"limit": 1}, headers=bearer(boss["access_token"])
        )
        assert first.headers["link"] == f'<{first.json()["next"]}>; rel="next"'
        second = await api.get(first.json()["next"], headers=bearer(boss["access_token"]))
        emails = [u["email"] for page in (first, second) for u in page.json()["items"]]
        assert sorted(emails) == ["boss@example.com", "user@example.com"]
        assert second.json()["next"] is None

        owner_grab = await api.patch(
            f"/api/v1/admin/users/{user['user']['id']}",
            json={"role": "owner"},
            headers=bearer(boss["access_token"]),
        )
        assert owner_grab.status_code == 403, "only an owner makes owners"
        demote = await api.patch(
            f"/api/v1/admin/users/{user['user']['id']}",
            json={"role": "reviewer"},
            headers=bearer(boss["access_token"]),
        )
        assert demote.json()["role"] == "reviewer"
        reviewer = bearer(user["access_token"])
        assert (await api.get("/api/v1/jobs", headers=reviewer)).status_code == 200
        write = await api.post(
            "/api/v1/jobs",
            json={
                "kind": "effects",
                "input": {"upload_id": "00000000-0000-0000-0000-000000000000"},
            },
            headers=reviewer,
        )
        assert write.status_code == 403
        assert "reviewer role can read" in write.json()["detail"]

        await api.patch(
            f"/api/v1/admin/users/{user['user']['id']}",
            json={"disabled": True},
            headers=bearer(boss["access_token"]),
        )
        assert (await api.get("/api/v1/jobs", headers=reviewer)).status_code == 401
        login = await api.post(
            "/api/v1/auth/login",
            json={"email": "user@example.com", "password": "correct horse battery"},
        )
        assert login.status_code == 401
        assert "disabled" in login.json()["detail"]


async def test_closed_registration(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, registration="closed")
    async with gateway(config) as api:
        closed = await api.post(
            "/api/v1/auth/register", json={"email": "x@example.com", "password": "long enough 123"}
        )
        assert closed.status_code == 403
        assert "registration is closed" in closed.json()["detail"]


async def test_development_mode_acts_as_the_local_principal_but_checks_credentials(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path, auth_mode="dev")
    async with gateway(config) as api:
        me = await api.get("/api/v1/auth/me")
        identity = {k: me.json()[k] for k in ("id", "role", "via", "email")}
        assert identity == {"id": "local", "role": "owner", "via": "dev", "email": None}
        bad = await api.get("/api/v1/jobs", headers=bearer("garbage"))
        assert bad.status_code == 401, "wrong credentials are never silently ignored"
        pair = await sign_up(api, "dev@example.com")
        me = await api.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
        assert me.json()["id"] == pair["user"]["id"]


def test_production_settings_refuse_development_mode_and_weak_secrets() -> None:
    with pytest.raises(
        ValidationError, match=r"AUTH_MODE=dev .* refused when ENVIRONMENT=production"
    ):
        Settings(
            database_url="postgresql://x",
            environment="production",
            auth_mode="dev",
            jwt_secret="s" * 40,
        )
    with pytest.raises(ValidationError, match="JWT_SECRET of at least 32 characters"):
        Settings(database_url="postgresql://x", environment="production", jwt_secret="short")
    ok = Settings(database_url="postgresql://x", environment="production", jwt_secret="s" * 40)
    assert ok.auth_mode == "required"
    assert "s" * 40 not in repr(ok), "secrets never appear in reprs or logs"


async def test_tokens_of_another_server_do_not_count(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path)
    async with gateway(config) as api:
        pair = await sign_up(api, "sig@example.com")
    other = settings(fresh_database, nats_server.url, tmp_path, jwt_secret="another-" + "y" * 40)
    async with gateway(other) as api:
        refused = await api.get("/api/v1/jobs", headers=bearer(pair["access_token"]))
        assert refused.status_code == 401


async def test_an_account_holds_a_bounded_number_of_api_keys_listed_in_pages(
    config: Settings,
) -> None:
    from cadenza.gateway.auth.accounts import MAX_API_KEYS

    async with gateway(config) as api:
        pair = await sign_up(api, "many-keys@example.com")
        auth = bearer(pair["access_token"])
        for n in range(MAX_API_KEYS):
            made = await api.post("/api/v1/auth/api-keys", json={"name": f"k{n}"}, headers=auth)
            assert made.status_code == 201, made.text
        refused = await api.post("/api/v1/auth/api-keys", json={"name": "one more"}, headers=auth)
        assert refused.status_code == 409
        assert f"at most {MAX_API_KEYS}" in refused.json()["detail"]
        # Pages of 30 walk every key once, following `next`.
        names: list[str] = []
        url: str | None = "/api/v1/auth/api-keys?limit=30"
        while url:
            page = (await api.get(url, headers=auth)).json()
            names += [k["name"] for k in page["items"]]
            url = page["next"]
        assert sorted(names) == sorted(f"k{n}" for n in range(MAX_API_KEYS))
        # Revoking one makes room for one.
        some = (await api.get("/api/v1/auth/api-keys?limit=1", headers=auth)).json()["items"][0]
        assert (
            await api.delete(f"/api/v1/auth/api-keys/{some['id']}", headers=auth)
        ).status_code == 204
        again = await api.post("/api/v1/auth/api-keys", json={"name": "room"}, headers=auth)
        assert again.status_code == 201
