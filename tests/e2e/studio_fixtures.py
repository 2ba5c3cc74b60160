"""What the studio's Chromium test modules share: the browser, a watched page (script errors
and CSP violations fail the test), a second gateway that requires accounts, signing in, and
jobs run to their end through the API. A module takes a fixture by importing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cadenza.devstack.platform import Platform

from .conftest import second_gateway, upload, wait_for_status
from .studio_page import Studio, launched_chromium

# Every CSP violation the page reports, beside the console errors Studio already collects.
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as running:
        yield running


@contextmanager
def studio_page(
    browser: Browser,
    base_url: str,
    *,
    width: int = 1280,
    height: int = 900,
    color_scheme: Literal["light", "dark"] | None = None,
) -> Iterator[Studio]:
    """A page of the studio at `base_url` in a context of its own (closed after); when the
    block ends without an error, it checks the page had no script error or CSP violation."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, color_scheme=color_scheme
    )
    context.add_init_script(WATCH_CSP)
    try:
        studio = Studio(context.new_page(), base_url).watch()
        yield studio
        studio.assert_no_problems()
        assert studio.page.evaluate("() => window.cspViolations") == []
    finally:
        context.close()


@pytest.fixture
def studio(browser: Browser, platform: Platform) -> Iterator[Studio]:
    with studio_page(browser, platform.url) as page:
        yield page


@pytest.fixture(scope="module")
def gateway_requiring_accounts(platform: Platform) -> Iterator[str]:
    """A second gateway on the same bus and database, with AUTH_MODE=required."""
    with second_gateway(platform, "gateway-accounts", {"AUTH_MODE": "required"}) as url:
        yield url


def new_account(base_url: str, prefix: str, password: str) -> str:
    """A fresh account's email, registered on the gateway at `base_url`."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": password},
        timeout=60,
    )
    assert registered.status_code == 201, registered.text
    return email


def fill_sign_in(page: Page, email: str, password: str) -> None:
    """Wait for the sign-in form and sign in with it (Enter in the password field)."""
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#sign-in-email", email)
    page.fill("#sign-in-password", password)
    page.press("#sign-in-password", "Enter")


def sign_in(studio: Studio, email: str, password: str) -> Page:
    """Open the studio, sign in through its form and wait for the studio to show."""
    page = studio.open()
    fill_sign_in(page, email, password)
    studio.wait_for_studio()
    return page


def finished_job(api: httpx.Client, body: dict[str, Any], timeout_s: float = 180) -> dict[str, Any]:
    """Submit a job through the API and wait until it completed (any other end fails)."""
    submitted = api.post("/api/v1/jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    job = wait_for_status(api, submitted.json()["id"], timeout_s=timeout_s)
    assert job["status"] == "completed", job
    return job


def finished_separation(api: httpx.Client, track: Path, **params: Any) -> dict[str, Any]:
    """Upload `track` and separate it with the classical model (no weights: cheap on a CPU);
    the completed job."""
    uploaded = upload(api, track).json()
    body = {
        "kind": "separation",
        "input": {"upload_id": uploaded["id"]},
        "params": {"model": "classical", **params},
    }
    return finished_job(api, body)
