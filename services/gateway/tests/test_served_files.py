"""Files the gateway serves beside its API: /docs and /redoc with every script and style
from the gateway itself (they work without internet), and the studio's files with a strong
ETag, their sha256, that a reload revalidates with a 304."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import pytest

from cadenza.gateway.app import create_app

from .conftest import settings

STATIC = resources.files("cadenza.gateway").joinpath("static")


class Referenced(HTMLParser):
    """Every URL a page loads (scripts, styles, icons, the spec) and any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._in_script = tag == "script"
        for name in ("src", "href", "spec-url", "data-openapi-url"):
            if values.get(name):
                self.urls.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Pages and files need no database or bus: the app is not started (no lifespan).
    config = settings("postgresql://unused/db", "nats://127.0.0.1:1", tmp_path, auth_mode="dev")
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


def directives(policy: str) -> dict[str, str]:
    named = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in named}


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-init.js"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
async def test_docs_pages_load_everything_from_the_gateway(
    api: httpx.AsyncClient, path: str, needs: set[str]
) -> None:
    page = await api.get(path)
    assert page.status_code == 200
    assert "//" not in page.text, "the page names another host"
    policy = directives(page.headers["content-security-policy"])
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    parsed = Referenced()
    parsed.feed(page.text)
    assert parsed.inline_scripts == 0
    assert "/openapi.json" in parsed.urls
    loaded = {url.rsplit("/", 1)[1] for url in parsed.urls if url.startswith("/docs/assets/")}
    assert needs <= loaded
    for url in parsed.urls:
        assert url.startswith("/"), f"{path} loads {url} from elsewhere"
        served = await api.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 100, url
        if url.endswith(".js"):
            assert served.headers["content-type"].startswith("text/javascript"), url
        if url.endswith(".css"):
            assert served.headers["content-type"].startswith("text/css"), url
    bundle = await api.get(f"/docs/assets/{sorted(needs)[0]}")
    assert bundle.headers["etag"] == f'"{hashlib.sha256(bundle.content).hexdigest()}"'
    again = await api.get(bundle.url, headers={"If-None-Match": bundle.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


async def test_only_the_docs_files_are_reachable_under_their_folder(
    api: httpx.AsyncClient,
) -> None:
    for url in ("/docs/assets/../docs_pages.py", "/docs/assets/core.py", "/docs/assets/x.js"):
        assert (await api.get(url)).status_code == 404, url
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


async def test_studio_files_carry_their_sha256_as_a_strong_etag(api: httpx.AsyncClient) -> None:
    files = {
        "/": STATIC.joinpath("index.html").read_bytes(),
        "/static/studio.css": STATIC.joinpath("studio.css").read_bytes(),
        "/static/js/main.js": STATIC.joinpath("js", "main.js").read_bytes(),
    }
    for url, content in files.items():
        etag = f'"{hashlib.sha256(content).hexdigest()}"'
        first = await api.get(url)
        assert (first.status_code, first.content) == (200, content), url
        assert first.headers["etag"] == etag, url
        for header in (etag, f"W/{etag}", "*"):
            again = await api.get(url, headers={"If-None-Match": header})
            assert (again.status_code, again.content) == (304, b""), (url, header)
            assert again.headers["etag"] == etag
        changed = await api.get(url, headers={"If-None-Match": '"an-older-version"'})
        assert changed.status_code == 200, url
    part = await api.get("/static/js/main.js", headers={"Range": "bytes=0-9"})
    assert (part.status_code, part.content) == (206, files["/static/js/main.js"][:10])
