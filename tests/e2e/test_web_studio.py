"""The web studio at `/`, in a real browser (Debian's headless Chromium) against the whole
platform: upload → job → live progress → play / waveform / download, the catalog searched
as you type with similar songs and a blend, the jobs list, the keyboard alone, and sign-in
on a gateway that requires accounts."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from cadenza.devstack.music import song_midi
from cadenza.devstack.testing import write_noise, write_tone

from .studio_fixtures import browser, gateway_requiring_accounts, studio, studio_page
from .studio_page import Studio, assert_not_blank

pytestmark = pytest.mark.platform

__all__ = ["browser", "gateway_requiring_accounts", "studio"]  # fixtures, shared

PASSWORD = "a long pass phrase for the studio"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def uploaded_id(studio: Studio) -> str:
    status = studio.page.wait_for_selector("#upload-status[data-upload-id]")
    assert status is not None
    upload_id = status.get_attribute("data-upload-id")
    assert upload_id
    return upload_id


def add_song(api: httpx.Client, title: str, **midi: Any) -> dict[str, Any]:
    response = api.post(
        "/api/v1/songs",
        params={"wait": "60"},
        files={"midi": ("song.mid", song_midi(**midi), "audio/midi")},
        data={"title": title, "artist": "Studio Test"},
    )
    # 201: a new song. (200 would be another test's identical MIDI, under its title.)
    assert response.status_code == 201, response.text
    song: dict[str, Any] = response.json()["song"]
    return song


def test_an_effects_job_from_upload_to_live_progress_playback_and_download(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    track = write_noise(tmp_path / "noise.wav", 20.0)
    page = studio.open()
    studio.wait_for_studio()
    assert page.locator("#sign-in").is_hidden(), "development mode shows no sign-in"
    assert page.locator("#account").is_hidden()

    page.set_input_files("#file-input", str(track))
    upload = api.get(f"/api/v1/uploads/{uploaded_id(studio)}").json()
    assert (upload["filename"], upload["sha256"]) == ("noise.wav", sha256_of(track))
    assert "0:20" in page.inner_text("#upload-status")

    # After the default reverb, a pitch shift: slow enough (~2 s) to watch the bar move.
    page.select_option("#effect-type", "pitch_shift")
    page.click("#add-effect")
    page.fill('#effects-chain li[data-type="pitch_shift"] input[data-param="semitones"]', "3")
    page.select_option("#effects-format", "flac")
    studio.record_progress()
    page.click("#start-job")
    job_id = studio.wait_for_job_end()

    seen = studio.recorded_progress()
    values = [s["value"] for s in seen]
    assert values == sorted(values), f"the bar went backwards: {seen}"
    moving = [s for s in seen if s["status"] == "running" and 0 < s["value"] < 1]
    assert moving, f"no progress was shown between start and end: {seen}"
    assert moving[0]["text"].endswith("running")
    assert (seen[-1]["status"], seen[-1]["value"]) == ("completed", 1)

    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert [(e["type"], e.get("semitones")) for e in job["params"]["chain"]] == [
        ("reverb", None),
        ("pitch_shift", 3),
    ]
    (artifact,) = job["artifacts"]
    assert artifact["name"] == "processed.flac"
    audio = studio.wait_for_audio("processed.flac")
    assert audio["readyState"] >= 1
    assert audio["duration"] == pytest.approx(20.0, abs=0.1)
    studio.wait_for_waveform("processed.flac")
    assert studio.waveform_ink("processed.flac") > 0.05
    name, digest = studio.download_digest('a[data-download="processed.flac"]')
    assert (name, digest) == ("processed.flac", artifact["sha256"])

    page.wait_for_selector(f'#jobs-body tr[data-job-id="{job_id}"][data-status="completed"]')
    assert_not_blank(page.screenshot(full_page=True))


def test_stems_of_a_separation_and_the_measured_loudness_of_a_master(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    track = write_noise(tmp_path / "song.wav", 4.0, seed=3)
    page = studio.open()
    studio.wait_for_studio()
    page.set_input_files("#file-input", str(track))
    uploaded_id(studio)

    page.check('input[name="action"][value="separation"]')
    listed = api.get("/api/v1/models").json()
    offered = page.eval_on_selector_all("#separation-model option", "o => o.map((x) => x.value)")
    assert offered == [model["name"] for model in listed["models"]]
    assert page.input_value("#separation-model") == listed["default"]
    page.select_option("#separation-model", "classical")  # no weights: cheap on a CPU
    classical = next(m for m in listed["models"] if m["name"] == "classical")
    stems = page.eval_on_selector_all('input[name="stem"]', "o => o.map((x) => x.value)")
    assert stems == classical["stems"]
    page.uncheck('input[name="stem"][value="other"]')
    page.uncheck('input[name="stem"][value="vocals"]')
    page.click("#start-job")
    separation_id = studio.wait_for_job_end()
    job = api.get(f"/api/v1/jobs/{separation_id}").json()
    assert sorted(a["name"] for a in job["artifacts"]) == ["bass.wav", "drums.wav"]
    for artifact in job["artifacts"]:
        assert studio.wait_for_audio(artifact["name"])["duration"] == pytest.approx(4.0, abs=0.1)
        studio.wait_for_waveform(artifact["name"])
    assert "classical" in page.inner_text('#stage-details section[data-stage="separation"]')

    page.check('input[name="action"][value="master"]')
    page.select_option("#master-preset", "broadcast")
    page.click("#start-job")
    master_id = studio.wait_for_job_end(after=separation_id)
    details = api.get(f"/api/v1/jobs/{master_id}").json()["stages"][0]["details"]
    assert details["lufs"] == pytest.approx(-23.0, abs=0.5)
    shown = page.inner_text('#stage-details section[data-stage="master"]')
    assert f"{details['lufs']:.1f} LUFS" in shown
    assert f"{details['true_peak_db']:.1f} dBTP" in shown
    studio.wait_for_audio("mastered.wav")


def test_a_track_dropped_on_the_zone_is_uploaded(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    track = write_tone(tmp_path / "dropped.wav", 1.0)
    page = studio.open()
    studio.wait_for_studio()
    page.evaluate(
        """([name, encoded]) => {
             const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
             const transfer = new DataTransfer();
             transfer.items.add(new File([bytes], name, {type: "audio/wav"}));
             const zone = document.getElementById("drop-zone");
             for (const type of ["dragenter", "dragover", "drop"]) {
               zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,
                                                       dataTransfer: transfer}));
             }
           }""",
        [track.name, base64.b64encode(track.read_bytes()).decode()],
    )
    upload = api.get(f"/api/v1/uploads/{uploaded_id(studio)}").json()
    assert (upload["filename"], upload["sha256"]) == ("dropped.wav", sha256_of(track))


def test_catalog_search_as_you_type_similar_songs_and_a_blend(
    studio: Studio, api: httpx.Client
) -> None:
    suffix = uuid.uuid4().hex[:6]
    waltz = add_song(api, f"Lantern Waltz {suffix}", seed=61, tempo=92, bars=8)
    hymn = add_song(api, f"Harbour Hymn {suffix}", seed=62, tempo=72, bars=8, minor=True)
    add_song(api, f"Lantern Reel {suffix}", seed=63, tempo=132, bars=8)
    page = studio.open()
    studio.wait_for_studio()

    # Typed key by key, with a typo: the list follows the typing.
    page.locator("#catalog-search").press_sequentially(f"lantern walts {suffix}", delay=40)
    found = f'#catalog-results li[data-song-id="{waltz["id"]}"]'
    page.wait_for_selector(found)
    assert f"{round(waltz['tempo_bpm'])} BPM" in page.inner_text(found)
    page.click(f"{found} button.song-open")
    page.wait_for_selector(f'#song-detail-title:text-is("{waltz["title"]}")')
    detail = page.inner_text("#song-detail")
    assert f"{waltz['key']} {waltz['mode']}" in detail
    assert f"{round(waltz['tempo_bpm'])} BPM" in detail
    assert page.evaluate("() => document.activeElement.id") == "song-detail-title"
    similar = api.get(f"/api/v1/songs/{waltz['id']}/similar", params={"k": 5}).json()["items"]
    assert similar, "the catalog has other songs to compare with"
    page.wait_for_selector("#song-detail ul.song-results li")
    shown = page.eval_on_selector_all(
        "#song-detail ul.song-results li", "items => items.map((li) => li.dataset.songId)"
    )
    assert shown == [hit["song"]["id"] for hit in similar]
    assert "% similar" in page.inner_text("#song-detail ul.song-results")

    # From the song to a blend: the action switches, then a second song found by typing.
    page.get_by_role("button", name=f"Add {waltz['title']} — Studio Test to the blend").click()
    assert page.is_checked('input[name="action"][value="blend"]')
    page.locator("#blend-search").press_sequentially(f"harbor hymn {suffix}", delay=40)
    page.click(f'#blend-results li[data-song-id="{hymn["id"]}"] button')
    chosen = page.eval_on_selector_all(
        "#blend-chosen li", "items => items.map((li) => li.dataset.songId)"
    )
    assert chosen == [waltz["id"], hymn["id"]]
    # The learned engine by default, with its instruments; the Markov engine's band style
    # shows only when that engine is chosen.
    assert page.is_visible("#blend-ensemble") and not page.is_visible("#blend-style")
    page.select_option("#blend-engine", "markov")
    assert page.is_visible("#blend-style") and not page.is_visible("#blend-ensemble")
    page.select_option("#blend-engine", "learned")
    page.fill("#blend-bars", "8")
    page.click("#start-job")
    job_id = studio.wait_for_job_end()

    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["kind"] == "blend" and job["params"]["songs"] == [waltz["id"], hymn["id"]]
    assert job["params"]["engine"] == "learned" and "style" not in job["params"]
    details = job["stages"][0]["details"]
    shown_details = page.inner_text('#stage-details section[data-stage="blend"]')
    assert details["key_name"] in shown_details
    assert f"{round(details['tempo_bpm'])} BPM" in shown_details
    assert "learned" in shown_details and details["texture"] in shown_details
    midi = next(a for a in job["artifacts"] if a["name"] == "blend.mid")
    _, digest = studio.download_digest('a[data-download="blend.mid"]')
    assert digest == midi["sha256"]
    # The blend's audio preview plays in the page, its first card, with a waveform.
    assert [s["name"] for s in job["stages"]] == ["blend", "preview"]
    preview = next(a for a in job["artifacts"] if a["name"] == "preview.mp3")
    first = page.eval_on_selector("#artifacts .artifact", "card => card.dataset.artifact")
    assert first == "preview.mp3"
    audio = studio.wait_for_audio("preview.mp3")
    assert audio["duration"] == pytest.approx(preview["duration_s"], abs=0.2)
    studio.wait_for_waveform("preview.mp3")
    assert studio.waveform_ink("preview.mp3") > 0.02


def test_the_main_flow_works_from_the_keyboard_alone(
    studio: Studio, api: httpx.Client, tmp_path: Path
) -> None:
    track = write_tone(tmp_path / "keys.wav", 3.0)
    # Listening before the page loads: Playwright then intercepts the file dialog for sure
    # (a listener added just before the key press can lose that race).
    studio.page.on("filechooser", lambda chooser: chooser.set_files(str(track)))
    page = studio.open()
    studio.wait_for_studio()
    keys = page.keyboard

    studio.tab_to("#file-input")
    keys.press("Space")  # opens the file dialog, answered by the listener
    uploaded_id(studio)

    studio.tab_to("#effect-type")
    keys.type("g")  # type-ahead in the closed list picks "Gain"
    assert page.input_value("#effect-type") == "gain"
    studio.tab_to("#add-effect")
    keys.press("Enter")
    focused = 'li[data-type="gain"] input[data-param="gain_db"]'
    assert page.evaluate("(s) => document.activeElement.matches(s)", focused)
    keys.press("Control+A")
    keys.type("-6")
    studio.tab_to('li[data-type="gain"] button[data-move="-1"]')
    keys.press("Enter")
    order = page.eval_on_selector_all(
        "#effects-chain > li", "items => items.map((li) => li.dataset.type)"
    )
    assert order == ["gain", "reverb"]
    assert page.evaluate("() => document.activeElement.dataset.move") == "1", "focus stays put"

    studio.tab_to("#start-job")
    keys.press("Enter")
    job_id = studio.wait_for_job_end()
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert [(e["type"], e.get("gain_db")) for e in job["params"]["chain"]] == [
        ("gain", -6),
        ("reverb", None),
    ]

    studio.wait_for_audio("processed.wav")
    studio.tab_to('li.artifact[data-artifact="processed.wav"] audio')
    keys.press("Space")
    page.wait_for_function("() => document.querySelector('li.artifact audio').currentTime > 0")
    with page.expect_download() as saved:
        studio.tab_to('a[data-download="processed.wav"]')
        keys.press("Enter")
    assert (
        hashlib.sha256(saved.value.path().read_bytes()).hexdigest()
        == (job["artifacts"][0]["sha256"])
    )

    studio.tab_to(f'#jobs-body tr[data-job-id="{job_id}"] button')
    keys.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'current-job-title'")
    assert page.get_attribute("#job-summary", "data-job-id") == job_id


def test_sign_in_when_accounts_are_required_and_the_token_goes_everywhere(
    browser: Browser, gateway_requiring_accounts: str, tmp_path: Path
) -> None:
    base = gateway_requiring_accounts
    email = f"studio-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=60) as api:
        assert api.get("/api/v1/auth/me").status_code == 401
        registered = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        api.headers["Authorization"] = f"Bearer {pair['access_token']}"
        with studio_page(browser, base) as studio:
            page = studio.open()
            page.wait_for_selector("#sign-in:not([hidden])")
            assert page.locator("#studio").is_hidden()
            assert page.evaluate("() => document.activeElement.id") == "sign-in-email"
            page.keyboard.type(email)
            page.fill("#sign-in-password", "not the password")
            page.press("#sign-in-password", "Enter")
            page.wait_for_selector("#sign-in-error:text('wrong email or password')")
            page.fill("#sign-in-password", PASSWORD)
            page.press("#sign-in-password", "Enter")
            studio.wait_for_studio()
            assert page.inner_text("#account-name") == f"Signed in as {email}"
            token = page.evaluate("() => sessionStorage.getItem('cadenza.access_token')")
            assert token

            track = write_tone(tmp_path / "signed-in.wav", 2.0)
            page.set_input_files("#file-input", str(track))
            upload_id = uploaded_id(studio)
            assert api.get(f"/api/v1/uploads/{upload_id}").status_code == 200, "it is ours"
            page.click("#start-job")
            job_id = studio.wait_for_job_end()  # told over the WebSocket, ?access_token=
            (artifact,) = api.get(f"/api/v1/jobs/{job_id}").json()["artifacts"]
            audio = studio.wait_for_audio(artifact["name"])
            assert audio["src"].startswith("blob:"), "fetched with the header, played from a Blob"
            _, digest = studio.download_digest(f'a[data-download="{artifact["name"]}"]')
            assert digest == artifact["sha256"]

            # A token the server no longer takes: one refresh, and the call goes through.
            page.evaluate("() => sessionStorage.setItem('cadenza.access_token', 'expired')")
            page.click("#refresh-jobs")
            page.wait_for_function(
                "() => !['expired', null].includes(sessionStorage.getItem('cadenza.access_token'))"
            )
            page.reload()
            studio.wait_for_studio()
            page.wait_for_selector(f'#jobs-body tr[data-job-id="{job_id}"]')

            refresh = page.evaluate("() => sessionStorage.getItem('cadenza.refresh_token')")
            page.click("#sign-out")
            page.wait_for_selector("#sign-in:not([hidden])")
            assert page.evaluate("() => sessionStorage.length") == 0
            refused = api.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
            assert refused.status_code == 401, "signing out ended the session on the server"


# A pair stored while the start-up's GET /auth/me is on its way (as a sign-in finishing
# meanwhile, or a test putting its token in place) lands just before that call's 401 does.
STORE_A_PAIR_WHILE_ASKING = """(() => {
  const fetchAsTheStudioDoes = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await fetchAsTheStudioDoes(input, init);
    if (String(input).endsWith("/api/v1/auth/me")) {
      sessionStorage.setItem("cadenza.access_token", "stored-meanwhile");
    }
    return response;
  };
})();"""


def test_a_late_401_at_start_up_keeps_a_pair_stored_meanwhile(
    browser: Browser, gateway_requiring_accounts: str
) -> None:
    with studio_page(browser, gateway_requiring_accounts) as studio:
        studio.page.add_init_script(STORE_A_PAIR_WHILE_ASKING)
        page = studio.open()
        page.wait_for_selector("#sign-in:not([hidden])")
        kept = page.evaluate("() => sessionStorage.getItem('cadenza.access_token')")
        assert kept == "stored-meanwhile", "the 401 answered a call made without it"


def test_every_effect_starts_with_values_the_form_and_the_api_accept(
    studio: Studio, api: httpx.Client
) -> None:
    """The editor is built from GET /api/v1/effects: every effect the contract has is
    offered, each field starts at the catalogue's value, and no field is invalid as added
    (a step that missed the compressor's attack default once refused the whole form)."""
    catalogue = api.get("/api/v1/effects").json()["effects"]
    page = studio.open()
    studio.wait_for_studio()
    offered = page.eval_on_selector_all("#effect-type option", "os => os.map(o => o.value)")
    assert offered == [effect["type"] for effect in catalogue]
    for effect in catalogue:
        page.select_option("#effect-type", effect["type"])
        page.click("#add-effect")
        item = f'#effects-chain li[data-type="{effect["type"]}"]'
        for param in effect["parameters"]:
            field = f'{item} input[data-param="{param["name"]}"]'
            assert float(page.input_value(field)) == param["suggested"], field
            label = f'label[for="{page.get_attribute(field, "id")}"]'
            assert page.text_content(label) == param["label"]
    invalid = page.eval_on_selector_all(
        "#effects-chain input", "fields => fields.filter((f) => !f.checkValidity()).length"
    )
    assert invalid == 0
    # Any value between the bounds is accepted, on the arrow keys' grid or not.
    attack = '#effects-chain li[data-type="compressor"] input[data-param="attack_ms"]'
    page.fill(attack, "2.345")
    assert page.eval_on_selector(attack, "f => f.checkValidity()")
    room = '#effects-chain li[data-type="reverb"] input[data-param="room_size"]'
    page.fill(room, "0.5")
    page.focus(room)
    page.keyboard.press("ArrowUp")
    assert page.input_value(room) == "0.51", "the arrow keys nudge by a hundredth of 0–1"
    page.fill(room, "1")
    page.keyboard.press("ArrowUp")
    assert page.input_value(room) == "1", "and stop at the bound"
    # The live editor leaves out what the server refuses live.
    live = page.eval_on_selector_all("#live-effect-type option", "os => os.map(o => o.value)")
    assert live == [effect["type"] for effect in catalogue if effect["live"]]
    assert "pitch_shift" not in live
