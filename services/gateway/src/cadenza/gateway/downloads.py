"""Sending a stored object to a client: Range requests, ETag, HEAD."""

from __future__ import annotations

import re

from fastapi import HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from cadenza.runtime.storage import ObjectNotFoundError, ObjectStore

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range as [start, end); None to send the whole file; ValueError → 416."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple or unknown ranges: ignoring Range is allowed (RFC 9110)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        raise ValueError("range not satisfiable")
    return start, end


def _attachment(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'")
    return f'attachment; filename="{ascii_name}"'


async def send_object(
    request: Request,
    store: ObjectStore,
    *,
    uri: str,
    sha256: str,
    media_type: str,
    filename: str,
    gone: str,
) -> Response:
    """Stream the object at `uri`; 404 with `gone` when storage no longer has it."""
    key = store.key_for(uri)
    try:
        size = await store.size(key)
    except ObjectNotFoundError as e:
        raise HTTPException(404, gone) from e
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Content-Disposition": _attachment(filename),
    }
    start, end, code = 0, size, 200
    range_header = request.headers.get("range")
    if range_header and request.headers.get("if-range", headers["ETag"]) == headers["ETag"]:
        try:
            chosen = parse_range(range_header, size)
        except ValueError:
            raise HTTPException(
                416,
                f"range {range_header!r} is outside the file's {size} bytes",
                headers={"Content-Range": f"bytes */{size}"},
            ) from None
        if chosen:
            start, end, code = *chosen, 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=code, headers=headers, media_type=media_type)
    return StreamingResponse(
        store.read_range(key, start, end),
        status_code=code,
        headers=headers,
        media_type=media_type,
    )
