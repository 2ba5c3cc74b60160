"""Webhooks against real NATS JetStream and PostgreSQL, delivered to a receiver on loopback that
checks each signature with the Standard Webhooks reference library: a job's ending delivered
once; retries under one delivery id; nothing lost or doubled across a gateway restart;
private targets refused; other accounts see nothing; every bound enforced."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted, EffectsFailed
from cadenza.contracts.jobs import JobCancelled, JobProgress, JobSubmitted
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.webhook_receiver import WebhookReceiver
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings
from cadenza.gateway.webhooks import repository

from .conftest import bearer, running_gateway, settings, sign_up

OWNER = "local"
SHA = "0" * 64


def _config(database: str, nats: NatsServer, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_mode": "dev",
        "webhook_allow_private_targets": True,
        "webhook_retry_base_s": 0.2,
        "webhook_timeout_s": 2.0,
    }
    values.update(overrides)
    return settings(database, nats.url, tmp / "store", **values)


def _submitted(owner: str = OWNER) -> JobSubmitted:
    job_id = uuid.uuid4()
    return JobSubmitted(
        job_id=job_id,
        owner=owner,
        correlation_id=job_id,
        kind="effects",
        input={"upload_id": str(uuid.uuid4())},
        params={},
        stages=["effects"],
    )


def _completed(submitted: JobSubmitted) -> EffectsCompleted:
    ref = ArtifactRef(uri="file:///x/processed.wav", media_type="audio/wav", bytes=10, sha256=SHA)
    return EffectsCompleted.caused_by(
        submitted, stage="effects", outputs={"processed.wav": ref}, details={"chain": 1}
    )


async def _run_job(services: Services, *then: str) -> JobSubmitted:
    """A job accepted (its row in the projection first, as the API makes it), then its facts
    on the bus as a worker would publish them: progress, then its end. Each is applied to the
    projection as it is published, so the job's state follows them in this order (the
    projection's consumers, reading several streams at once, may not)."""
    submitted = _submitted()
    await services.projection.apply(submitted)
    await services.bus.publish(submitted)
    for what in then:
        if what == "progress":
            event: Any = JobProgress.caused_by(
                submitted, step="half", stage="effects", progress=0.5
            )
        elif what == "completed":
            event = _completed(submitted)
        elif what == "failed":
            event = EffectsFailed.caused_by(
                submitted, stage="effects", code="invalid_input", reason="not audio"
            )
        else:
            event = JobCancelled.caused_by(submitted)
        await services.projection.apply(event)
        await services.bus.publish(event)
    return submitted


async def _subscribe(api: httpx.AsyncClient, url: str, *types: str, **more: Any) -> dict[str, Any]:
    made = await api.post("/api/v1/webhooks", json={"url": url, "event_types": list(types), **more})
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def _log(api: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    page = await api.get(f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def _settled(
    api: httpx.AsyncClient, webhook_id: str, count: int, timeout_s: float = 20.0
) -> list[dict[str, Any]]:
    """The log once `count` deliveries have stopped being pending."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = await _log(api, webhook_id)
        if len(log) >= count and all(d["status"] != "pending" for d in log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries still pending after {timeout_s} s: {log}")
        await asyncio.sleep(0.1)


async def test_a_jobs_completion_is_delivered_once_signed_and_logged(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed", "job.failed", description="ci")
        assert made["secret"].startswith("whsec_")
        assert (await api.get(f"/api/v1/webhooks/{made['id']}")).json().get("secret") is None
        listed = (await api.get("/api/v1/webhooks")).json()["items"]
        assert [w["id"] for w in listed] == [made["id"]]
        assert "secret" not in listed[0]

        job = await _run_job(services, "progress", "completed")
        (only,) = await hook.arrived(1)
        payload = only.verified_with(made["secret"])
        assert payload["type"] == "job.completed"
        assert payload["data"]["job_id"] == str(job.job_id)
        assert payload["data"]["status"] == "completed"
        assert [a["name"] for a in payload["data"]["artifacts"]] == ["processed.wav"]
        assert "file://" not in only.body.decode()  # storage URIs never leave the gateway
        assert only.headers["user-agent"].startswith("Cadenza-Webhooks")

        # The same fact again (a redelivery past JetStream's duplicate window is another
        # copy with the same id) and another fact that says "completed" add nothing.
        await services.bus.publish(_completed(job).model_copy(update={"event_id": uuid.uuid4()}))
        (logged,) = await _settled(api, made["id"], 1)
        await asyncio.sleep(1.0)
        assert len(hook.received) == 1
        assert logged["id"] == only.id
        assert logged["event_type"] == "job.completed"
        assert logged["job_id"] == str(job.job_id)
        assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
            "delivered",
            1,
            200,
        )
        assert logged["delivered_at"] is not None and logged["next_attempt_at"] is None


async def test_each_event_type_goes_to_the_webhooks_that_asked_for_it(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        progress = await _subscribe(api, hook.url, "job.progress")
        endings = await _subscribe(api, hook.url, "job.failed", "job.cancelled")
        failed = await _run_job(services, "progress", "failed")
        cancelled = await _run_job(services, "cancelled")
        # A job cancelled and then (too late) completed stays cancelled: no job.completed.
        await services.projection.apply(_completed(cancelled))
        await services.bus.publish(_completed(cancelled))
        await hook.arrived(3)
        await _settled(api, progress["id"], 1)
        await _settled(api, endings["id"], 2)
        await asyncio.sleep(1.0)
        seen = sorted((r.type, r.payload["data"]["job_id"]) for r in hook.received)
        assert seen == sorted(
            [
                ("job.progress", str(failed.job_id)),
                ("job.failed", str(failed.job_id)),
                ("job.cancelled", str(cancelled.job_id)),
            ]
        )
        (failure,) = hook.of_type("job.failed")
        assert failure.verified_with(endings["secret"])["data"]["error"] == {
            "stage": "effects",
            "code": "invalid_input",
            "reason": "not audio",
        }
        (half,) = hook.of_type("job.progress")
        assert half.verified_with(progress["secret"])["data"]["stage_progress"] == 0.5


async def test_a_failing_receiver_is_retried_under_one_delivery_id(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed")
        hook.failures = 2
        started = time.monotonic()
        await _run_job(services, "completed")
        attempts = await hook.arrived(3)
        took = time.monotonic() - started
        assert len({a.id for a in attempts}) == 1
        assert len({a.body for a in attempts}) == 1
        for attempt in attempts:
            attempt.verified_with(made["secret"])
        # Back-off: 0.2 s then 0.4 s (±20 %) between the three attempts.
        assert took >= 0.45
        (logged,) = await _settled(api, made["id"], 1)
        assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
            "delivered",
            3,
            200,
        )
        assert logged["id"] == attempts[0].id


async def test_attempts_run_out_and_the_log_says_why(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path, webhook_max_attempts=3)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed")
        hook.failures = 10
        await _run_job(services, "completed")
        (logged,) = await _settled(api, made["id"], 1)
        assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
            "failed",
            3,
            500,
        )
        assert logged["last_error"] == "the receiver answered 500: receiver broke"
        assert len(hook.received) == 3


async def test_deliveries_survive_a_gateway_restart_exactly_once_per_event_type(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path, webhook_retry_base_s=0.5)
    async with WebhookReceiver() as hook:
        async with running_gateway(config) as (services, api):
            made = await _subscribe(api, hook.url, "job.completed", "job.failed")
            hook.down = True
            first = await _run_job(services, "completed")
            await hook.arrived(1)  # tried, refused: pending when the gateway stops
            deadline = time.monotonic() + 10
            while not (pending := (await _log(api, made["id"]))[0])["last_error"]:
                assert time.monotonic() < deadline, pending
                await asyncio.sleep(0.05)
            assert pending["status"] == "pending"
            assert pending["last_error"] == "the receiver answered 503: down for maintenance"
            second = _submitted()
            await services.projection.apply(second)
        # While no gateway runs, the second job fails: the fact waits in JetStream.
        await _publish_without_gateway(fresh_nats, second)
        hook.down = False
        async with running_gateway(config) as (services, api):
            log = await _settled(api, made["id"], 2, timeout_s=30)
            await asyncio.sleep(1.5)  # anything doubled would arrive now
        delivered = [r for r in hook.received if r.headers.get("webhook-id")]
        by_event: dict[tuple[str, str], set[str]] = {}
        for request in delivered:
            request.verified_with(made["secret"])
            key = (request.type, request.payload["data"]["job_id"])
            by_event.setdefault(key, set()).add(request.id)
        assert set(by_event) == {
            ("job.completed", str(first.job_id)),
            ("job.failed", str(second.job_id)),
        }
        assert all(len(ids) == 1 for ids in by_event.values())  # retries reuse one id
        succeeded = {d["id"] for d in log if d["status"] == "delivered"}
        assert succeeded == {next(iter(ids)) for ids in by_event.values()}
        # The completion was refused (503) before the restart and answered once after it.
        assert len(hook.of_type("job.failed")) == 1
        assert len(hook.of_type("job.completed")) >= 2


async def _publish_without_gateway(nats_server: NatsServer, submitted: JobSubmitted) -> None:
    """A job's failure published while no gateway runs (as a worker would)."""
    import nats

    failed = EffectsFailed.caused_by(
        submitted, stage="effects", code="internal", reason="the worker broke"
    )
    connection = await nats.connect(nats_server.url)
    try:
        js = connection.jetstream()
        await js.publish(
            failed.subject,
            failed.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(failed.event_id)},
        )
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1: private, loopback"),
        ("http://localhost/hook", "localhost, which resolves to"),
        ("http://[::1]/hook", "::1: private"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://[::ffff:192.168.0.1]/", "::ffff:192.168.0.1"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://2130706433/", "127.0.0.1"),
        ("ftp://example.com/", "must be an http or https URL"),
        ("http://user:pw@example.com/", "must not carry a user name or password"),
        ("http:///nohost", "has no host"),
        ("http://no-such-host.invalid/", "could not be resolved"),
        ("https://" + "0" * 300 + "/", "not a valid DNS name"),
    ],
)
async def test_private_and_malformed_targets_are_refused(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path, url: str, says: str
) -> None:
    config = _config(fresh_database, nats_server, tmp_path, webhook_allow_private_targets=False)
    async with running_gateway(config) as (_, api):
        refused = await api.post(
            "/api/v1/webhooks", json={"url": url, "event_types": ["job.completed"]}
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert says in problem["detail"]
        assert [e["field"] for e in problem["errors"]] == ["url"]
        assert (await api.get("/api/v1/webhooks")).json()["items"] == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_target_that_turns_private_is_not_called(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path, host: str
) -> None:
    """Allowed when made, refused when called: here the operator's setting changed; a name
    that resolves to a private address by then (DNS rebinding) meets the same check, made by
    the resolver of the connection itself."""
    async with WebhookReceiver() as hook:
        async with running_gateway(_config(fresh_database, fresh_nats, tmp_path)) as (_, api):
            url = hook.url.replace("127.0.0.1", host)
            made = await _subscribe(api, url, "job.completed")
        strict = _config(
            fresh_database,
            fresh_nats,
            tmp_path,
            webhook_allow_private_targets=False,
            webhook_max_attempts=1,
        )
        async with running_gateway(strict) as (services, api):
            await _run_job(services, "completed")
            (logged,) = await _settled(api, made["id"], 1)
        assert logged["status"] == "failed"
        assert logged["last_error"].startswith(f"not sent: the url names host {host}, which")
        assert "resolves to 127.0.0.1: private, loopback" in logged["last_error"]
        assert hook.received == []


async def test_another_account_cannot_see_or_touch_a_webhook(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, nats_server, tmp_path, auth_mode="required")
    async with WebhookReceiver() as hook, running_gateway(config) as (_, api):
        alice = bearer((await sign_up(api, "alice@example.com"))["access_token"])
        mallory = bearer((await sign_up(api, "mallory@example.com"))["access_token"])
        made = await api.post(
            "/api/v1/webhooks",
            json={"url": hook.url, "event_types": ["job.completed"]},
            headers=alice,
        )
        assert made.status_code == 201, made.text
        assert made.headers["Location"] == f"/api/v1/webhooks/{made.json()['id']}"
        assert made.headers["Cache-Control"] == "no-store"
        hook_path = f"/api/v1/webhooks/{made.json()['id']}"
        for method, path in (
            ("GET", hook_path),
            ("DELETE", hook_path),
            ("GET", f"{hook_path}/deliveries"),
            ("POST", f"{hook_path}/rotate-secret"),
        ):
            answer = await api.request(method, path, headers=mallory)
            assert answer.status_code == 404, (method, path, answer.text)
        assert (await api.get("/api/v1/webhooks", headers=mallory)).json()["items"] == []
        assert (await api.get(hook_path, headers=alice)).status_code == 200
        assert (await api.get("/api/v1/webhooks")).status_code == 401
        # Alice's job filter may name only her own jobs.
        foreign = await api.post(
            "/api/v1/webhooks",
            json={"url": hook.url, "event_types": ["job.failed"], "job_id": str(uuid.uuid4())},
            headers=mallory,
        )
        assert foreign.status_code == 422
        assert foreign.json()["errors"][0]["field"] == "job_id"
        assert (await api.delete(hook_path, headers=alice)).status_code == 204
        assert (await api.get(hook_path, headers=alice)).status_code == 404


async def test_a_reviewer_may_read_but_not_subscribe(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, nats_server, tmp_path, dev_role="reviewer")
    async with running_gateway(config) as (_, api):
        refused = await api.post(
            "/api/v1/webhooks", json={"url": "http://127.0.0.1/", "event_types": ["job.failed"]}
        )
        assert refused.status_code == 403
        assert (await api.get("/api/v1/webhooks")).status_code == 200


async def test_requests_past_the_bounds_are_refused(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, nats_server, tmp_path, webhook_max_per_account=2)
    async with running_gateway(config) as (_, api):
        url = "http://127.0.0.1:9/hook"
        for body, field in (
            ({"url": url + "x" * 2048, "event_types": ["job.completed"]}, "url"),
            ({"url": url, "event_types": []}, "event_types"),
            ({"url": url, "event_types": ["job.completed", "job.completed"]}, "event_types"),
            ({"url": url, "event_types": ["job.exploded"]}, "event_types.0"),
            ({"url": url, "event_types": ["job.failed"], "description": "d" * 501}, "description"),
            ({"url": url, "event_types": ["job.failed"], "secret": "mine"}, "secret"),
        ):
            refused = await api.post("/api/v1/webhooks", json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert field in [e["field"] for e in refused.json()["errors"]], refused.text
        made = [(await _subscribe(api, url, "job.completed"))["id"] for _ in range(2)]
        first = await api.get("/api/v1/webhooks", params={"limit": 1})
        assert [w["id"] for w in first.json()["items"]] == made[:1]
        assert first.headers["Link"] == f'<{first.json()["next"]}>; rel="next"'
        second = (await api.get(first.json()["next"])).json()
        assert ([w["id"] for w in second["items"]], second["next"]) == (made[1:], None)
        third = await api.post("/api/v1/webhooks", json={"url": url, "event_types": ["job.failed"]})
        assert third.status_code == 403
        assert "you have 2 webhooks, the most one account may have" in third.json()["detail"]
        for path in ("/api/v1/webhooks", f"/api/v1/webhooks/{made[0]}/deliveries"):
            assert (await api.get(path, params={"limit": 101})).status_code == 422
            bad_cursor = await api.get(path, params={"cursor": "x"})
            assert bad_cursor.status_code == 422
            assert bad_cursor.json()["errors"][0]["field"] == "cursor"


async def test_delivery_bounds_timeout_answer_size_redirects_and_concurrency(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(
        fresh_database,
        fresh_nats,
        tmp_path,
        webhook_max_attempts=1,
        webhook_timeout_s=0.5,
        webhook_max_concurrent=2,
    )
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed")
        # Four at once to a slow receiver: at most 2 in flight.
        hook.delay_s = 0.3
        for _ in range(4):
            await _run_job(services, "completed")
        log = await _settled(api, made["id"], 4, timeout_s=30)
        assert {d["status"] for d in log} == {"delivered"}
        assert hook.most_in_flight == 2

        # Slower than an attempt may take: given up after the timeout.
        hook.delay_s = 1.0
        await _run_job(services, "completed")
        log = await _settled(api, made["id"], 5)
        assert (log[0]["status"], log[0]["last_error"]) == ("failed", "no answer within 0.5 s")

        # A huge answer: only its first bytes are read, the delivery fails at once.
        hook.delay_s = 0.0
        hook.answer_bytes = 50 * 1024 * 1024
        started = time.monotonic()
        await _run_job(services, "completed")
        log = await _settled(api, made["id"], 6)
        assert time.monotonic() - started < 10
        newest = log[0]
        assert newest["last_status_code"] == 500
        assert newest["last_error"] == "the receiver answered 500: " + "x" * 200

        # A redirect is not followed.
        hook.answer_bytes = 0
        hook.redirect = True
        before = len(hook.received)
        await _run_job(services, "completed")
        log = await _settled(api, made["id"], 7)
        assert log[0]["last_status_code"] == 302
        assert log[0]["last_error"].startswith("the receiver answered 302 (redirects are not")
        await asyncio.sleep(0.5)
        assert len(hook.received) == before + 1  # the redirect's target was never called


async def test_a_rotated_secret_signs_beside_the_old_one_for_a_while(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed")
        rotated = await api.post(f"/api/v1/webhooks/{made['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["Cache-Control"] == "no-store"
        new_secret = rotated.json()["secret"]
        assert new_secret != made["secret"] and new_secret.startswith("whsec_")
        shown = (await api.get(f"/api/v1/webhooks/{made['id']}")).json()
        assert shown["previous_secret_expires_at"] is not None and "secret" not in shown
        await _run_job(services, "completed")
        (only,) = await hook.arrived(1)
        assert len(only.headers["webhook-signature"].split(" ")) == 2
        only.verified_with(new_secret)
        only.verified_with(made["secret"])


async def test_the_openapi_document_declares_the_webhooks(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    async with running_gateway(_config(fresh_database, nats_server, tmp_path)) as (_, api):
        document = (await api.get("/openapi.json")).json()
    assert set(document["webhooks"]) == {
        "job.progress",
        "job.stage_completed",
        "job.completed",
        "job.failed",
        "job.cancelled",
    }
    operation = document["webhooks"]["job.completed"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WebhookEvent"}
    assert {p["name"] for p in operation["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert set(operation["responses"]) == {"200", "default"}
    assert "content" not in operation["responses"]["200"]
    event = document["components"]["schemas"]["WebhookEvent"]
    assert set(event["required"]) == {"type", "timestamp", "data"}
    create = document["components"]["schemas"]["WebhookCreate"]
    assert create["properties"]["url"]["maxLength"] == 2048


async def test_two_replicas_share_the_work_and_send_each_delivery_once(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with (
        WebhookReceiver() as hook,
        running_gateway(config) as (first, api),
        running_gateway(config) as (second, _),
    ):
        made = await _subscribe(api, hook.url, "job.completed")
        jobs = [await _run_job(services, "completed") for services in (first, second) * 4]
        log = await _settled(api, made["id"], len(jobs), timeout_s=30)
        await asyncio.sleep(1.5)  # anything doubled would arrive now
        assert {d["status"] for d in log} == {"delivered"}
        assert sorted(r.payload["data"]["job_id"] for r in hook.received) == sorted(
            str(j.job_id) for j in jobs
        )
        assert len({r.id for r in hook.received}) == len(jobs)


async def test_progress_waiting_for_a_receiver_that_is_down_is_bounded_endings_are_not(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(
        fresh_database,
        fresh_nats,
        tmp_path,
        webhook_max_pending_progress=2,
        webhook_retry_base_s=60,
    )
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.progress", "job.completed")
        hook.down = True
        submitted = _submitted()
        await services.projection.apply(submitted)
        for step in range(6):
            progress = JobProgress.caused_by(
                submitted, step=str(step), stage="effects", progress=(step + 1) / 10
            )
            await services.projection.apply(progress)
            await services.bus.publish(progress)
        await services.projection.apply(_completed(submitted))
        await services.bus.publish(_completed(submitted))
        deadline = time.monotonic() + 20
        while True:
            log = await _log(api, made["id"])
            if len(log) >= 3 and any(d["event_type"] == "job.completed" for d in log):
                break
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        log = await _log(api, made["id"])
        kinds = sorted(d["event_type"] for d in log)
        assert kinds == ["job.completed", "job.progress", "job.progress"]


async def test_finished_deliveries_leave_the_log_after_its_retention(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    config = _config(fresh_database, fresh_nats, tmp_path)
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        made = await _subscribe(api, hook.url, "job.completed")
        for _ in range(2):
            await _run_job(services, "completed")
        old, young = await _settled(api, made["id"], 2)
        await services.pool.execute(
            "UPDATE webhook_deliveries SET finished_at = now() - interval '8 days' WHERE id = $1",
            uuid.UUID(old["id"]),
        )
        removed = await repository.forget_finished(services.pool, config.webhook_log_retention_s)
        assert removed == 1
        assert [d["id"] for d in await _log(api, made["id"])] == [young["id"]]


async def test_a_disabled_accounts_webhooks_send_nothing(
    fresh_database: str, fresh_nats: NatsServer, tmp_path: Path
) -> None:
    import asyncpg

    config = _config(fresh_database, fresh_nats, tmp_path, auth_mode="required")
    async with WebhookReceiver() as hook, running_gateway(config) as (services, api):
        pair = await sign_up(api, "alice@example.com")
        owner = pair["user"]["id"]
        made = await api.post(
            "/api/v1/webhooks",
            json={"url": hook.url, "event_types": ["job.completed"]},
            headers=bearer(pair["access_token"]),
        )
        assert made.status_code == 201, made.text

        async def finish_a_job() -> None:
            submitted = _submitted(owner)
            await services.projection.apply(submitted)
            await services.bus.publish(submitted)
            completed = _completed(submitted)
            await services.projection.apply(completed)
            await services.bus.publish(completed)

        async def disable(flag: bool) -> None:
            conn = await asyncpg.connect(config.database_url)
            try:
                await conn.execute("UPDATE users SET disabled = $2 WHERE id = $1", owner, flag)
            finally:
                await conn.close()

        # A receiver that fails keeps a delivery pending (retried every ~0.2 s)…
        hook.failures = 1000
        await finish_a_job()
        await hook.arrived(2)
        # …until the account is disabled: no more attempts, and new facts queue nothing.
        await disable(True)
        await asyncio.sleep(0.5)  # an attempt in flight when it was disabled ends
        tried = len(hook.received)
        await finish_a_job()
        await asyncio.sleep(2.0)
        assert len(hook.received) == tried
        async with services.pool.acquire() as conn:
            queued = await conn.fetchval("SELECT count(*) FROM webhook_deliveries")
        assert queued == 1

        # Enabled again, what waited is sent (facts from the disabled time stay unsent).
        hook.failures = 0
        await disable(False)
        await hook.arrived(tried + 1)
        finished = await _settled_with(services, made.json()["id"])
        assert finished == ["delivered"]


async def _settled_with(services: Services, webhook_id: str) -> list[str]:
    deadline = time.monotonic() + 20
    while True:
        async with services.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT status FROM webhook_deliveries WHERE subscription_id = $1",
                uuid.UUID(webhook_id),
            )
        statuses = [r["status"] for r in rows]
        if statuses and "pending" not in statuses:
            return statuses
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.1)
