"""The webhooks' pure parts: signatures as the Standard Webhooks reference library reads them,
which addresses may be called, which webhook events a fact makes, and the back-off."""

from __future__ import annotations

import ipaddress
import time
import uuid
from dataclasses import replace

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted, EffectsFailed
from cadenza.contracts.jobs import JobCancelled, JobProgress, JobSubmitted, StageDeadLettered
from cadenza.gateway.job_state import new_job, reduce
from cadenza.gateway.webhooks.delivery import backoff_s
from cadenza.gateway.webhooks.events import ending_id, webhook_events
from cadenza.gateway.webhooks.fanout import delivery_id
from cadenza.gateway.webhooks.signing import headers, new_secret
from cadenza.gateway.webhooks.targets import (
    GuardedResolver,
    TargetRefusedError,
    address_allowed,
    split_target,
)


def test_signatures_verify_with_the_reference_library_and_only_for_their_body() -> None:
    secret, other = new_secret(), new_secret()
    body = '{"type":"job.completed","data":{"é":"ü"}}'
    sent = headers("msg_1", int(time.time()), body, [secret])
    assert Webhook(secret).verify(body.encode(), sent) == {
        "type": "job.completed",
        "data": {"é": "ü"},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body.encode(), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("completed", "failed").encode(), sent)
    with pytest.raises(WebhookVerificationError):  # replayed an hour later
        Webhook(secret).verify(
            body.encode(), headers("msg_1", int(time.time()) - 3600, body, [secret])
        )
    both = headers("msg_1", int(time.time()), body, [secret, other])
    Webhook(secret).verify(body.encode(), both)
    Webhook(other).verify(body.encode(), both)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared (carrier-grade NAT)
        ("169.254.169.254", False),  # link-local: cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
    ],
)
def test_only_public_unicast_addresses_may_be_called(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_url_shapes() -> None:
    assert split_target("https://example.com/hook") == ("example.com", 443)
    assert split_target("http://example.com:8080/x?y=1") == ("example.com", 8080)
    assert split_target("http://[2001:db8::1]/") == ("2001:db8::1", 80)
    for url, says in (
        ("gopher://example.com/", "http or https"),
        ("https://a:b@example.com/", "user name or password"),
        ("https:///x", "no host"),
        ("http://example.com:99999/", "not a URL"),
        ("https://example.com/a b", "spaces or control characters"),
        (f"https://{'0' * 64}.example.com/", "not a valid DNS name"),
        ("https://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ):
        with pytest.raises(TargetRefusedError, match=says):
            split_target(url)


async def test_the_resolver_refuses_a_name_with_any_private_address() -> None:
    strict, lenient = GuardedResolver(allow_private=False), GuardedResolver(allow_private=True)
    try:
        with pytest.raises(TargetRefusedError, match=r"localhost, which resolves to 127\.0\.0\.1"):
            await strict.resolve("localhost", 80)
        assert [r["host"] for r in await lenient.resolve("localhost", 80)] == ["127.0.0.1"]
    finally:
        await strict.close()
        await lenient.close()


def _job() -> JobSubmitted:
    job_id = uuid.uuid4()
    return JobSubmitted(
        job_id=job_id,
        owner="o",
        correlation_id=job_id,
        kind="pipeline",
        input={},
        params={},
        stages=["effects", "master"],
    )


def _done(submitted: JobSubmitted, stage: str, last: bool) -> EffectsCompleted:
    ref = ArtifactRef(uri="s3://b/k", media_type="audio/wav", bytes=1, sha256="0" * 64)
    return EffectsCompleted.caused_by(
        submitted, step=stage, stage=stage, outputs={f"{stage}.wav": ref}, job_finished=last
    )


def test_facts_make_the_webhook_events_the_projection_agrees_with() -> None:
    submitted = _job()
    job = new_job(submitted)
    progress = JobProgress.caused_by(submitted, stage="effects", progress=0.25, message="hi")
    job = reduce(job, progress)
    ((pid, payload),) = webhook_events(progress, job)
    assert (pid, payload.type, payload.data.stage_progress) == (
        progress.event_id,
        "job.progress",
        0.25,
    )

    first = _done(submitted, "effects", last=False)
    job = reduce(job, first)
    ((sid, stage_done),) = webhook_events(first, job)
    assert (sid, stage_done.type, stage_done.data.stage) == (
        first.event_id,
        "job.stage_completed",
        "effects",
    )

    last = _done(submitted, "master", last=True)
    job = reduce(job, last)
    ((cid, completed),) = webhook_events(last, job)
    assert cid == ending_id(job.id, "job.completed")
    assert [a.name for a in completed.data.artifacts] == ["effects.wav", "master.wav"]
    assert all("s3://" not in a.url for a in completed.data.artifacts)
    assert completed.data.error is None

    # Read again later (a redelivery, a lagging consumer): the same ids, so no new delivery.
    assert [i for i, _ in webhook_events(last, job)] == [cid]
    assert [i for i, _ in webhook_events(first, job)] == [sid, cid]
    # Facts the projection ignored (the job had already ended) make nothing.
    late_failure = EffectsFailed.caused_by(submitted, stage="master", code="internal", reason="x")
    assert webhook_events(late_failure, reduce(job, late_failure)) == []
    assert webhook_events(JobCancelled.caused_by(submitted), job) == []


def test_a_job_ends_once_whichever_fact_ended_it() -> None:
    submitted = _job()
    job = new_job(submitted)
    dead = StageDeadLettered.caused_by(
        submitted,
        stage="effects",
        code="dead_letter",
        reason="every delivery crashed",
        original_subject="effects.requested",
        dead_letter_seq=1,
    )
    failed = reduce(job, dead)
    ((fid, payload),) = webhook_events(dead, failed)
    assert fid == ending_id(job.id, "job.failed")
    assert payload.data.error is not None and payload.data.error.code == "dead_letter"
    assert payload.timestamp == failed.finished_at
    cancelled = reduce(job, JobCancelled.caused_by(submitted))
    ((xid, _),) = webhook_events(JobCancelled.caused_by(submitted), cancelled)
    assert xid == ending_id(job.id, "job.cancelled") != fid
    # A completion read against a job still running (not yet projected) makes no ending.
    assert webhook_events(_done(submitted, "master", True), replace(job, status="running")) == []


def test_delivery_ids_are_stable_per_webhook_and_event() -> None:
    webhook, event = uuid.uuid4(), uuid.uuid4()
    assert delivery_id(webhook, event) == delivery_id(webhook, event)
    assert delivery_id(webhook, event) != delivery_id(uuid.uuid4(), event)
    assert delivery_id(webhook, event) != delivery_id(webhook, uuid.uuid4())


def test_back_off_doubles_within_its_bounds() -> None:
    for attempts, middle in ((1, 10.0), (2, 20.0), (3, 40.0), (12, 3600.0)):
        waits = [backoff_s(attempts, 10.0, 3600.0) for _ in range(200)]
        assert middle * 0.8 <= min(waits) and max(waits) <= middle * 1.2
