"""Class 5: catalog memory and time. A few KB of FLAC sent as a song, a 15 MB MIDI of
running-status events, the same sent by a read-only reviewer to /songs/match: each is
refused at the gateway's file check before the catalog builds anything, the catalog worker
(with its analysis processes) stays far below its container's memory, and a real match
still works."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import httpx

from cadenza.devstack.abuse import Account, MemoryWatch, new_account
from cadenza.devstack.hostile import wide_flac_bomb
from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform

MB = 1 << 20
CACHE = Path(os.environ.get("CADENZA_TEST_CACHE", Path.home() / ".cache" / "cadenza-tests"))


def running_status_flood(notes: int) -> bytes:
    events = b"\x00\x90\x3c\x5a" + b"\x01\x3c\x00\x00\x3c\x5a" * notes + b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 1, 0xE0])
    return header + b"MTrk" + len(events).to_bytes(4, "big") + events


def make_reviewer(platform: Platform, account: Account) -> None:
    async def demote() -> None:
        conn = await asyncpg.connect(platform.postgres.dsn)
        try:
            await conn.execute(
                "UPDATE users SET role = 'reviewer' WHERE id = $1::uuid", account.user_id
            )
        finally:
            await conn.close()

    asyncio.run(demote())


def test_catalog_bombs_are_refused_before_the_catalog_builds_anything(
    platform: Platform, api: httpx.Client, attacker: Account
) -> None:
    flood = running_status_flood(2_500_000)  # 15 MB, 5 million events
    assert len(flood) > 14 * MB
    bomb = wide_flac_bomb(CACHE / "hostile")
    catalog = MemoryWatch(platform.services["catalog"].pid, children=True)
    with catalog.watching():
        as_audio = api.post(
            "/api/v1/songs",
            params={"wait": "30"},
            files={"audio": ("bomb.flac", bomb, "audio/flac")},
            data={"title": "bomb"},
            headers=attacker.headers,
        )
        as_midi = api.post(
            "/api/v1/songs",
            params={"wait": "30"},
            files={"midi": ("flood.mid", flood, "audio/midi")},
            data={"title": "flood"},
            headers=attacker.headers,
        )
        reviewer = new_account(api, "reviewer")
        make_reviewer(platform, reviewer)
        match_bomb = api.post(
            "/api/v1/songs/match", files={"file": ("b.flac", bomb)}, headers=reviewer.headers
        )
        match_flood = api.post(
            "/api/v1/songs/match", files={"file": ("f.mid", flood)}, headers=reviewer.headers
        )
        # The reviewer may match a real file (a read), and gets an answer.
        real = api.post(
            "/api/v1/songs/match",
            files={"file": ("tune.mid", song_midi(seed=77))},
            headers=reviewer.headers,
        )
    assert as_audio.status_code == 415 and "decompression bomb" in as_audio.text
    assert as_midi.status_code == 422 and "250,000 events" in as_midi.text
    assert match_bomb.status_code == 415 and "decompression bomb" in match_bomb.text
    assert match_flood.status_code == 422 and "250,000 events" in match_flood.text
    assert real.status_code == 200, real.text
    assert real.json()["verdict"] in ("new", "similar", "near_duplicate", "exact")
    assert catalog.growth < 256 * MB, f"the catalog grew by {catalog.growth / MB:.0f} MB"
    assert catalog.peak < 2 << 30
