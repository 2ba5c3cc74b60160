"""Who is calling: a bearer access token, an API key, or (AUTH_MODE=dev only) nobody."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from starlette.requests import HTTPConnection

from cadenza.gateway.auth import accounts, tokens
from cadenza.gateway.rate_limit import RateLimiter
from cadenza.gateway.settings import Settings

ADMIN_ROLES = frozenset({"owner", "admin"})
READ_ONLY_ROLES = frozenset({"reviewer"})


class AuthError(Exception):
    """The request's credentials do not count; the message says why (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """The caller. `id` owns everything it creates (jobs, uploads, songs, artifacts)."""

    id: str
    role: str
    via: Literal["dev", "token", "api_key"]
    session_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def can_write(self) -> bool:
        return self.role not in READ_ONLY_ROLES


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def credential_of(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError("the Authorization header must read 'Bearer <access token or API key>'")
        return value.strip()
    if key := conn.headers.get("x-api-key"):
        return key.strip()
    if conn.scope["type"] == "websocket":
        # Browsers cannot set headers on a WebSocket; the query string carries the token.
        return conn.query_params.get("access_token") or None
    return None


class Authenticator:
    """Turns credentials into a Principal, and holds the rate limiters for callers."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self.pool = pool
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
        # Without a configured secret (development), tokens last as long as this process.
        self.secret = secret or secrets.token_urlsafe(48)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.sign_in_limiter = RateLimiter(
            settings.auth_rate_limit_per_minute, max(1, settings.auth_rate_limit_per_minute // 3)
        )
        self.failure_limiter = RateLimiter(
            settings.auth_failures_per_minute, max(1, settings.auth_failures_per_minute // 3)
        )

    async def authenticate(self, conn: HTTPConnection) -> Principal:
        credential = credential_of(conn)
        if credential is None:
            if self.settings.auth_mode == "dev":
                return Principal(self.settings.default_owner, self.settings.dev_role, "dev")
            raise AuthError(
                "sign in first: send 'Authorization: Bearer <access token>' "
                "(POST /api/v1/auth/login) or an API key"
            )
        if credential.startswith(accounts.API_KEY_PREFIX):
            account = await accounts.api_key_account(self.pool, credential)
            if account is None:
                raise AuthError("the API key is not valid or has been revoked")
            return Principal(str(account.user_id), account.role, "api_key", key_id=account.key_id)
        try:
            claims = tokens.read(self.secret, credential, "access")
        except tokens.TokenError as e:
            raise AuthError(str(e)) from None
        account = await accounts.session_account(self.pool, claims.session_id)
        if account is None or account.user_id != claims.user_id:
            raise AuthError("the session has ended (signed out, revoked or expired); sign in again")
        return Principal(str(account.user_id), account.role, "token", claims.session_id)

    async def still_valid(self, principal: Principal) -> str | None:
        """The principal's role as the database says now, or None if its credentials no
        longer count (session ended, key revoked, account disabled)."""
        if principal.via == "dev":
            return principal.role
        if principal.session_id is not None:
            account = await accounts.session_account(self.pool, principal.session_id)
        elif principal.key_id is not None:
            account = await accounts.key_account(self.pool, principal.key_id)
        else:
            return None
        return account.role if account and str(account.user_id) == principal.id else None
