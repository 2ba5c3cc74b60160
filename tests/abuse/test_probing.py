"""Class 2: probing starves nobody. Decode bombs (tiny FLAC files of hours of silence, with
or without a declared length, up to 655 kHz and 8 channels) are decoded in the gateway's
bounded child processes, not its request threads: with 8 of them in flight from four
accounts, another account's list and upload requests keep a p99 under a second, /health
stays honest, every bomb is refused with a reason, and the gateway does not grow."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx

from cadenza.devstack.abuse import Account, MemoryWatch, busy_account, new_account
from cadenza.devstack.hostile import corpus, wide_flac_bomb
from cadenza.devstack.platform import Platform

MB = 1 << 20
CACHE = Path(os.environ.get("CADENZA_TEST_CACHE", Path.home() / ".cache" / "cadenza-tests"))


def _bombs() -> list[tuple[str, bytes]]:
    cache = CACHE / "hostile"
    by_case = {bad.case: bad for bad in corpus(cache)}
    flat = by_case["flac bomb without a declared length"].make(cache)
    declared = by_case["flac bomb: 2 hours of silence in 180 KB"].make(cache)
    wide = wide_flac_bomb(cache)
    return [("wide.flac", wide), ("flat.flac", flat), ("declared.flac", declared)]


def test_decode_bombs_in_flight_do_not_starve_other_accounts(
    platform: Platform, api: httpx.Client, victim: Account, tone_file: Path
) -> None:
    bombs = _bombs()
    attackers = [new_account(api, f"bomber{i}") for i in range(4)]
    tone = tone_file.read_bytes()
    gateway = MemoryWatch(platform.services["gateway"].pid)
    others = busy_account(platform.url, victim, tone)
    answers: list[tuple[int, str]] = []

    def bomb(account: Account, name: str, data: bytes) -> None:
        with httpx.Client(base_url=platform.url, timeout=120) as client:
            for _ in range(3):
                response = client.post(
                    "/api/v1/uploads", files={"file": (name, data)}, headers=account.headers
                )
                answers.append((response.status_code, response.json()["detail"]))

    with gateway.watching(), others.serving():
        threads = [
            threading.Thread(target=bomb, args=(account, *bombs[(i + j) % len(bombs)]))
            for i, account in enumerate(attackers)
            for j in range(2)  # two in flight per account: 8 at once
        ]
        for thread in threads:
            thread.start()
        health = [httpx.get(platform.url + "/health/ready", timeout=5).status_code]
        for thread in threads:
            thread.join()
        health.append(httpx.get(platform.url + "/health/ready", timeout=5).status_code)
    assert len(answers) == 24
    refused = [detail for status, detail in answers if status == 415]
    busy = [detail for status, detail in answers if status == 429]
    assert len(refused) + len(busy) == 24, answers
    assert refused and all("was refused" in d for d in refused)
    assert all("files being checked" in d or "file check" in d for d in busy), busy
    assert health == [200, 200]
    assert not others.failures, others.failures
    assert others.percentile(99) < 1.0, f"victim p99 {others.percentile(99):.2f} s"
    assert gateway.growth < 64 * MB, f"the gateway grew by {gateway.growth / MB:.0f} MB"
