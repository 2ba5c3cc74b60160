"""/docs and /redoc in headless Chromium with every host but the gateway cut off: both render
every operation of the API from the gateway's own files, under their CSP, with no error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route

from cadenza.devstack.ports import free_port
from cadenza.gateway.app import create_app
from cadenza.gateway.settings import Settings

from .studio_page import Studio, assert_not_blank, launched_chromium


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's HTTP server, not started (no database or bus): pages and files only."""
    config = Settings(
        database_url="postgresql://unused/db",
        nats_url="nats://127.0.0.1:1",
        storage_dir=tmp_path_factory.mktemp("docs") / "store",
        auth_mode="dev",
        log_format="text",
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host="127.0.0.1", port=port, log_config=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the gateway did not start listening"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as running:
        yield running


def offline_page(browser: Browser, gateway_url: str, elsewhere: list[str]) -> Studio:
    """A page whose requests to any other origin are refused (and noted in `elsewhere`)."""
    page: Page = browser.new_page()

    def only_the_gateway(route: Route) -> None:
        url = route.request.url
        if url.startswith(gateway_url + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", only_the_gateway)
    return Studio(page, gateway_url).watch()


def operation_count(gateway_url: str) -> int:
    """The API's operations and the webhooks it calls (both pages list both)."""
    spec = httpx.get(gateway_url + "/openapi.json").json()
    groups = [*spec["paths"].values(), *spec.get("webhooks", {}).values()]
    return sum(len(operations) for operations in groups)


def test_swagger_ui_renders_every_operation_offline(browser: Browser, gateway_url: str) -> None:
    elsewhere: list[str] = []
    docs = offline_page(browser, gateway_url, elsewhere)
    docs.page.goto(gateway_url + "/docs")
    docs.page.wait_for_selector(".opblock")
    assert docs.page.locator(".opblock").count() == operation_count(gateway_url)
    assert "Cadenza" in docs.page.inner_text(".info .title")
    assert_not_blank(docs.page.screenshot())
    assert elsewhere == []
    docs.assert_no_problems()


def test_redoc_renders_every_operation_offline(browser: Browser, gateway_url: str) -> None:
    elsewhere: list[str] = []
    docs = offline_page(browser, gateway_url, elsewhere)
    docs.page.goto(gateway_url + "/redoc")
    sections = '[data-section-id^="operation/"]'
    docs.page.wait_for_selector(sections)
    shown = docs.page.eval_on_selector_all(
        sections, "nodes => new Set(nodes.map((n) => n.dataset.sectionId)).size"
    )
    assert shown == operation_count(gateway_url), shown
    assert_not_blank(docs.page.screenshot())
    assert elsewhere == []
    # ReDoc's footer asks for its logo from its CDN; the CSP refuses it (Chromium says so)
    # and ReDoc drops the image when it fails to load. Nothing else may go wrong.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [p for p in docs.problems if logo not in p] == []


def test_the_docs_files_are_this_packages_own(tmp_path: Path, gateway_url: str) -> None:
    """What Chromium ran is fastapi-offline's bundle, byte for byte (no stale copy)."""
    import fastapi_offline

    shipped = Path(fastapi_offline.__file__).parent / "static" / "swagger-ui-bundle.js"
    served = httpx.get(gateway_url + "/docs/assets/swagger-ui-bundle.js")
    assert served.content == shipped.read_bytes()
