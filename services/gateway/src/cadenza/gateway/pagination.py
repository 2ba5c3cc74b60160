"""One pagination style for every list: an opaque `cursor` in, `next_cursor` and a `next`
link out (also as an RFC 8288 `Link: <…>; rel="next"` header)."""

from __future__ import annotations

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
