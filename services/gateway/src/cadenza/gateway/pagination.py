"""One pagination style for every list: an opaque `cursor` in, `next_cursor` and a `next`
link out (also as an RFC 8288 `Link: <…>; rel="next"` header)."""

from __future__ import annotations

import base64

from fastapi import Request, Response


def next_link(request: Request, response: Response, cursor: str | None) -> str | None:
    """The path and query of the next page (this request's, with `cursor` replaced), also
    set as the response's Link header; None on the last page."""
    if cursor is None:
        return None
    url = request.url.remove_query_params("cursor").include_query_params(cursor=cursor)
    link = f"{url.path}?{url.query}"
    response.headers["Link"] = f'<{link}>; rel="next"'
    return link


def offset_cursor(offset: int) -> str:
    """An opaque cursor for lists a service pages by position (the catalog's search)."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def cursor_offset(cursor: str | None, *, limit: int = 100_000) -> int:
    """The position an `offset_cursor` names; ValueError for anything else."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError("not a cursor") from e
    kind, _, number = raw.partition(":")
    if kind != "o" or not number.isdigit() or int(number) > limit:
        raise ValueError("not a cursor")
    return int(number)
