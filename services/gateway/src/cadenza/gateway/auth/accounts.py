"""Users, sessions, refresh tokens and API keys in PostgreSQL (migration 0002)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg

API_KEY_PREFIX = "cdz_"
# Live (unrevoked) API keys one account may hold: what listing and checking them can cost.
MAX_API_KEYS = 100


class EmailTakenError(Exception):
    pass


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    role: str
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, row: asyncpg.Record) -> User:
        return cls(row["id"], row["email"], row["role"], row["disabled"], row["created_at"])


@dataclass(frozen=True)
class Account:
    """Who a valid credential belongs to, as the database says now."""

    user_id: uuid.UUID
    role: str
    key_id: uuid.UUID | None = None


USER_COLUMNS = "id, email, role, disabled, created_at"


async def create_user(pool: asyncpg.Pool, email: str, password_hash: str, role: str) -> User:
    try:
        row = await pool.fetchrow(
            f"INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4) "
            f"RETURNING {USER_COLUMNS}",
            uuid.uuid4(),
            email,
            password_hash,
            role,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTakenError(email) from None
    return User.of(row)


async def credentials_for(pool: asyncpg.Pool, email: str) -> tuple[User, str] | None:
    row = await pool.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)", email
    )
    return (User.of(row), row["password_hash"]) if row else None


async def get_user(pool: asyncpg.Pool, user_id: uuid.UUID) -> User | None:
    row = await pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return User.of(row) if row else None


async def list_users(pool: asyncpg.Pool, limit: int, offset: int) -> tuple[list[User], int]:
    rows = await pool.fetch(
        f"SELECT {USER_COLUMNS}, count(*) OVER () AS total FROM users "
        "ORDER BY created_at, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    total = rows[0]["total"] if rows else await pool.fetchval("SELECT count(*) FROM users")
    return [User.of(r) for r in rows], int(total)


async def update_user(
    pool: asyncpg.Pool, user_id: uuid.UUID, role: str | None, disabled: bool | None
) -> User | None:
    row = await pool.fetchrow(
        f"UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled) "
        f"WHERE id = $1 RETURNING {USER_COLUMNS}",
        user_id,
        role,
        disabled,
    )
    return User.of(row) if row else None


# --- failed sign-ins ---------------------------------------------------------------------


async def sign_in_wait(pool: asyncpg.Pool, email: str) -> float:
    """Seconds the account with this email must wait before its next sign-in attempt."""
    wait = await pool.fetchval(
        "SELECT greatest(0, extract(epoch FROM sign_in_blocked_until - now())) "
        "FROM users WHERE lower(email) = lower($1)",
        email,
    )
    return float(wait or 0.0)


async def record_failed_sign_in(
    pool: asyncpg.Pool, email: str, free_attempts: int, max_wait_s: float
) -> None:
    """Count a failed sign-in; past `free_attempts` the account waits 1, 2, 4… seconds
    (at most `max_wait_s`) before the next attempt is heard."""
    await pool.execute(
        "UPDATE users SET failed_sign_ins = failed_sign_ins + 1, "
        "sign_in_blocked_until = CASE WHEN failed_sign_ins + 1 > $2 THEN now() + "
        "make_interval(secs => least($3, power(2, least(failed_sign_ins + 1 - $2 - 1, 30))))"
        " ELSE NULL END "
        "WHERE lower(email) = lower($1)",
        email,
        free_attempts,
        max_wait_s,
    )


async def clear_failed_sign_ins(pool: asyncpg.Pool, user_id: uuid.UUID) -> None:
    await pool.execute(
        "UPDATE users SET failed_sign_ins = 0, sign_in_blocked_until = NULL "
        "WHERE id = $1 AND failed_sign_ins > 0",
        user_id,
    )


# --- sessions and refresh tokens ------------------------------------------------------------


async def start_session(
    pool: asyncpg.Pool, user_id: uuid.UUID, ttl_s: int, first_refresh: uuid.UUID
) -> uuid.UUID:
    session_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO sessions (id, user_id, expires_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3))",
            session_id,
            user_id,
            float(ttl_s),
        )
        await conn.execute(
            "INSERT INTO refresh_tokens (jti, session_id) VALUES ($1, $2)",
            first_refresh,
            session_id,
        )
    return session_id


async def session_account(pool: asyncpg.Pool, session_id: uuid.UUID) -> Account | None:
    """The session's user, if the session is live and the user enabled."""
    row = await pool.fetchrow(
        "SELECT u.id, u.role FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled",
        session_id,
    )
    return Account(row["id"], row["role"]) if row else None


RotateResult = Literal["rotated", "reused", "unknown"]


async def rotate_refresh(
    pool: asyncpg.Pool, session_id: uuid.UUID, spent: uuid.UUID, new: uuid.UUID
) -> RotateResult:
    """Spend refresh token `spent` and record `new` in its place, in one transaction.
    A token already spent means it was copied: the whole session is revoked."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE refresh_tokens SET spent_at = now() "
            "WHERE jti = $1 AND session_id = $2 AND spent_at IS NULL RETURNING jti",
            spent,
            session_id,
        )
        if row is None:
            known = await conn.fetchval(
                "SELECT 1 FROM refresh_tokens WHERE jti = $1 AND session_id = $2",
                spent,
                session_id,
            )
            if not known:
                return "unknown"
            await conn.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
                "WHERE id = $1 AND revoked_at IS NULL",
                session_id,
                "a refresh token was used twice",
            )
            return "reused"
        await conn.execute(
            "INSERT INTO refresh_tokens (jti, session_id) VALUES ($1, $2)", new, session_id
        )
    return "rotated"


async def revoke_session(pool: asyncpg.Pool, session_id: uuid.UUID, reason: str) -> None:
    await pool.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 "
        "WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )


# --- API keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> ApiKey:
        return cls(row["id"], row["name"], row["created_at"], row["last_used_at"])


def _digest(secret: str) -> bytes:
    # The secret is 256 random bits: a plain digest is enough, no slow hash needed.
    return hashlib.sha256(secret.encode()).digest()


async def create_api_key(
    pool: asyncpg.Pool, user_id: uuid.UUID, name: str
) -> tuple[ApiKey, str] | None:
    """A new key and its full text, which is shown once and never stored; None when the
    account already has MAX_API_KEYS live keys (counted under a lock on the account)."""
    key_id = uuid.uuid4()
    secret = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
        live = await conn.fetchval(
            "SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL", user_id
        )
        if live >= MAX_API_KEYS:
            return None
        row = await conn.fetchrow(
            "INSERT INTO api_keys (id, user_id, name, secret_hash) VALUES ($1, $2, $3, $4) "
            "RETURNING id, name, created_at, last_used_at",
            key_id,
            user_id,
            name,
            _digest(secret),
        )
    return ApiKey.of(row), f"{API_KEY_PREFIX}{key_id.hex}_{secret}"


async def list_api_keys(
    pool: asyncpg.Pool, user_id: uuid.UUID, limit: int = MAX_API_KEYS, offset: int = 0
) -> list[ApiKey]:
    rows = await pool.fetch(
        "SELECT id, name, created_at, last_used_at FROM api_keys "
        "WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id LIMIT $2 OFFSET $3",
        user_id,
        limit,
        offset,
    )
    return [ApiKey.of(r) for r in rows]


async def revoke_api_key(pool: asyncpg.Pool, user_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    status = await pool.execute(
        "UPDATE api_keys SET revoked_at = now() "
        "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        key_id,
        user_id,
    )
    return bool(status.endswith(" 1"))


async def api_key_account(pool: asyncpg.Pool, key: str) -> Account | None:
    """The account an API key belongs to, if the key is well formed, live and matches."""
    body = key.removeprefix(API_KEY_PREFIX)
    key_hex, _, secret = body.partition("_")
    try:
        key_id = uuid.UUID(hex=key_hex)
    except ValueError:
        return None
    row = await pool.fetchrow(
        "SELECT k.secret_hash, k.last_used_at, u.id, u.role FROM api_keys k "
        "JOIN users u ON u.id = k.user_id "
        "WHERE k.id = $1 AND k.revoked_at IS NULL AND NOT u.disabled",
        key_id,
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _digest(secret)):
        return None
    if row["last_used_at"] is None or row["last_used_at"] < dt.datetime.now(dt.UTC) - dt.timedelta(
        minutes=1
    ):
        await pool.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)
    return Account(row["id"], row["role"], key_id)


async def key_account(pool: asyncpg.Pool, key_id: uuid.UUID) -> Account | None:
    """The account of a live API key, by the key's id (the key itself is not kept)."""
    row = await pool.fetchrow(
        "SELECT u.id, u.role FROM api_keys k JOIN users u ON u.id = k.user_id "
        "WHERE k.id = $1 AND k.revoked_at IS NULL AND NOT u.disabled",
        key_id,
    )
    return Account(row["id"], row["role"], key_id) if row else None
