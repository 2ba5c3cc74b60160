"""One logging setup: JSON lines with the job context of whatever is running."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_job_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "cadenza_job_context", default=None
)


@contextmanager
def job_context(**fields: object) -> Iterator[None]:
    """Attach job_id, correlation_id, ... to every log line written inside the block."""
    token = _job_context.set(
        {**(_job_context.get() or {}), **{k: str(v) for k, v in fields.items()}}
    )
    try:
        yield
    finally:
        _job_context.reset(token)


# Credentials that could reach a log line through an error message or a URL, replaced before
# the line is written: bearer values, JWTs, Cadenza API keys, token query parameters and
# password fields.
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+"), "[redacted-jwt]"),
    (re.compile(r"cdz_[0-9a-f]{32}_[\w-]+"), "[redacted-api-key]"),
    (re.compile(r"(?i)((?:access_token|refresh_token|api_key|token)=)[^&\s\"']+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)([\"']?password[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,}]+)"),
        r"\1[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **(_job_context.get() or {}),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={v}" for k, v in (_job_context.get() or {}).items())
        line = super().format(record)
        return redact(f"{line} {context}" if context else line)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log every request or message at INFO drown the job lines.
    for noisy in ("uvicorn.access", "aiobotocore", "botocore", "faststream.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
