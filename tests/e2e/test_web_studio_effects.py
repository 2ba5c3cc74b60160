"""Every effect of the contract in the studio, in a real browser (Debian's headless Chromium)
against the whole platform: one test per effect type, generated from the effect catalogue,
adds the effect with its defaults, starts the job (202) and sees it complete; one per live
effect runs it in the live panel. (A step that missed a default once made the browser refuse
the whole form: the compressor's attack, the phaser's centre, a filter's Q.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page

from cadenza.contracts.effect_catalogue import EffectType, effect_catalogue
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

from .studio_fixtures import browser, studio_page
from .studio_page import Studio

pytestmark = pytest.mark.platform

__all__ = ["browser"]  # a fixture, shared by the studio's test modules

EFFECTS = effect_catalogue().effects
LIVE_EFFECTS = [effect for effect in EFFECTS if effect.live]
LIVE_RATE = 48000
BLOCK_20_MS = 960


@pytest.fixture
def studio(browser: Browser, platform: Platform) -> Iterator[Studio]:
    with studio_page(browser, platform.url) as studio:
        studio.open()
        studio.wait_for_studio()
        yield studio


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone(tmp_path_factory.mktemp("effects") / "tone.wav", 1.0)


@pytest.fixture(scope="module")
def live_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half a second of 48 kHz stereo: a tone left, noise right."""
    t = np.arange(LIVE_RATE // 2) / LIVE_RATE
    noise = np.random.default_rng(5).uniform(-0.2, 0.2, t.size)
    audio = np.stack([0.4 * np.sin(2 * np.pi * 330 * t), noise], axis=1).astype(np.float32)
    path = tmp_path_factory.mktemp("live") / "half-second.wav"
    sf.write(str(path), audio, LIVE_RATE, subtype="FLOAT")
    return path


def only_effect(page: Page, chain: str, select: str, add: str, effect: EffectType) -> str:
    """Replace a chain with `effect` at its editor's defaults; the new item's selector."""
    for button in page.locator(f"{chain} button[data-remove]").all():
        button.click()
    page.select_option(select, effect.type)
    page.click(add)
    item = f'{chain} li[data-type="{effect.type}"]'
    fields = page.eval_on_selector_all(
        f"{item} input[data-param]",
        """inputs => inputs.map((f) => ({name: f.dataset.param, value: f.value,
              valid: f.checkValidity(), message: f.validationMessage}))""",
    )
    assert [f["name"] for f in fields] == [p.name for p in effect.parameters]
    for shown, param in zip(fields, effect.parameters, strict=True):
        assert float(shown["value"]) == pytest.approx(param.suggested), shown
        assert shown["valid"], f"{effect.type}.{param.name}: {shown['message']}"
    return item


@pytest.mark.parametrize("effect", EFFECTS, ids=[effect.type for effect in EFFECTS])
def test_each_effect_with_its_defaults_is_accepted_and_completes(
    studio: Studio, api: httpx.Client, track: Path, effect: EffectType
) -> None:
    page = studio.page
    page.set_input_files("#file-input", str(track))
    page.wait_for_selector("#upload-status[data-upload-id]")
    only_effect(page, "#effects-chain", "#effect-type", "#add-effect", effect)
    assert page.eval_on_selector("#job-form", "form => form.checkValidity()")

    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/jobs") and r.request.method == "POST"
    ) as answered:
        page.click("#start-job")
    assert answered.value.status == 202, answered.value.text()
    job_id = studio.wait_for_job_end()

    job = api.get(f"/api/v1/jobs/{job_id}").json()
    (sent,) = job["params"]["chain"]
    assert sent["type"] == effect.type
    for param in effect.parameters:
        assert sent[param.name] == pytest.approx(param.suggested), param.name
    (artifact,) = job["artifacts"]
    assert artifact["duration_s"] == pytest.approx(1.0, abs=0.05)
    assert page.inner_text("#job-form-error") == ""


@pytest.mark.parametrize("effect", LIVE_EFFECTS, ids=[effect.type for effect in LIVE_EFFECTS])
def test_each_live_effect_with_its_defaults_runs_in_the_live_panel(
    studio: Studio, live_file: Path, effect: EffectType
) -> None:
    page = studio.page
    only_effect(page, "#live-effects-chain", "#live-effect-type", "#live-add-effect", effect)
    page.set_input_files("#live-file", str(live_file))
    page.wait_for_selector("#live-file-status:has-text('stays on this computer')")
    page.click("#live-start")
    page.wait_for_function(
        "() => ['finished', 'closed', 'error']"
        ".includes(document.getElementById('live-status').dataset.state)"
    )
    status = page.inner_text("#live-status")
    assert page.get_attribute("#live-status", "data-state") == "finished", status
    # Every block sent came back; under load the page may skip one rather than queue it
    # (counted as dropped), so the whole half second is sent or dropped.
    blocks = -(-LIVE_RATE // 2 // BLOCK_20_MS)
    sent, received, dropped = (
        int(page.get_attribute(f"#live-{name}", "data-value") or "-1")
        for name in ("sent", "received", "dropped")
    )
    assert received == sent > 0
    assert sent + dropped >= blocks, (sent, dropped, blocks)


def test_every_number_field_accepts_its_start_value_and_both_bounds(studio: Studio) -> None:
    """Every number field of the page (each effect's, mastering's, the remix's, the blend's,
    in both editors): its starting value, its minimum and its maximum are all valid, so no
    step can make the browser refuse a form the API would take."""
    page = studio.page
    for effect in EFFECTS:
        page.select_option("#effect-type", effect.type)
        page.click("#add-effect")
    for effect in LIVE_EFFECTS:
        page.select_option("#live-effect-type", effect.type)
        page.click("#live-add-effect")
    refused: list[dict[str, str]] = page.eval_on_selector_all(
        '#studio input[type="number"]',
        """fields => fields.flatMap((field) => {
             const start = field.value;
             const tried = [["start", start], ["min", field.min], ["max", field.max]];
             const wrong = tried
               .filter(([, value]) => value !== "")
               .map(([what, value]) => {
                 field.value = value;
                 return {field: field.id, what, value, valid: field.checkValidity(),
                         message: field.validationMessage};
               })
               .filter((result) => !result.valid);
             field.value = start;
             return wrong;
           })""",
    )
    assert refused == []
    checked = page.eval_on_selector_all('#studio input[type="number"]', "fields => fields.length")
    parameters = sum(len(e.parameters) for e in EFFECTS) + sum(
        len(e.parameters) for e in LIVE_EFFECTS
    )
    reverb = next(len(e.parameters) for e in EFFECTS if e.type == "reverb")
    # Both chains start with a reverb; mastering has 2 fields, the remix 1, the blend 3.
    assert checked >= parameters + 2 * reverb + 6
    assert (
        page.eval_on_selector_all(
            '#studio input[type="number"]:not([min]), #studio input[type="number"]:not([step])',
            "fields => fields.map((f) => f.id)",
        )
        == []
    )
