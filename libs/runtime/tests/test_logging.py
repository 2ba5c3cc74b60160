"""Log lines never carry credentials, whichever way they reach the message."""

from __future__ import annotations

import json
import logging

import pytest

from cadenza.runtime.logging import JsonFormatter, TextFormatter, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
API_KEY = "cdz_" + "ab" * 16 + "_s3cr3t-Value_xyz"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        (f"refused token {JWT} for user", JWT),
        (f"key {API_KEY} revoked", API_KEY),
        ("GET /api/v1/ws?access_token=abc.def.ghi&x=1", "abc.def.ghi"),
        ('{"email": "a@b.c", "password": "hunter2 is my pw"}', "hunter2 is my pw"),
        ("password=letmein123 rejected", "letmein123"),
        (f"refresh_token={JWT}", JWT),
    ],
)
def test_redact_removes_the_secret(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "redacted" in cleaned


def test_redact_leaves_ordinary_lines_alone() -> None:
    line = "job 3f2a completed in 1.2 s; token bucket full; passwords module loaded"
    assert redact(line) == line


def test_both_formatters_redact_messages_and_tracebacks() -> None:
    try:
        raise ValueError(f"could not use Bearer {JWT}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "t", logging.ERROR, __file__, 1, "login with %s failed", (API_KEY,), sys.exc_info()
        )
    for formatter in (JsonFormatter("gateway"), TextFormatter("%(message)s")):
        line = formatter.format(record)
        assert JWT not in line and API_KEY not in line, line
    json.loads(JsonFormatter("gateway").format(record))  # still one JSON object
