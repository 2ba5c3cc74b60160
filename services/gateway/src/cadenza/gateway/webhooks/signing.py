"""Signatures as the Standard Webhooks specification defines them (standardwebhooks.com):
`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`,
keyed by the secret's bytes (`whsec_<base64>`). Any Standard Webhooks library verifies them;
so does the ten-line recipe in README.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES = 32
USER_AGENT = "Cadenza-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One `v1,<signature>` for `body` sent as `message_id` at `timestamp` (Unix seconds)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(message_id: str, timestamp: int, body: str, keys: list[str]) -> dict[str, str]:
    """The headers of one attempt; one signature per key (during a rotation's grace period
    the old secret signs too, separated by a space, as the specification allows)."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, message_id, timestamp, body) for k in keys),
    }
