"""Class 6: fairness and cancellation. Two heavy jobs of one account take one of the effects
worker's slots, not both: another account's trivial job finishes in seconds meanwhile. A
cancelled job's CPU stops within 2 s, in the middle of a long chain of plugins."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from cadenza.devstack.abuse import (
    Account,
    cpu_seconds,
    effects_job,
    finished_job,
    upload_file,
)
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

HEAVY = [{"type": "pitch_shift", "semitones": 3}] * 12 + [{"type": "phaser"}] * 8


def test_a_heavy_account_does_not_delay_another_and_cancelling_stops_the_work(
    platform: Platform,
    api: httpx.Client,
    attacker: Account,
    victim: Account,
    tone_file: Path,
    tmp_path: Path,
) -> None:
    long = write_noise(tmp_path / "long.wav", 60.0)
    source = upload_file(api, attacker, long).json()
    heavy = [effects_job(api, attacker, source["id"], HEAVY, format="flac") for _ in range(2)]
    assert [r.status_code for r in heavy] == [202, 202], [r.text for r in heavy]
    time.sleep(1.0)  # the first is running, the second waits for the attacker's turn
    small = upload_file(api, victim, tone_file).json()
    started = time.monotonic()
    quick = effects_job(api, victim, small["id"], [{"type": "gain", "gain_db": -3}])
    done = finished_job(api, victim, quick.json()["id"], timeout_s=60)
    took = time.monotonic() - started
    assert done["status"] == "completed", done
    assert took < 10, f"the other account's trivial job took {took:.1f} s"
    states = [
        api.get(f"/api/v1/jobs/{r.json()['id']}", headers=attacker.headers).json() for r in heavy
    ]
    assert any(s["status"] in ("queued", "running") for s in states), "the heavy jobs still run"

    # Cancel both; within 2 s the effects worker stops spending CPU on them.
    effects = platform.services["effects"].pid
    for response in heavy:
        cancel = api.post(f"/api/v1/jobs/{response.json()['id']}/cancel", headers=attacker.headers)
        assert cancel.status_code == 202, cancel.text
    cancelled_at = time.monotonic()
    time.sleep(2.0)
    before = cpu_seconds(effects)
    time.sleep(1.0)
    busy = cpu_seconds(effects) - before
    assert busy < 0.2, f"the worker still used {busy:.2f} s of CPU a second, 2 s after cancelling"
    for response in heavy:
        job = finished_job(api, attacker, response.json()["id"], timeout_s=5)
        assert job["status"] == "cancelled", job
    assert time.monotonic() - cancelled_at < 10
