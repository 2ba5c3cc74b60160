"""Signed tokens (JWT, HS256): short-lived access tokens and rotating refresh tokens.

Both carry `sid`, the sign-in session they belong to; the session row decides whether
they still count (logout and refresh-token reuse revoke it).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

ALGORITHM = "HS256"
ISSUER = "cadenza"

TokenType = Literal["access", "refresh"]


class TokenError(Exception):
    """A token that is not ours, is damaged, or has expired; the message says which."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    token_id: uuid.UUID
    type: TokenType
    expires_at: int


def issue(
    secret: str,
    type_: TokenType,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    ttl_s: int,
    token_id: uuid.UUID | None = None,
) -> tuple[str, TokenClaims]:
    now = int(time.time())
    claims = TokenClaims(user_id, session_id, token_id or uuid.uuid4(), type_, now + ttl_s)
    payload = {
        "iss": ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": str(claims.token_id),
        "typ": type_,
        "iat": now,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def read(secret: str, token: str, expected: TokenType) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "jti", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError(f"the {expected} token has expired") from None
    except jwt.InvalidTokenError:
        raise TokenError(f"the {expected} token is not valid") from None
    if payload.get("typ") != expected:
        raise TokenError(f"this is not an {expected} token")
    try:
        return TokenClaims(
            uuid.UUID(payload["sub"]),
            uuid.UUID(payload["sid"]),
            uuid.UUID(payload["jti"]),
            expected,
            int(payload["exp"]),
        )
    except (ValueError, TypeError):
        raise TokenError(f"the {expected} token is not valid") from None
