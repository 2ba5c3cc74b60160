"""The gateway serves the AsyncAPI document of the events (GET /api/v1/asyncapi) to anyone,
like /openapi.json, and `cadenza-gateway asyncapi` prints the same bytes for `make docs`."""

from __future__ import annotations

import sys

import httpx
import pytest

from cadenza.gateway.__main__ import main
from cadenza.gateway.app import create_app
from cadenza.gateway.settings import Settings
from cadenza.runtime.asyncapi import asyncapi_document


async def test_the_document_is_served_without_credentials() -> None:
    app = create_app(Settings(database_url="postgresql://unused", log_format="text"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as api:
        served = await api.get("/api/v1/asyncapi")
        again = await api.get("/api/v1/asyncapi")
        openapi = (await api.get("/openapi.json")).json()
        home = await api.get("/")
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "application/json"
    assert served.text == asyncapi_document() == again.text
    assert "/api/v1/asyncapi" not in openapi["paths"], "documentation, not an API operation"
    assert 'href="/api/v1/asyncapi"' in home.text


def test_the_command_line_prints_the_same_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["cadenza-gateway", "asyncapi"])
    main()
    assert capsys.readouterr().out == asyncapi_document()
