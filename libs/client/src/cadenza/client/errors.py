"""One error type for everything the API or the network refuses, carrying the server's own
sentence (every 4xx/5xx body of the gateway is an RFC 9457 problem, application/problem+json,
whose `detail` is that sentence and, on a 422, `errors` the fields)."""

from __future__ import annotations

from typing import Any

import httpx


class CadenzaError(Exception):
    """`status` is the HTTP status (0 when the API could not be reached); `detail` the
    server's sentence; `errors` the per-field problems of a 422."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        raise CadenzaError(response.status_code, body["detail"], body.get("errors"))
    text = response.text.strip()[:500] or response.reason_phrase
    raise CadenzaError(response.status_code, text)
