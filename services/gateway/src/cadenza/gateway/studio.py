"""The web studio: the page at `/` and its scripts and styles under `/static/`.

Plain files shipped inside this package (no build step); neither route is part of the API,
so neither appears in the OpenAPI document.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import resources
from pathlib import Path, PurePath

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from cadenza.gateway.downloads import etag_matches

PACKAGE = "cadenza.gateway"
FOLDER = "static"
# Browsers only run ES modules served with a JavaScript type (and nosniff is on), so the
# types are fixed here rather than left to the host's /etc/mime.types.
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
# Revalidate on every load (a cheap 304 with the ETag): after an upgrade no browser keeps
# running yesterday's modules against today's API.
CACHE_CONTROL = "no-cache"


@functools.lru_cache(maxsize=256)
def _sha256(path: str, modified_ns: int, size: int) -> str:
    """A file's digest, once per version of it (the largest, Swagger UI's bundle at 1.5 MB,
    takes a few milliseconds)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class StudioFiles(StaticFiles):
    """The studio's files with a strong ETag, their sha256 (If-None-Match → 304)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        etag = f'"{_sha256(str(full_path), stat_result.st_mtime_ns, stat_result.st_size)}"'
        response: Response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, headers={"etag": etag}
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            response = NotModifiedResponse(response.headers)
        media_type = MEDIA_TYPES.get(PurePath(full_path).suffix)
        if media_type and response.status_code == 200:
            response.headers["content-type"] = media_type
        response.headers["cache-control"] = CACHE_CONTROL
        return response


def install_studio(app: FastAPI) -> None:
    page = resources.files(PACKAGE).joinpath(FOLDER).joinpath("index.html")
    index = page.read_text(encoding="utf-8")
    etag = f'"{hashlib.sha256(index.encode()).hexdigest()}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        if etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=headers)
        return HTMLResponse(index, headers=headers)

    app.mount("/static", StudioFiles(packages=[(PACKAGE, FOLDER)]), name="static")
