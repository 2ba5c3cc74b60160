"""Webhooks through the real platform: a real effects job's completion reaches a receiver on
loopback once, signed (checked with the Standard Webhooks reference library), its artifact
downloadable from the payload's link; a job that ends while the gateway is stopped is
delivered once the gateway is back (its durable consumer kept its place)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone
from cadenza.devstack.webhook_receiver import WebhookReceiver

from .conftest import upload, wait_for_status

pytestmark = pytest.mark.platform


@pytest.fixture
def hook(api: httpx.Client) -> Iterator[tuple[WebhookReceiver, dict[str, Any]]]:
    """A receiver and a webhook sending it job endings (removed afterwards)."""
    with WebhookReceiver() as receiver:
        made = api.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "event_types": ["job.completed", "job.failed"]},
        )
        assert made.status_code == 201, made.text
        yield receiver, made.json()
        assert api.delete(f"/api/v1/webhooks/{made.json()['id']}").status_code == 204


def _effects_job(api: httpx.Client, tmp_path: Path) -> str:
    upload_id = upload(api, write_tone(tmp_path / "tone.wav", 1.0)).json()["id"]
    job = api.post(
        "/api/v1/jobs",
        json={
            "kind": "effects",
            "input": {"upload_id": upload_id},
            "params": {"chain": [{"type": "gain", "gain_db": -3}]},
        },
    )
    assert job.status_code == 202, job.text
    job_id: str = job.json()["id"]
    return job_id


def _delivered(api: httpx.Client, webhook_id: str, job_id: str) -> dict[str, Any]:
    """This job's delivery in the webhook's log, once it is no longer pending."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params={"limit": 100})
        mine: list[dict[str, Any]] = [d for d in log.json()["items"] if d["job_id"] == job_id]
        if mine and all(d["status"] != "pending" for d in mine):
            (only,) = mine
            return only
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} was not delivered within 60 s")


def test_a_real_jobs_completion_is_delivered_once_signed(
    api: httpx.Client, hook: tuple[WebhookReceiver, dict[str, Any]], tmp_path: Path
) -> None:
    receiver, webhook = hook
    job_id = _effects_job(api, tmp_path)
    assert wait_for_status(api, job_id)["status"] == "completed"
    logged = _delivered(api, webhook["id"], job_id)
    assert (logged["status"], logged["attempts"], logged["event_type"]) == (
        "delivered",
        1,
        "job.completed",
    )
    time.sleep(1.0)  # anything doubled would arrive now
    (only,) = [r for r in receiver.received if r.payload["data"]["job_id"] == job_id]
    assert only.id == logged["id"]
    payload = only.verified_with(webhook["secret"])
    (artifact,) = payload["data"]["artifacts"]
    download = api.get(artifact["url"])
    assert hashlib.sha256(download.content).hexdigest() == artifact["sha256"]


async def _wait_for_fact(nats_url: str, subject: str, job_id: str, timeout_s: float) -> None:
    """Until the bus holds `subject` for `job_id` (read from the stream, from its start)."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        subscription = await js.subscribe(subject, ordered_consumer=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                message = await subscription.next_msg(timeout=1.0)
            except TimeoutError:
                continue
            if job_id.encode() in message.data:
                return
        raise AssertionError(f"no {subject} for job {job_id} within {timeout_s} s")
    finally:
        await connection.close()


def test_a_job_that_ends_while_the_gateway_is_stopped_is_delivered_after(
    api: httpx.Client,
    platform: Platform,
    hook: tuple[WebhookReceiver, dict[str, Any]],
    tmp_path: Path,
) -> None:
    receiver, webhook = hook
    gateway, effects = platform.services["gateway"], platform.services["effects"]
    effects.stop()  # the job waits in its stream while the gateway goes away
    try:
        job_id = _effects_job(api, tmp_path)
        gateway.stop()
        effects.start()
        effects.wait_ready(90)
        asyncio.run(_wait_for_fact(platform.nats.url, "effects.completed", job_id, 60))
        assert not [r for r in receiver.received if job_id.encode() in r.body]
    finally:
        if gateway.process is None:
            gateway.start()
            gateway.wait_ready(90)
        if effects.process is None:
            effects.start()
            effects.wait_ready(90)
    logged = _delivered(api, webhook["id"], job_id)
    assert (logged["status"], logged["event_type"]) == ("delivered", "job.completed")
    time.sleep(1.0)
    (only,) = [r for r in receiver.received if r.payload["data"]["job_id"] == job_id]
    assert only.verified_with(webhook["secret"])["data"]["status"] == "completed"
