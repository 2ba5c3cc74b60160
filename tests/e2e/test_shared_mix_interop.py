"""The shared mix between the gateway (pycrdt) and the studio (the vendored yjs.js, run in
headless Chromium under the studio's CSP): an update made on either side reads back the same
on the other, a late joiner's sync brings the page up to the server's state, and concurrent
edits made on both sides converge to one mix everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, Route, async_playwright
from pycrdt import Doc, Map

from cadenza.devstack.nats import NatsServer
from cadenza.gateway import shared_mix
from cadenza.gateway.settings import Settings

from .studio_page import chromium_path
from .test_studio_s3_downloads import serving

# In the page: yjs from the studio's own files, one Y.Doc, and helpers that move updates
# and state vectors in and out as arrays of byte values.
START = """async () => {
  const Y = await import("/static/js/yjs.js");
  const sent = [];
  const mix = {
    Y, sent,
    // A new replica (a new Yjs client): how a page starts over after a refused update.
    reset: () => {
      mix.doc = new Y.Doc();
      sent.length = 0;
      mix.doc.on("update", (update, origin) => { if (origin !== "server") sent.push(update); });
      return mix.doc.clientID;
    },
    vector: () => Array.from(Y.encodeStateVector(mix.doc)),
    apply: (bytes) => Y.applyUpdate(mix.doc, Uint8Array.from(bytes), "server"),
    json: () => mix.doc.getMap("tracks").toJSON(),
    // What the page would send since the last call: its own updates, merged.
    flush: () => Array.from(Y.mergeUpdates(sent.splice(0))),
  };
  window.mix = mix;
  return mix.reset();
}"""

# The page's first edits: a control changed on the server's track (an integer, as a fader
# at 1 sends it), a new track with its effects as nested maps, in one transaction.
EDIT_IN_PAGE = """() => {
  const { Y, doc } = window.mix;
  doc.transact(() => {
    const tracks = doc.getMap("tracks");
    tracks.get("vocals").set("gain", 1);
    tracks.get("vocals").get("effects").set("delay.feedback", 0.35);
    const drums = new Y.Map();
    const effects = new Y.Map();
    effects.set("compressor.threshold_db", -18.5);
    drums.set("pan", 0.25);
    drums.set("mute", true);
    drums.set("effects", effects);
    tracks.set("drums", drums);
  });
}"""

CONCURRENT_IN_PAGE = """() => {
  const tracks = window.mix.doc.getMap("tracks");
  tracks.get("vocals").set("gain", 0.9);
  tracks.get("drums").set("pan", -0.5);
  tracks.get("drums").get("effects").set("compressor.ratio", 4);
}"""


def filled(page_json: dict[str, Any]) -> dict[str, Any]:
    """The page's toJSON() with unset controls at their defaults, as as_json reads them."""
    return {
        track: {**shared_mix.DEFAULTS, "effects": {}, **controls}
        for track, controls in page_json.items()
    }


def resync(state: bytes) -> bytes:
    """Sync step 2 for a replica that has nothing."""
    return shared_mix.diff(state, shared_mix.state_vector(shared_mix.new_state()))


def clocks(vector: bytes | list[int]) -> dict[int, int]:
    """A Yjs state vector (varint count, then client and clock pairs) as client → clock."""
    data = iter(bytes(vector))

    def varint() -> int:
        number = shift = 0
        while (byte := next(data)) >= 0x80:
            number |= (byte & 0x7F) << shift
            shift += 7
        return number | byte << shift

    return {varint(): varint() for _ in range(varint())}


async def evaluate(page: Page, script: str, argument: Any = None) -> Any:
    return await page.evaluate(script, argument)


async def test_pycrdt_and_the_pages_yjs_exchange_and_converge_on_the_shared_mix(
    fresh_database: str, nats_server: NatsServer, tmp_path: Any
) -> None:
    config = Settings(
        database_url=fresh_database,
        nats_url=nats_server.url,
        storage_dir=tmp_path / "store",
        jwt_secret="shared-mix-" + "x" * 40,
        log_format="text",
    )
    # A member's replica on the server side, and what the server keeps.
    member: Doc[Any] = Doc(client_id=7)
    before = member.get_state()
    member.get("tracks", type=Map)["vocals"] = Map(
        {"gain": 0.5, "pan": -0.3, "mute": False, "solo": True,
         "effects": Map({"reverb.wet": 0.25})}
    )  # fmt: skip
    state = shared_mix.apply_update(shared_mix.new_state(), member.get_update(before))

    async with serving(config) as (_, base_url), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path())
        page = await browser.new_page()
        problems: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

        async def only_the_gateway(route: Route) -> None:
            if route.request.url.startswith(base_url + "/"):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await page.route("**/*", only_the_gateway)
        await page.goto(base_url + "/")  # the studio's page, under its CSP
        await page.wait_for_selector("#sign-in", state="visible")
        page_client = await evaluate(page, START)
        assert isinstance(page_client, int)

        # pycrdt → page: a late joiner's sync (its state vector, the server's diff).
        step_2 = shared_mix.diff(state, bytes(await evaluate(page, "() => window.mix.vector()")))
        await evaluate(page, "(bytes) => window.mix.apply(bytes)", list(step_2))
        assert await evaluate(page, "() => window.mix.json()") == {
            "vocals": {"gain": 0.5, "pan": -0.3, "mute": False, "solo": True,
                       "effects": {"reverb.wet": 0.25}},
        }  # fmt: skip
        assert clocks(await evaluate(page, "() => window.mix.vector()")) == clocks(
            shared_mix.state_vector(state)
        )

        # page → pycrdt: checked by apply_update, read with as_json.
        await evaluate(page, EDIT_IN_PAGE)
        from_page = bytes(await evaluate(page, "() => window.mix.flush()"))
        state = shared_mix.apply_update(state, from_page)
        assert shared_mix.as_json(state) == {
            "vocals": {"gain": 1.0, "pan": -0.3, "mute": False, "solo": True,
                       "effects": {"reverb.wet": 0.25, "delay.feedback": 0.35}},
            "drums": {"gain": 1.0, "pan": 0.25, "mute": True, "solo": False,
                      "effects": {"compressor.threshold_db": -18.5}},
        }  # fmt: skip
        member.apply_update(from_page)

        # A page update out of bounds is refused, and the state stays as it was.
        kept = state
        await evaluate(page, """() => window.mix.doc.getMap("tracks").get("drums")
                                        .set("gain", 2)""")  # fmt: skip
        with pytest.raises(shared_mix.MixUpdateRejectedError, match="gain of track 'drums'"):
            shared_mix.apply_update(state, bytes(await evaluate(page, "() => window.mix.flush()")))
        assert state == kept
        # The page's replica now holds a change the server never will, and every later
        # update of its client builds on it: the page starts over from the server's state.
        await evaluate(page, "() => window.mix.reset()")
        await evaluate(page, "(bytes) => window.mix.apply(bytes)", list(resync(state)))
        assert filled(await evaluate(page, "() => window.mix.json()")) == shared_mix.as_json(state)
        await evaluate(page, """() => window.mix.doc.getMap("tracks").get("drums")
                                        .set("gain", 1.25)""")  # fmt: skip
        state = shared_mix.apply_update(
            state, bytes(await evaluate(page, "() => window.mix.flush()"))
        )
        member.apply_update(shared_mix.diff(state, member.get_state()))

        # Concurrent edits, the same control (vocals' gain) and different ones, on both sides;
        # the server takes the member's first, the page gets it after its own.
        seen = member.get_state()
        tracks = member.get("tracks", type=Map)
        tracks["vocals"]["gain"] = 0.2
        tracks["vocals"]["mute"] = True
        tracks["drums"]["effects"]["compressor.threshold_db"] = -24.0
        from_member = member.get_update(seen)
        await evaluate(page, CONCURRENT_IN_PAGE)
        from_page = bytes(await evaluate(page, "() => window.mix.flush()"))
        state = shared_mix.apply_update(shared_mix.apply_update(state, from_member), from_page)
        await evaluate(page, "(bytes) => window.mix.apply(bytes)", list(from_member))
        member.apply_update(from_page)

        server_mix = shared_mix.as_json(state)
        page_mix = filled(await evaluate(page, "() => window.mix.json()"))
        member_mix = shared_mix.as_json(member.get_update())
        assert page_mix == server_mix == member_mix
        assert server_mix["vocals"]["gain"] in (0.2, 0.9)  # one of the two, everywhere
        assert server_mix["vocals"]["mute"] is True
        assert server_mix["drums"]["pan"] == -0.5
        assert server_mix["drums"]["gain"] == 1.25
        assert server_mix["drums"]["effects"] == {
            "compressor.threshold_db": -24.0, "compressor.ratio": 4.0
        }  # fmt: skip
        page_vector = clocks(await evaluate(page, "() => window.mix.vector()"))
        assert page_vector == clocks(shared_mix.state_vector(state)) == clocks(member.get_state())
        await browser.close()

    # No script error, no CSP violation (eval, a worker, a connection elsewhere), no request
    # off the gateway.
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []
    assert elsewhere == []
