"""/docs (Swagger UI) and /redoc (ReDoc), working without internet: their scripts and styles
are the files the fastapi-offline package ships, served from /docs/assets/ beside the one
script of our own that starts Swagger UI (the docs pages' CSP, http_guards.py, allows no
inline script and nothing from another host). Not part of the API's OpenAPI document."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from cadenza.gateway.studio import StudioFiles

ASSETS = "/docs/assets"

SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – Swagger UI</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – ReDoc</title>
<link rel="icon" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Call with an app made with docs_url=None and redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"

    def page(template: str, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(
            template.format(
                title=escape(app.title),
                assets=escape(root + ASSETS),
                openapi=escape(root + openapi_url),
            ),
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(SWAGGER_PAGE, request)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(REDOC_PAGE, request)

    # The package's files first (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js,
    # favicon.png), then ours; only these two folders are reachable.
    app.mount(
        ASSETS,
        StudioFiles(packages=[("fastapi_offline", "static"), ("cadenza.gateway", "docs_static")]),
        name="docs-assets",
    )
