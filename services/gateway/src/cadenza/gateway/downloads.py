"""Sending a stored object to a client: the one place that decides between streaming its
bytes (Range, If-Range) and redirecting to a short-lived URL the store signed (S3), and
that answers 304 to a client that already has it (strong ETag: the object's sha256)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from cadenza.runtime.settings import StorageSettings
from cadenza.runtime.storage import ObjectNotFoundError, ObjectStore

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

# What send_object may answer besides 200 and its 404, for a download route's `responses`.
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    206: {"description": "Partial content: the one byte range asked for"},
    304: {"description": "Not modified: If-None-Match names the file's ETag (its sha256)"},
    307: {
        "description": "GET with S3 storage: the file is at the URL in Location, signed for "
        "DOWNLOAD_URL_TTL_S seconds (300 by default); it needs no credentials, and a client "
        "must not send its own there",
        "headers": {
            "Location": {
                "description": "The signed URL of the file on the S3 host",
                "schema": {"type": "string", "format": "uri"},
            }
        },
    },
    416: {"description": "Range not satisfiable"},
}


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


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match: `*` (any version) or a list of entity tags, compared weakly as RFC 9110
    asks for this header. The header is bounded by the server's header limit."""
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


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
    """The object at `uri`: 304 when If-None-Match has it already; for a GET a 307 to a
    signed URL when the store can sign one and DOWNLOAD_URL_TTL_S is not 0, else its bytes
    streamed (a HEAD is always answered here: a signed GET URL does not take HEAD); 404 with
    `gone` when storage no longer has it."""
    key = store.key_for(uri)
    try:
        size = await store.size(key)
    except ObjectNotFoundError as e:
        raise HTTPException(404, gone) from e
    etag = f'"{sha256}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": _attachment(filename),
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    ttl_s: int = request.app.state.settings.download_url_ttl_s
    if request.method == "GET" and ttl_s > 0:
        url = await store.download_url(
            key, media_type=media_type, disposition=headers["Content-Disposition"], expires_s=ttl_s
        )
        if url is not None:
            # The URL expires: neither the redirect nor its target may be kept past that.
            return RedirectResponse(
                url, status_code=307, headers={"ETag": etag, "Cache-Control": "no-store"}
            )
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


def download_sources(settings: StorageSettings, ttl_s: int) -> tuple[str, ...]:
    """The origins a download's redirect can lead to, for the studio's Content-Security-
    Policy: the S3 endpoint clients reach (S3_PUBLIC_ENDPOINT_URL, else S3_ENDPOINT_URL);
    AWS's own hosts when neither is set; none when downloads stream."""
    if settings.storage_backend != "s3" or ttl_s == 0:
        return ()
    endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    if not endpoint:
        return ("https://*.amazonaws.com",)
    parts = urlsplit(endpoint)
    return (f"{parts.scheme}://{parts.netloc}",)
