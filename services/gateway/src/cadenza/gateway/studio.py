"""The web studio: the page at `/` and its scripts and styles under `/static/`.

Plain files shipped inside this package (no build step); neither route is part of the API,
so neither appears in the OpenAPI document.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import PurePath

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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


class StudioFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = MEDIA_TYPES.get(PurePath(full_path).suffix)
        if media_type and response.status_code == 200:
            response.headers["content-type"] = media_type
        response.headers["cache-control"] = CACHE_CONTROL
        return response


def install_studio(app: FastAPI) -> None:
    page = resources.files(PACKAGE).joinpath(FOLDER).joinpath("index.html")
    index = page.read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(index, headers={"Cache-Control": CACHE_CONTROL})

    app.mount("/static", StudioFiles(packages=[(PACKAGE, FOLDER)]), name="static")
