"""The web studio's files as the gateway serves them: from the package, under a strict CSP,
with nothing inline, and every ES module import pointing at a file that exports the name.
(The studio's behaviour in a browser is tested end to end in tests/e2e/test_web_studio.py.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import pytest

from cadenza.contracts.effect_catalogue import effect_catalogue
from cadenza.contracts.effect_chain import EFFECT_TYPES
from cadenza.gateway.app import create_app

from .conftest import settings

STATIC = resources.files("cadenza.gateway").joinpath("static")
IMPORT = re.compile(r'import\s*\{([^}]*)\}\s*from\s*"(\./[\w./-]+)"')
EXPORT = re.compile(r"export\s+(?:async\s+)?(?:function|class|const|let)\s+(\w+)")
STATIC_SCRIPT = re.compile(r'"(/static/js/[\w.-]+\.js)"')
REGISTERED = re.compile(r'registerProcessor\("([\w-]+)"')
WORKLET_NODE = re.compile(r'new AudioWorkletNode\([^,]+,\s*"([\w-]+)"')


def modules() -> dict[str, str]:
    scripts = (f for f in STATIC.joinpath("js").iterdir() if f.name.endswith(".js"))
    return {f.name: f.read_text(encoding="utf-8") for f in scripts}


class PageAssets(HTMLParser):
    """What index.html loads, and anything inline it should not have."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in values:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}=…>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if not values.get("src"):
                self.inline.append("<script> without src")
        for name in ("src", "href"):
            url = values.get(name)
            if url and url.startswith("/static/"):
                self.urls.append(url)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script text")


def page_assets() -> PageAssets:
    parser = PageAssets()
    parser.feed(STATIC.joinpath("index.html").read_text(encoding="utf-8"))
    return parser


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The page and its files need no database or bus: the app is not started (no lifespan).
    config = settings("postgresql://unused/db", "nats://127.0.0.1:1", tmp_path, auth_mode="dev")
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


def directives(policy: str) -> dict[str, str]:
    named = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: value for name, _, value in named}


async def test_the_page_is_served_under_a_policy_without_inline_code(
    api: httpx.AsyncClient,
) -> None:
    page = await api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = directives(page.headers["content-security-policy"])
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["media-src"] == "'self' blob:"
    assert policy["object-src"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    for link in ('href="/docs"', 'href="/openapi.json"', 'href="/api/v1/asyncapi"'):
        assert link in page.text, f"the page lost its link {link}"


def test_the_page_has_nothing_inline_and_loads_only_its_own_files() -> None:
    assets = page_assets()
    assert assets.inline == []
    assert "/static/js/main.js" in assets.urls
    assert "/static/studio.css" in assets.urls


async def test_every_file_the_page_needs_is_served_with_its_type(
    api: httpx.AsyncClient,
) -> None:
    wanted = [*page_assets().urls, *(f"/static/js/{name}" for name in modules())]
    expected_types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in wanted:
        response = await api.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert response.headers["content-type"].startswith(expected_types[suffix]), url
        assert response.headers["cache-control"] == "no-cache"
        again = await api.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304, "a reload revalidates instead of downloading again"


async def test_only_the_static_folder_is_reachable(api: httpx.AsyncClient) -> None:
    for url in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/nothing.js"):
        assert (await api.get(url)).status_code == 404, url


async def test_the_studio_is_not_part_of_the_api_schema(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/static")]


def test_every_module_import_names_an_export_of_an_existing_module() -> None:
    sources = modules()
    exports = {name: set(EXPORT.findall(text)) for name, text in sources.items()}
    problems = []
    for name, text in sources.items():
        for names, target in IMPORT.findall(text):
            module = target.removeprefix("./")
            if module not in sources:
                problems.append(f"{name} imports the missing {target}")
                continue
            imported = {n.strip() for n in names.split(",") if n.strip()}
            problems += [
                f"{name} imports {missing}, which {module} does not export"
                for missing in sorted(imported - exports[module])
            ]
    assert problems == []
    assert "main.js" in sources


def test_every_static_script_a_module_loads_by_url_exists_and_registers_what_is_used() -> None:
    """The AudioWorklet module is loaded by URL (audioWorklet.addModule), not imported: it
    must exist, and register every processor the page creates nodes of."""
    sources = modules()
    loaded = {url for text in sources.values() for url in STATIC_SCRIPT.findall(text)}
    assert "/static/js/live-worklet.js" in loaded
    assert [url for url in loaded if url.removeprefix("/static/js/") not in sources] == []
    registered = {name for text in sources.values() for name in REGISTERED.findall(text)}
    created = {name for text in sources.values() for name in WORKLET_NODE.findall(text)}
    assert created == {"live-capture", "live-playback"}
    assert created <= registered


async def test_the_effect_catalogue_is_served_without_signing_in_from_the_contract(
    tmp_path: Path,
) -> None:
    """The studio builds its effects editor from GET /api/v1/effects before anyone signs in:
    the answer is the contract's catalogue, public even where accounts are required."""
    config = settings("postgresql://unused/db", "nats://127.0.0.1:1", tmp_path)
    assert config.auth_mode != "dev"
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.get("/api/v1/effects")
        assert answer.status_code == 200
        assert answer.json() == effect_catalogue().model_dump(mode="json")
        assert [e["type"] for e in answer.json()["effects"]] == list(EFFECT_TYPES)
        compressor = next(e for e in answer.json()["effects"] if e["type"] == "compressor")
        attack = next(p for p in compressor["parameters"] if p["name"] == "attack_ms")
        assert (attack["minimum"], attack["maximum"], attack["default"]) == (0.01, 1000, 1)
        operation = (await client.get("/openapi.json")).json()["paths"]["/api/v1/effects"]
        assert "get" in operation


def test_the_studio_holds_no_copy_of_the_effect_table() -> None:
    """effect-types.js turns the served catalogue into the editor's table: no effect name,
    bound or default is written in the page's scripts."""
    sources = modules()
    assert '"/api/v1/effects"' in sources["effect-types.js"]
    for name, text in sources.items():
        for effect in ("compressor", "highpass_filter", "room_size", "attack_ms"):
            assert effect not in text, f"{name} names {effect}: it should come from the API"
