"""The studio's look and layout in a real browser (Debian's headless Chromium): the jobs list
follows the job feed as the progress panel does (no "queued 0 %" under "running 5 %"), the
page fits a phone at 360 and 390 px signed in with a job listed, every section of it, and
stays keyboard-usable and labelled there; dark and light themes follow
`prefers-color-scheme` with body text at WCAG AA contrast, and the transport bar shows the
watched job."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise, write_tone

from .conftest import upload
from .studio_fixtures import (
    browser,
    fill_sign_in,
    gateway_requiring_accounts,
    new_account,
    studio,
    studio_page,
)
from .studio_page import Studio, assert_not_blank

pytestmark = pytest.mark.platform

__all__ = ["browser", "gateway_requiring_accounts", "studio"]  # fixtures, shared

PASSWORD = "a long pass phrase for a small screen"
PHONES = (360, 390)
ACTIONS = ("effects", "separation", "master", "remix", "blend")
SECTIONS = ("new-job", "current-job", "jobs", "catalog", "live")
SLOW_CHAIN = [{"type": "pitch_shift", "semitones": 2}, {"type": "reverb"}]


def record_job_row(page: Page, job_id: str) -> None:
    """From now on, keep every (status, percent) the job's row in the list shows."""
    page.evaluate(
        """(jobId) => {
             window.rowStates = [];
             const body = document.getElementById("jobs-body");
             const look = () => {
               const row = body.querySelector(`tr[data-job-id="${jobId}"]`);
               if (!row) return;
               const seen = {status: row.dataset.status,
                             value: Number(row.querySelector("progress").value),
                             percent: row.querySelector(".job-percent").textContent};
               const last = window.rowStates.at(-1);
               if (!last || last.status !== seen.status || last.value !== seen.value) {
                 window.rowStates.push(seen);
               }
             };
             new MutationObserver(look).observe(body, {subtree: true, childList: true,
               characterData: true, attributes: true, attributeFilter: ["value", "data-status"]});
             look();
           }""",
        job_id,
    )


def test_a_job_in_the_list_moves_with_the_job_feed_not_a_reload(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    """A job started elsewhere (here through the API), listed while under way, goes from
    queued or running to completed in the list by itself: no GET of the list again."""
    page = studio.open()
    studio.wait_for_studio()
    upload_id = upload(api, write_noise(tmp_path / "long.flac", 30.0)).json()["id"]
    body = {"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": SLOW_CHAIN}}
    answered = api.post("/api/v1/jobs", json=body)
    assert answered.status_code == 202, answered.text
    job_id = answered.json()["id"]
    with page.expect_response(lambda r: "/api/v1/jobs?" in r.url):
        page.click("#refresh-jobs")
    row = f'#jobs-body tr[data-job-id="{job_id}"]'
    page.wait_for_selector(row)
    record_job_row(page, job_id)
    lists: list[str] = []
    page.on("request", lambda r: lists.append(r.url) if "/api/v1/jobs?" in r.url else None)

    page.wait_for_selector(f'{row}[data-status="completed"]', timeout=120_000)
    assert page.inner_text(f"{row} .job-status") == "completed"
    assert page.inner_text(f"{row} .job-percent") == "100%"
    assert lists == [], "the list was not fetched again: the feed moved the row"
    states: list[dict[str, Any]] = page.evaluate("() => window.rowStates")
    values = [s["value"] for s in states]
    assert values == sorted(values), f"the row's bar went backwards: {states}"
    assert any(s["status"] == "running" for s in states), states
    assert page.get_attribute("#job-summary", "data-status") is None, "the panel watched nothing"


def test_the_list_and_the_panel_agree_while_a_job_runs(studio: Studio, tmp_path: Path) -> None:
    """The bug seen: "running 5 %" in the panel over "queued 0 %" in the list."""
    track = write_noise(tmp_path / "song.flac", 30.0, seed=4)
    page = studio.open()
    studio.wait_for_studio()
    page.set_input_files("#file-input", str(track))
    page.wait_for_selector("#upload-status[data-upload-id]")
    page.select_option("#effect-type", "pitch_shift")
    page.click("#add-effect")
    page.fill('#effects-chain li[data-type="pitch_shift"] input[data-param="semitones"]', "2")
    page.click("#start-job")
    page.wait_for_selector("#job-summary[data-job-id]")
    job_id = page.get_attribute("#job-summary", "data-job-id")
    assert job_id
    page.wait_for_selector(f'#jobs-body tr[data-job-id="{job_id}"]')
    record_job_row(page, job_id)
    # While the panel says running, the list says so too, at the same whole-job progress.
    page.wait_for_function(
        """(jobId) => {
             const summary = document.getElementById("job-summary");
             const row = document.querySelector(`#jobs-body tr[data-job-id="${jobId}"]`);
             const panel = document.getElementById("job-progress-text").textContent;
             return summary.dataset.status === "running" && row.dataset.status === "running"
               && row.querySelector(".job-percent").textContent === panel && panel !== "0%";
           }""",
        arg=job_id,
    )
    assert page.inner_text("#transport-status") == "running", "the transport bar shows it too"
    assert page.inner_text("#transport-kind") == "effects"
    studio.wait_for_job_end()
    states: list[dict[str, Any]] = page.evaluate("() => window.rowStates")
    assert any(s["status"] == "running" and 0 < s["value"] < 1 for s in states), states
    assert page.inner_text("#transport-percent") == "100%"
    assert page.get_attribute("#transport-display", "data-status") == "completed"


def overflow(page: Page) -> dict[str, Any]:
    """The page's width against the viewport's, and what sticks out if anything does."""
    found: dict[str, Any] = page.evaluate(
        """() => {
             const width = innerWidth;
             const wide = [...document.querySelectorAll("body *")]
               .filter((el) => el.getBoundingClientRect().right > width + 0.5
                               && el.getClientRects().length)
               .slice(0, 8)
               .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
             return {scrollWidth: document.documentElement.scrollWidth, width, wide};
           }"""
    )
    return found


def assert_fits(page: Page, where: str) -> None:
    found = overflow(page)
    assert found["scrollWidth"] <= found["width"], f"{where}: {found}"


def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        "#studio input, #studio select, #studio button, header button, header a",
        """controls => controls
             .filter((c) => c.getClientRects().length)
             .filter((c) => !(c.labels?.length || c.ariaLabel || c.textContent.trim()))
             .map((c) => c.outerHTML.slice(0, 80))""",
    )
    return found


def test_a_phone_sized_studio_has_no_sideways_scroll_and_stays_usable(
    browser: Browser, gateway_requiring_accounts: str, tmp_path: Path
) -> None:
    base = gateway_requiring_accounts
    email = new_account(base, "phone", PASSWORD)
    with studio_page(browser, base, width=PHONES[0], height=800, color_scheme="dark") as studio:
        page = studio.open()
        page.wait_for_selector("#sign-in:not([hidden])")
        assert_fits(page, "sign-in")
        fill_sign_in(page, email, PASSWORD)
        studio.wait_for_studio()
        page.set_input_files("#file-input", str(write_tone(tmp_path / "phone.wav", 1.0)))
        page.wait_for_selector("#upload-status[data-upload-id]")
        page.click("#start-job")
        job_id = studio.wait_for_job_end()
        studio.wait_for_waveform("processed.wav")
        row = f'#jobs-body tr[data-job-id="{job_id}"]'
        page.wait_for_selector(f'{row}[data-status="completed"]')

        for width in PHONES:
            page.set_viewport_size({"width": width, "height": 800})
            for action in ACTIONS:
                page.check(f'input[name="action"][value="{action}"]')
                assert_fits(page, f"{width} px, new job: {action}")
            for section in SECTIONS:
                page.locator(f"#{section}").scroll_into_view_if_needed()
                box = page.locator(f"#{section}").bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, section
                assert_fits(page, f"{width} px, #{section}")
            # The jobs list as cards: every cell named, and Open on screen.
            open_button = page.locator(f"{row} button")
            box = open_button.bounding_box()
            assert box and box["x"] + box["width"] <= width, f"Open is off screen: {box}"
            labels = page.eval_on_selector_all(
                f"{row} td[data-label]", "cells => cells.map((c) => c.dataset.label)"
            )
            assert labels == ["Started", "Kind", "Status", "Progress"]
            assert unlabelled_controls(page) == []

        # Keyboard only, at phone width: from the list's Open to the job's panel.
        page.focus("#refresh-jobs")
        studio.tab_to(f"{row} button")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.activeElement.id === 'current-job-title'")
        assert_fits(page, "after opening a job")
        assert_not_blank(page.screenshot(full_page=True))


def colours(page: Page) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(
        """() => {
             const style = (selector) => getComputedStyle(document.querySelector(selector));
             const root = getComputedStyle(document.documentElement);
             return {
               body: style("body").backgroundColor, text: style("body").color,
               panel: style(".panel").backgroundColor,
               muted: style("#jobs-status").color, link: style(".site-footer a").color,
               button: style("#refresh-jobs").color,
               bar: root.getPropertyValue("--bar").trim(),
               barText: root.getPropertyValue("--bar-text").trim(),
               lcd: root.getPropertyValue("--lcd").trim(),
               lcdText: root.getPropertyValue("--lcd-text").trim(),
             };
           }"""
    )
    return found


def rgb(colour: str) -> tuple[float, float, float]:
    if colour.startswith("#"):
        digits = colour[1:]
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    numbers = [float(n) for n in re.findall(r"[\d.]+", colour)[:3]]
    return (numbers[0], numbers[1], numbers[2])


def luminance(colour: str) -> float:
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_dark_and_light_themes_follow_the_system_with_readable_text(
    browser: Browser, platform: Platform
) -> None:
    seen: dict[str, dict[str, str]] = {}
    for scheme in ("light", "dark"):
        with studio_page(browser, platform.url, height=800, color_scheme=scheme) as studio:
            page = studio.open()
            studio.wait_for_studio()
            page.wait_for_selector("#jobs-status:not(:empty)")
            found = seen[scheme] = colours(page)
            pairs = {
                "body text on the page": (found["text"], found["body"]),
                "body text on a panel": (found["text"], found["panel"]),
                "muted text on a panel": (found["muted"], found["panel"]),
                "a link on the page": (found["link"], found["body"]),
                "a button on a panel": (found["button"], found["panel"]),
                "the transport bar": (found["barText"], found["bar"]),
                "the transport display": (found["lcdText"], found["lcd"]),
            }
            for what, (fore, back) in pairs.items():
                assert contrast(fore, back) >= 4.5, f"{scheme}: {what} {fore} on {back}"
            assert_not_blank(page.screenshot())
    assert seen["light"]["body"] != seen["dark"]["body"]
    assert luminance(seen["dark"]["body"]) < 0.02 < luminance(seen["light"]["body"])
    assert luminance(seen["dark"]["text"]) > 0.5 > luminance(seen["light"]["text"])


def test_a_results_waveform_has_a_playhead_that_follows_the_player_and_seeks(
    studio: Studio, tmp_path: Path
) -> None:
    page = studio.open()
    studio.wait_for_studio()
    page.set_input_files("#file-input", str(write_tone(tmp_path / "four.wav", 4.0)))
    page.wait_for_selector("#upload-status[data-upload-id]")
    page.click("#start-job")
    studio.wait_for_job_end()
    card = 'li.artifact[data-artifact="processed.wav"]'
    assert studio.wait_for_audio("processed.wav")["duration"] == pytest.approx(4.0, abs=0.1)
    studio.wait_for_waveform("processed.wav")

    canvas = page.locator(f"{card} canvas.waveform")
    box = canvas.bounding_box()
    assert box
    canvas.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function(
        "(s) => Math.abs(document.querySelector(s).currentTime - 3) < 0.1", arg=f"{card} audio"
    )
    head = page.locator(f"{card} .playhead").bounding_box()
    assert head and head["x"] == pytest.approx(box["x"] + 0.75 * box["width"], abs=3)

    # Played from the keyboard, the playhead runs on to the end.
    page.focus(f"{card} audio")
    page.keyboard.press("Space")
    page.wait_for_function(
        "(s) => Number(document.querySelector(s).dataset.at) > 0.9", arg=f"{card} .waveform-wrap"
    )
    moved = page.locator(f"{card} .playhead").bounding_box()
    assert moved and moved["x"] > head["x"] + 0.1 * box["width"]
