"""Driving the web studio in Debian's headless Chromium (Playwright, no downloaded browser):
launching it, watching a page for errors, keyboard travel, and checks on what it shows."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

# Generous: two busy cores may run the whole platform next to the browser.
WAIT_MS = 60_000

# Installed by `make install` (apt: chromium). A CI machine must have it; a laptop without
# it skips these tests instead of failing them.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    configured = os.environ.get("CHROMIUM_PATH")
    found = configured or next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    if found:
        return found
    message = "no chromium on PATH (make install apt-installs it; or set CHROMIUM_PATH)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def launched_chromium(args: Sequence[str] = ()) -> Iterator[Browser]:
    """Chromium with extra command-line `args` (e.g. its fake microphone's switches)."""
    path = chromium_path()
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=path, args=list(args))
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@dataclass
class Studio:
    """A page of the studio, with every script error and CSP violation it reported."""

    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)

    def watch(self) -> Studio:
        self.page.set_default_timeout(WAIT_MS)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("console", self._console)
        return self

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every non-2xx response as a console error; a 401 on the way to the
        # sign-in form is expected. Script errors and CSP violations are not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def open(self) -> Page:
        self.page.goto(self.base_url + "/")
        return self.page

    def wait_for_studio(self) -> None:
        self.page.wait_for_selector("#studio:not([hidden])")

    def record_progress(self) -> None:
        """From now on, keep every state the stage rows show (progress value, status)."""
        self.page.evaluate(
            """() => {
              window.recordedStages = [];
              const stages = document.getElementById("stages");
              new MutationObserver(() => {
                for (const row of stages.querySelectorAll("li.stage")) {
                  const bar = row.querySelector("progress");
                  const seen = {stage: row.dataset.stage, status: row.dataset.status,
                                value: bar.value, text: bar.getAttribute("aria-valuetext")};
                  const last = window.recordedStages.filter((s) => s.stage === seen.stage).at(-1);
                  if (!last || last.value !== seen.value || last.status !== seen.status) {
                    window.recordedStages.push(seen);
                  }
                }
              }).observe(stages, {subtree: true, childList: true, attributes: true,
                                  attributeFilter: ["value", "data-status"]});
            }"""
        )

    def recorded_progress(self) -> list[dict[str, Any]]:
        recorded: list[dict[str, Any]] = self.page.evaluate("() => window.recordedStages")
        return recorded

    def wait_for_job_end(self, status: str = "completed", after: str | None = None) -> str:
        """Wait for the watched job (another than `after`) to end; returns its id, after
        checking it ended with `status`."""
        summary = self.page.locator("#job-summary[data-status]")
        self.page.wait_for_function(
            """(previous) => {
                 const summary = document.getElementById("job-summary");
                 return summary.dataset.jobId !== previous
                   && ["completed", "failed", "cancelled"].includes(summary.dataset.status);
               }""",
            arg=after,
            timeout=WAIT_MS * 2,
        )
        assert summary.get_attribute("data-status") == status, (
            f"{self.page.inner_text('#job-summary')} / {self.page.inner_text('#job-error')}"
        )
        job_id = summary.get_attribute("data-job-id")
        assert job_id
        return job_id

    def wait_for_audio(self, artifact: str) -> dict[str, Any]:
        """Wait until the artifact's player knows its duration; its readyState and duration."""
        selector = f'li.artifact[data-artifact="{artifact}"] audio'
        self.page.wait_for_function(
            """(selector) => {
                 const audio = document.querySelector(selector);
                 return audio && audio.readyState >= 1 && audio.duration > 0;
               }""",
            arg=selector,
        )
        state: dict[str, Any] = self.page.eval_on_selector(
            selector, "a => ({readyState: a.readyState, duration: a.duration, src: a.src})"
        )
        return state

    def wait_for_waveform(self, artifact: str) -> None:
        self.page.wait_for_selector(
            f'li.artifact[data-artifact="{artifact}"] canvas[data-drawn]', state="attached"
        )

    def waveform_ink(self, artifact: str) -> float:
        """The share of the waveform canvas painted in the waveform colour (not background)."""
        share: float = self.page.eval_on_selector(
            f'li.artifact[data-artifact="{artifact}"] canvas',
            """canvas => {
                 const graphics = canvas.getContext("2d");
                 const {data} = graphics.getImageData(0, 0, canvas.width, canvas.height);
                 const [r0, g0, b0] = data;  // the top-left pixel is background
                 let painted = 0;
                 for (let i = 0; i < data.length; i += 4) {
                   const distance = Math.abs(data[i] - r0) + Math.abs(data[i + 1] - g0)
                                  + Math.abs(data[i + 2] - b0);
                   if (distance > 60) painted += 1;
                 }
                 return painted / (data.length / 4);
               }""",
        )
        return share

    def download_digest(self, link_selector: str) -> tuple[str, str]:
        """Click a download link; the saved file's (suggested name, sha256)."""
        with self.page.expect_download() as started:
            self.page.click(link_selector)
        download = started.value
        path = download.path()
        return download.suggested_filename, hashlib.sha256(path.read_bytes()).hexdigest()

    def tab_to(self, selector: str, limit: int = 120) -> None:
        """Press Tab until the focus is on `selector`; checks the focus is visibly marked."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
                outline = self.page.evaluate(
                    """() => {
                         const style = getComputedStyle(document.activeElement);
                         return {style: style.outlineStyle, width: parseFloat(style.outlineWidth)};
                       }"""
                )
                assert outline["style"] != "none" and outline["width"] >= 2, (
                    f"no visible focus on {selector}: {outline}"
                )
                return
        focused = self.page.evaluate("() => document.activeElement?.outerHTML.slice(0, 120)")
        raise AssertionError(f"{limit} Tabs never reached {selector}; focus is on {focused}")

    def assert_no_problems(self) -> None:
        assert self.problems == [], self.problems


def assert_not_blank(png: bytes) -> None:
    """A screenshot that shows something: many colours, and plenty of non-background ink."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    background = np.median(image.reshape(-1, 3), axis=0)
    ink = float(np.mean(np.abs(image.astype(int) - background).sum(axis=2) > 60))
    assert colours >= 50, f"only {colours} colours: a blank page?"
    assert ink >= 0.02, f"only {ink:.1%} of the pixels differ from the background"
