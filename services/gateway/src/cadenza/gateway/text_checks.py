"""Text the platform cannot store is refused at the door, naming the field.

PostgreSQL's text and jsonb hold no NUL character, and a lone surrogate (`"\\ud800"` in
JSON) is not Unicode that any encoder writes; either would otherwise surface much later as a
database error (500/503) or a failed job. Every query parameter, path parameter and JSON
body string (keys included) is checked before the route runs; multipart text fields are
checked where they are read.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import HTTPConnection, Request

from cadenza.gateway.errors import UnprocessableError

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character (U+0000), which text may not hold"
    if _SURROGATE.search(value):
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def first_problem(value: Any, path: str) -> tuple[str, str] | None:
    """(field, problem) of the first string in JSON data that cannot be stored."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if problem := text_problem(str(key)):
                return (path or "body", f"a key {problem}")
            if found := first_problem(item, where):
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := first_problem(item, f"{path}.{index}" if path else str(index)):
                return found
    return None


def _refuse(found: tuple[str, str] | None) -> None:
    if found is not None:
        field, problem = found
        raise UnprocessableError.one(field, problem)


async def reject_invalid_text(conn: HTTPConnection) -> None:
    """An app-wide dependency: 422 naming the first parameter or JSON field whose text
    cannot be stored."""
    if not isinstance(conn, Request):  # a WebSocket: its messages are checked where read
        return
    for name, value in conn.query_params.multi_items():
        _refuse(first_problem(value, name))
    for name, value in conn.path_params.items():
        if isinstance(value, str):
            _refuse(first_problem(value, name))
    if "json" not in conn.headers.get("content-type", ""):
        return
    try:
        # Starlette keeps what it parsed: the route's own body parsing has already done it.
        data = await conn.json()
    except ValueError:
        return  # not JSON: the route's own parsing says so
    _refuse(first_problem(data, ""))
