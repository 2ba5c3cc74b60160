"""The studio's Projects section in Chromium, two accounts in two browser contexts against the
platform's gateway that requires accounts: a project made and shared through the page (an
invitation by email, accepted from the invitee's "Invitations"), each member's presence dot
on the other's page within 500 ms of their socket opening, the shared mixer — a fader moved
with the keyboard on one page moves on the other, concurrent edits converge to one mix in
both pages and in the database — a reviewer's read-only mixer, a removed member's page told
so (the socket closed 4403) while the project answers them 404, and the owner's page at
360 px without sideways scrolling. Every page is watched for script errors and CSP
violations (studio_fixtures.studio_page)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute
from pycrdt import Doc, Map

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone
from cadenza.gateway import shared_mix, shared_mix_repository

from .conftest import upload, wait_for_status
from .studio_fixtures import (  # noqa: F401  (fixtures)
    browser,
    gateway_requiring_accounts,
    sign_in,
    studio_page,
)
from .test_web_studio_layout import assert_fits, unlabelled_controls

pytestmark = pytest.mark.platform

PASSWORD = "projects-correct-horse-9"
PRESENCE_WITHIN_S = 0.5

# Every project WebSocket the page makes: when it was made and when its open event ran
# (Date.now(), one clock for both pages: the same machine). The open event can run after
# the server has already announced the member (the page is busy drawing the project), so
# latency is measured from the socket's creation: the handshake and sign-in included.
WATCH_SOCKETS = """
window.projectSockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    if (String(url).includes("/api/v1/projects/")) {
      const seen = { made: Date.now(), opened: null };
      window.projectSockets.push(seen);
      this.addEventListener("open", () => { seen.opened = Date.now(); });
    }
  }
};
"""

# When the dot of `account` first shows them present (not "away"): Date.now().
WATCH_DOT = """(account) => {
  window.presentAt = null;
  const check = () => {
    const dot = document.querySelector(
      `#project-members li[data-account="${account}"] .presence-dot`);
    if (window.presentAt === null && dot && dot.dataset.presence !== "away") {
      window.presentAt = Date.now();
    }
  };
  new MutationObserver(check).observe(
    document.body, { subtree: true, childList: true, attributes: true });
  check();
}"""

# The mixer as its controls show it: track → {gain, pan, mute, solo}.
READ_MIXER = """() => Object.fromEntries(
  [...document.querySelectorAll("#mix-tracks li[data-track]")].map((row) => [
  row.dataset.track,
  {
    gain: Number(row.querySelector('input[name="gain"]').value),
    pan: Number(row.querySelector('input[name="pan"]').value),
    mute: row.querySelector('input[name="mute"]').checked,
    solo: row.querySelector('input[name="solo"]').checked,
  },
]))"""

# Move a control as a user would (an input event for a fader, a change for a box).
SET_CONTROL = """([track, name, value]) => {
  const input = document.querySelector(
    `#mix-tracks li[data-track="${track}"] input[name="${name}"]`);
  if (input.type === "checkbox") {
    input.checked = value;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  } else {
    input.value = String(value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
}"""


def account(base_url: str, prefix: str) -> tuple[str, str]:
    """A new account: its email and id. (Sign-ins are rate limited per address, 30 a
    minute: a 429 is waited out as its Retry-After says.)"""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(30):
            registered = client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            )
            if registered.status_code != 429:
                break
            time.sleep(float(registered.headers.get("Retry-After", "1")))
    assert registered.status_code == 201, registered.text
    return email, registered.json()["id"]


def token_of(page: Page) -> str:
    """The access token the page signed in with."""
    token: str = page.evaluate("() => sessionStorage.getItem('cadenza.access_token')")
    assert token
    return token


def api(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def rounded(mix: dict[str, Any]) -> dict[str, Any]:
    return {
        track: {
            "gain": round(float(c["gain"]), 2),
            "pan": round(float(c["pan"]), 2),
            "mute": bool(c["mute"]),
            "solo": bool(c["solo"]),
        }
        for track, c in mix.items()
    }


def stored_mix(dsn: str, project_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            _, state = await shared_mix_repository.read_state(pool, uuid.UUID(project_id))
        finally:
            await pool.close()
        return dict(shared_mix.as_json(state))

    # Playwright's sync API runs an event loop in this thread: read from another one.
    with ThreadPoolExecutor(1) as pool:
        return rounded(pool.submit(asyncio.run, read()).result())


def until(check: Any, timeout_s: float = 30, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}")
        time.sleep(0.05)


def member(account_id: str) -> str:
    return f'#project-members li[data-account="{account_id}"]'


def dot(account_id: str) -> str:
    return f"{member(account_id)} .presence-dot"


def open_project(page: Page, name: str) -> None:
    page.get_by_role("link", name="Projects").click()
    page.click("#refresh-projects")
    page.locator("#project-list button", has_text=name).click()
    page.wait_for_selector("#project-room-status:has-text('Connected')")


def add_track(page: Page, track: str) -> None:
    page.fill("#mix-track-id", track)
    page.press("#mix-track-id", "Enter")
    page.wait_for_selector(f'#mix-tracks li[data-track="{track}"]')


def test_two_members_share_a_project_see_each_other_and_mix_together(
    browser: Browser,  # noqa: F811
    gateway_requiring_accounts: str,  # noqa: F811
    platform: Platform,
) -> None:
    url = gateway_requiring_accounts
    owner_email, _ = account(url, "owner")
    member_email, member_id = account(url, "member")
    name = f"Song {uuid.uuid4().hex[:6]}"
    with studio_page(browser, url) as a, studio_page(browser, url) as b:
        for studio in (a, b):
            studio.page.context.add_init_script(WATCH_SOCKETS)
        page_a = sign_in(a, owner_email, PASSWORD)

        # A makes the project with the form and invites B by email, as a producer.
        page_a.get_by_role("link", name="Projects").click()
        page_a.locator("#project-create-box summary").click()
        page_a.fill("#project-new-name", name)
        page_a.fill("#project-new-tempo", "96")
        page_a.fill("#project-new-key", "F# minor")
        page_a.fill("#project-new-time", "6/8")
        page_a.click("#project-create")
        page_a.wait_for_selector(f"#project-view-title:has-text('{name}')")
        assert "F# minor" in page_a.inner_text("#project-summary")
        assert "6/8" in page_a.inner_text("#project-summary")
        page_a.wait_for_selector("#project-room-status:has-text('Connected')")
        project_id = page_a.get_attribute(".project-page", "data-project-id")
        assert project_id
        page_a.fill("#invite-who", member_email)
        page_a.select_option("#invite-role", "producer")
        page_a.click("#invite-send")
        page_a.wait_for_selector(f"#project-invitations li:has-text('{member_email}')")
        page_a.wait_for_selector("#project-activity li[data-type='project.invitation.sent']")

        # B signs in, sees the invitation and accepts it: the project opens for B.
        page_b = sign_in(b, member_email, PASSWORD)
        page_b.wait_for_selector("#my-invitations:not([hidden])")
        assert name in page_b.inner_text("#my-invitations-list")
        page_b.get_by_role("button", name=f"Accept {name}").click()
        page_b.wait_for_selector(f"#project-view-title:has-text('{name}')")
        page_b.wait_for_selector("#project-room-status:has-text('Connected')")
        assert "producer" in page_b.inner_text("#project-summary")
        # A's page hears B join: the activity feed, the member list, B's dot.
        page_a.wait_for_selector("#project-activity li[data-type='project.invitation.accepted']")
        page_a.wait_for_selector(f"{dot(member_id)}:not([data-presence='away'])")

        # Presence, measured: B leaves the project's page (A sees B away), comes back, and
        # A's page shows B's dot within 500 ms of B's socket opening.
        page_b.click("#project-back")
        page_a.wait_for_selector(f"{dot(member_id)}[data-presence='away']")
        page_a.evaluate(WATCH_DOT, member_id)
        sockets_before = len(page_b.evaluate("() => window.projectSockets"))
        open_project(page_b, name)
        page_a.wait_for_function("() => window.presentAt !== null")
        socket = page_b.evaluate("() => window.projectSockets")[sockets_before]
        present_at = page_a.evaluate("() => window.presentAt")
        latency_s = (present_at - socket["made"]) / 1000
        print(f"presence: B's socket opened {socket['opened'] - socket['made']} ms after made")
        print(f"presence: B's socket made → B's dot on A's page in {latency_s * 1000:.0f} ms")
        assert latency_s < PRESENCE_WITHIN_S, latency_s
        # And B's page shows A present (from the snapshot).
        owner_row = f"#project-members li:has-text('{owner_email}')"
        page_b.wait_for_selector(f"{owner_row} .presence-dot[data-presence='active']")

        # The shared mixer: A adds two tracks, B's page shows them.
        add_track(page_a, "vocals")
        add_track(page_a, "drums")
        page_b.wait_for_selector('#mix-tracks li[data-track="drums"]')
        # A moves the vocals fader with the keyboard; B's fader follows.
        page_a.focus('#mix-tracks li[data-track="vocals"] input[name="gain"]')
        for _ in range(10):
            page_a.keyboard.press("ArrowLeft")
        page_b.wait_for_function(
            "() => document.querySelector(`#mix-tracks li[data-track='vocals']"
            " input[name='gain']`).value === '0.9'"
        )
        # Focusing the fader told the others what A looks at.
        page_b.wait_for_selector(f"{owner_row} .presence-looking:has-text('vocals')")

        # Concurrent edits, to different controls and to the same one, from both pages.
        page_a.evaluate(SET_CONTROL, ["vocals", "gain", 0.3])
        page_b.evaluate(SET_CONTROL, ["vocals", "gain", 1.2])
        page_a.evaluate(SET_CONTROL, ["drums", "pan", -0.5])
        page_b.evaluate(SET_CONTROL, ["drums", "mute", True])
        page_b.evaluate(SET_CONTROL, ["vocals", "solo", True])
        page_a.evaluate(SET_CONTROL, ["drums", "gain", 0.75])

        def converged() -> dict[str, Any] | None:
            seen_a = rounded(page_a.evaluate(READ_MIXER))
            seen_b = rounded(page_b.evaluate(READ_MIXER))
            if seen_a != seen_b:
                return None
            return seen_a if stored_mix(platform.postgres.dsn, project_id) == seen_a else None

        final = until(converged, what="both pages and the database to hold one mix")
        assert final["drums"] == {"gain": 0.75, "pan": -0.5, "mute": True, "solo": False}
        assert final["vocals"]["gain"] in (0.3, 1.2)
        assert final["vocals"]["solo"] is True


def test_a_reviewer_reads_the_mix_and_a_removed_member_is_told_at_360_px(
    browser: Browser,  # noqa: F811
    gateway_requiring_accounts: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = gateway_requiring_accounts
    owner_email, _ = account(url, "owner")
    reviewer_email, reviewer_id = account(url, "reviewer")
    name = f"Review {uuid.uuid4().hex[:6]}"
    with (
        studio_page(browser, url, width=360, height=740) as a,
        studio_page(browser, url) as b,
        ExitStack() as clients,
    ):
        page_a = sign_in(a, owner_email, PASSWORD)
        page_b = sign_in(b, reviewer_email, PASSWORD)
        owner = clients.enter_context(api(url, token_of(page_a)))
        reviewer = clients.enter_context(api(url, token_of(page_b)))
        created = owner.post("/api/v1/projects", json={"name": name, "key": "Eb major"})
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]
        invited = owner.post(
            f"/api/v1/projects/{project_id}/invitations",
            json={"account_id": reviewer_id, "role": "reviewer"},
        )
        assert invited.status_code == 201, invited.text
        accepted = reviewer.post(f"/api/v1/invitations/{invited.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text

        # The owner's page at 360 px: the whole project, nothing scrolls sideways.
        open_project(page_a, name)
        add_track(page_a, "bass")
        page_a.wait_for_selector(member(reviewer_id))
        assert_fits(page_a, "360 px, a project's page")
        assert unlabelled_controls(page_a) == []

        # The reviewer sees the mix but cannot change it.
        open_project(page_b, name)
        page_b.wait_for_selector('#mix-tracks li[data-track="bass"]')
        assert page_b.is_disabled('#mix-tracks li[data-track="bass"] input[name="gain"]')
        assert page_b.is_disabled('#mix-tracks li[data-track="bass"] input[name="mute"]')
        assert page_b.is_hidden("#mix-add-track")
        assert "reviewer" in page_b.inner_text("#mix-note")
        assert page_b.is_hidden("#project-save")

        # A comment on a time range of a track, from the owner's page, reaches the
        # reviewer's; the reviewer replies, the owner resolves the thread.
        page_a.fill("#comment-body", "The bass is late here")
        page_a.fill("#comment-track", "bass")
        page_a.fill("#comment-start", "1.5")
        page_a.fill("#comment-end", "4")
        page_a.click("#comment-form button[type=submit]")
        thread = ".comment-group[data-track='bass'] li[data-resolved]"
        page_b.wait_for_selector(f"{thread}:has-text('The bass is late here')")
        assert "bass, 0:01.5–0:04" in page_b.inner_text(thread)
        page_b.fill(f"{thread} .reply-form textarea", "Agreed, by a beat")
        page_b.click(f"{thread} .reply-form button[type=submit]")
        page_a.wait_for_selector(f"{thread} .comment-replies:has-text('Agreed, by a beat')")
        assert page_b.locator(f"{thread} .comment-resolve").count() == 0  # not theirs
        page_a.click(f"{thread} .comment-resolve")
        page_b.wait_for_selector(".comment-group[data-track='bass'] li[data-resolved='true']")
        # The owner starts a job in the project from the project's page (the job form
        # with the project chosen); the reviewer's page lists it when it ends, and
        # the reviewer approves its artifact: the owner's page shows the decision.
        page_a.click("#project-start-job")
        assert page_a.input_value("#job-project") == project_id
        page_a.set_input_files("#file-input", str(write_tone(tmp_path / "take.wav", 1.0)))
        page_a.wait_for_selector("#upload-status[data-upload-id]")
        # Uploaded into the project chosen for the job: the reviewer reads it too.
        upload_id = page_a.get_attribute("#upload-status", "data-upload-id")
        shared = reviewer.get(f"/api/v1/uploads/{upload_id}")
        assert shared.status_code == 200 and shared.json()["project_id"] == project_id
        page_a.click("#start-job")
        a.wait_for_job_end()
        page_b.wait_for_selector("#project-jobs li[data-status='completed']")
        page_b.wait_for_selector("#project-activity li[data-type='job.completed']")
        artifact = page_b.input_value("#approval-artifact")
        assert artifact
        page_b.fill("#approval-note", "Ship it")
        page_b.get_by_role("button", name="Approve", exact=True).click()
        approved = f"#project-approvals li[data-decision='approved']:has-text('{artifact}')"
        page_a.wait_for_selector(approved)
        # The reviewer cannot upload into the project, nor start a job in it: the
        # server's sentences show.
        page_b.select_option("#job-project", project_id)
        page_b.set_input_files("#file-input", str(write_tone(tmp_path / "mine.wav", 1.0)))
        page_b.wait_for_selector("#upload-status:has-text('was not accepted')")
        assert "reviewer" in page_b.inner_text("#upload-status")
        page_b.select_option("#job-project", "")
        page_b.set_input_files("#file-input", str(write_tone(tmp_path / "own.wav", 1.0)))
        page_b.wait_for_selector("#upload-status[data-upload-id]")
        page_b.select_option("#job-project", project_id)
        page_b.click("#start-job")
        page_b.wait_for_selector("#job-form-error:has-text('The job was not started')")
        print("a reviewer's job refused:", page_b.inner_text("#job-form-error"))
        assert "reviewer" in page_b.inner_text("#job-form-error")
        assert_fits(page_a, "360 px, a project's page with comments")

        # The owner removes the reviewer from the page: the reviewer's page says so,
        # and the project answers them 404.
        page_a.get_by_role("button", name=f"Remove {reviewer_email}").click()
        page_b.wait_for_selector("#project-closed:has-text('You were removed from this')")
        assert page_b.is_hidden(".project-body")
        gone = reviewer.get(f"/api/v1/projects/{project_id}")
        assert gone.status_code == 404, gone.text
        page_a.wait_for_selector(member(reviewer_id), state="detached")
        page_a.wait_for_selector("#project-activity li[data-type='project.member.removed']")


def test_a_refused_change_starts_the_pages_mix_over_from_the_servers(
    browser: Browser,  # noqa: F811
    gateway_requiring_accounts: str,  # noqa: F811
) -> None:
    """mix.reset: the page's document starts over from the state it carries. A state the
    server never had is put in front of the page (through Playwright's WebSocket route);
    the page's next edit builds on it, the server refuses it and answers with its own
    state, and the page comes back to that, saying why."""
    url = gateway_requiring_accounts
    email, _ = account(url, "mixer")
    name = f"Reset {uuid.uuid4().hex[:6]}"
    foreign: Doc[Any] = Doc()
    foreign.get("tracks", type=Map)["strings"] = Map({"gain": 0.5, "effects": Map()})
    foreign_state = base64.b64encode(foreign.get_update()).decode()
    routes: list[WebSocketRoute] = []

    def route(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        routes.append(socket)

    with studio_page(browser, url) as studio:
        page = sign_in(studio, email, PASSWORD)
        with api(url, token_of(page)) as owner:
            created = owner.post("/api/v1/projects", json={"name": name})
            assert created.status_code == 201, created.text
        page.route_web_socket(re.compile(r"/api/v1/projects/.*/ws"), route)
        # Keyboard only: to the Projects section, the list refreshed, the project opened,
        # a track added and its fader and mute moved.
        page.get_by_role("link", name="Projects").focus()
        page.keyboard.press("Enter")
        studio.tab_to("#refresh-projects")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#project-list button:has-text('{name}')")
        studio.tab_to("#project-list button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#project-room-status:has-text('Connected')")
        assert page.evaluate("() => document.activeElement.id") == "project-view-title"
        studio.tab_to("#mix-track-id")
        page.keyboard.type("keys")
        page.keyboard.press("Enter")
        keys = '#mix-tracks li[data-track="keys"]'
        page.wait_for_selector(keys)
        assert page.evaluate("() => document.activeElement.name") == "gain"
        page.keyboard.press("ArrowRight")
        assert page.input_value(f"{keys} input[name='gain']") == "1.01"
        studio.tab_to(f"{keys} input[name='mute']")
        page.keyboard.press("Space")
        assert page.is_checked(f"{keys} input[name='mute']")
        assert routes, "the project's socket went through the route"
        reset = {
            "type": "mix.reset",
            "user_id": None,
            "timestamp": "2026-01-01T00:00:00.000+00:00",
            "data": {"seq": 0, "state": foreign_state, "reason": "a test's reason"},
        }
        routes[-1].send(json.dumps(reset))
        page.wait_for_selector('#mix-tracks li[data-track="strings"]')
        assert page.locator('#mix-tracks li[data-track="keys"]').count() == 0
        assert "a test's reason" in page.inner_text("#mix-error")
        # An edit on the foreign state: the server lacks what it builds on, refuses it and
        # resets the page to what it holds.
        page.evaluate(SET_CONTROL, ["strings", "gain", 0.25])
        page.wait_for_selector('#mix-tracks li[data-track="keys"]')
        assert page.locator('#mix-tracks li[data-track="strings"]').count() == 0
        page.wait_for_function(
            "() => !document.getElementById('mix-error').textContent.includes(\"a test's\")"
        )
        assert "was not kept" in page.inner_text("#mix-error")


# What the page's player applies to each stem: {stem: {gain, pan}} (the graph's own nodes).
HEARD = """async () => {
  const { currentProjectPlayer } = await import("/static/js/project-listen.js");
  const player = currentProjectPlayer();
  if (!player) return null;
  return Object.fromEntries(player.stems.map((stem, i) => [stem.name, {
    gain: Math.round(player.voices[i].gain.gain.value * 100) / 100,
    pan: Math.round(player.voices[i].pan.pan.value * 100) / 100,
  }]));
}"""


def test_what_a_member_hears_follows_the_others_faders(
    browser: Browser,  # noqa: F811
    gateway_requiring_accounts: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A separation run in the project: B loads its stems in the shared mixer and makes
    them the mix's tracks; when A moves a stem's fader, mutes or solos one, the gain and
    pan nodes B's page plays through follow."""
    url = gateway_requiring_accounts
    owner_email, _ = account(url, "owner")
    member_email, member_id = account(url, "member")
    name = f"Listen {uuid.uuid4().hex[:6]}"
    with (
        studio_page(browser, url) as a,
        studio_page(browser, url) as b,
        ExitStack() as clients,
    ):
        page_a = sign_in(a, owner_email, PASSWORD)
        page_b = sign_in(b, member_email, PASSWORD)
        owner = clients.enter_context(api(url, token_of(page_a)))
        member = clients.enter_context(api(url, token_of(page_b)))
        project_id = owner.post("/api/v1/projects", json={"name": name}).json()["id"]
        invited = owner.post(
            f"/api/v1/projects/{project_id}/invitations",
            json={"account_id": member_id, "role": "artist"},
        )
        assert invited.status_code == 201, invited.text
        accepted = member.post(f"/api/v1/invitations/{invited.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        uploaded = upload(owner, write_tone(tmp_path / "song.wav", 2.0)).json()
        body = {
            "kind": "separation",
            "input": {"upload_id": uploaded["id"]},
            "params": {"model": "classical"},
            "project_id": project_id,
        }
        submitted = owner.post("/api/v1/jobs", json=body)
        assert submitted.status_code == 202, submitted.text
        job = wait_for_status(owner, submitted.json()["id"], timeout_s=180)
        assert job["status"] == "completed", job

        open_project(page_a, name)
        open_project(page_b, name)
        page_b.wait_for_selector("#project-listen:not([hidden])")
        page_b.click("#listen-load")
        page_b.wait_for_selector("#listen-status:has-text('stems loaded')")
        page_b.click("#listen-use")
        heard = page_b.evaluate(HEARD)
        stems = sorted(heard)
        assert len(stems) >= 2, heard
        assert all(level == {"gain": 1.0, "pan": 0.0} for level in heard.values()), heard
        first, second = stems[0], stems[1]
        page_a.wait_for_selector(f'#mix-tracks li[data-track="{second}"]')

        page_a.evaluate(SET_CONTROL, [first, "gain", 0.5])
        page_a.evaluate(SET_CONTROL, [first, "pan", -0.4])
        page_b.wait_for_function(
            f"async () => JSON.stringify((await ({HEARD})())[{first!r}])"
            " === JSON.stringify({gain: 0.5, pan: -0.4})"
        )
        # Solo the second: every other stem is silent; then mute it: all are.
        page_a.evaluate(SET_CONTROL, [second, "solo", True])
        page_b.wait_for_function(
            f"async () => Object.entries((await ({HEARD})()))"
            f".every(([name, level]) => level.gain === (name === {second!r} ? 1 : 0))"
        )
        page_a.evaluate(SET_CONTROL, [second, "mute", True])
        page_b.wait_for_function(
            f"async () => Object.values((await ({HEARD})())).every((level) => level.gain === 0)"
        )

        # Comments on the waveform: A's comment on a range of the first stem is drawn
        # over B's waveform of it; B drags across the second stem's waveform and
        # comments on that range, which reaches A.
        page_a.fill("#comment-body", "Too loud at the start")
        page_a.fill("#comment-track", first)
        page_a.fill("#comment-start", "0.5")
        page_a.fill("#comment-end", "1.5")
        page_a.click("#comment-form button[type=submit]")
        drawn = f'#mix-tracks li[data-track="{first}"] canvas[data-ranges="0.5-1.5"]'
        page_b.wait_for_selector(drawn)
        wave = page_b.locator(f'#mix-tracks li[data-track="{second}"] canvas.mix-wave')
        box = wave.bounding_box()
        assert box, "the second stem's waveform is shown"
        middle = box["y"] + box["height"] / 2
        page_b.mouse.move(box["x"] + box["width"] * 0.25, middle)
        page_b.mouse.down()
        page_b.mouse.move(box["x"] + box["width"] * 0.75, middle)
        page_b.mouse.up()
        assert page_b.input_value("#comment-track") == second
        start = float(page_b.input_value("#comment-start"))
        end = float(page_b.input_value("#comment-end"))
        assert abs(start - 0.5) <= 0.1 and abs(end - 1.5) <= 0.1, (start, end)
        assert page_b.evaluate("() => document.activeElement.id") == "comment-body"
        page_b.keyboard.type("The tail rings on")
        page_b.click("#comment-form button[type=submit]")
        page_a.wait_for_selector(
            f".comment-group[data-track='{second}'] li:has-text('The tail rings on')"
        )
        # The mixer with its waveforms and the listening controls fits a phone too.
        page_b.set_viewport_size({"width": 360, "height": 740})
        assert_fits(page_b, "360 px, the shared mixer with stems loaded")
        assert unlabelled_controls(page_b) == []

        # A mix job from the shared mix, started on the project's page: the first stem at
        # half gain panned left, the second (soloed, then muted) left out.
        page_a.click(f'#project-jobs li[data-job-id="{job["id"]}"] button[data-role="mix-job"]')
        page_a.wait_for_selector("#project-jobs-note[data-mix-job-id]", state="attached")
        mix_job = page_a.get_attribute("#project-jobs-note", "data-mix-job-id")
        assert mix_job
        mixed = wait_for_status(owner, mix_job, timeout_s=120)
        assert mixed["status"] == "completed", mixed
        first_file = next(
            a["name"] for a in job["artifacts"] if a["name"].rsplit(".", 1)[0] == first
        )
        gains, pans = mixed["params"]["gains_db"], mixed["params"]["pans"]
        assert gains.pop(first_file) == pytest.approx(-6.02, abs=0.01)
        assert pans.pop(first_file) == -0.4
        assert not any(name.startswith(f"{second}.") for name in gains), "muted: left out"
        assert set(gains.values()) == {0.0} and set(pans.values()) == {0.0}, "the others"
