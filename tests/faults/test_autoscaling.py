"""Autoscaling shown: KEDA's nats-jetstream rule, read from k8s/, applied to the real lag.

The rule's parts run in the default suite (against a real nats-server's monitoring endpoint
and the manifests as kubectl renders them). The burst, with real worker processes started
and stopped by the rule, is slow: `make autoscale` runs it (marked deployed), with every
period divided by AUTOSCALE_TIME_SCALE (20 here unless set; `make autoscale` itself records
the real-time run in docs/autoscaling.md)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import nats
import pytest
import yaml
from nats.js.api import ConsumerConfig

from cadenza.devstack.autoscaler import (
    EMBEDDED_ACCOUNT,
    Clock,
    ReplicaPool,
    completed_facts,
    run_burst,
    submit_job,
    upload_audio,
)
from cadenza.devstack.keda import (
    HPA_SYNC_S,
    Autoscaler,
    ScaledObject,
    Trigger,
    consumer_lag,
    jsz,
    render,
    scaled_objects,
)
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_noise

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "k8s" / "base"


def _rule(**changes: object) -> ScaledObject:
    fields: dict[str, object] = {
        "name": "separation",
        "deployment": "separation",
        "min_replicas": 0,
        "max_replicas": 4,
        "polling_interval_s": 10.0,
        "cooldown_period_s": 600.0,
        "triggers": (Trigger("$G", "SEPARATION", "separation", 2, 0),),
        "termination_grace_s": 60.0,
    }
    fields.update(changes)
    return ScaledObject(**fields)  # type: ignore[arg-type]


def test_the_rule_is_read_from_the_rendered_manifests() -> None:
    rules = scaled_objects(render(BASE))
    # The same numbers, straight from the files (no copy of them here).
    for name in ("separation", "render"):
        docs = list(yaml.safe_load_all((BASE / f"{name}.yaml").read_text()))
        (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        rule = rules[name]
        assert rule.deployment == name
        assert rule.min_replicas == scaled["spec"]["minReplicaCount"]
        assert rule.max_replicas == scaled["spec"]["maxReplicaCount"]
        assert rule.polling_interval_s == scaled["spec"]["pollingInterval"]
        assert rule.cooldown_period_s == scaled["spec"]["cooldownPeriod"]
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert rule.termination_grace_s == grace
        assert [
            (t.stream, t.consumer, t.lag_threshold, t.activation_lag_threshold)
            for t in rule.triggers
        ] == [
            (
                t["metadata"]["stream"],
                t["metadata"]["consumer"],
                int(t["metadata"]["lagThreshold"]),
                int(t["metadata"]["activationLagThreshold"]),
            )
            for t in scaled["spec"]["triggers"]
        ]
    # An overlay's patches apply: dev allows 2 replicas at most.
    assert scaled_objects(render(ROOT / "k8s" / "overlays" / "dev"))["render"].max_replicas == 2


async def test_the_lag_is_pending_plus_ack_pending_from_the_monitoring_endpoint(
    fresh_nats: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="SEPARATION", subjects=["separation.>"])
        for _ in range(5):
            await js.publish("separation.requested", b"{}")
        trigger = Trigger("CADENZA", "SEPARATION", "separation", 2, 0)
        report = jsz(f"http://127.0.0.1:{fresh_nats.monitor_port}", "CADENZA")
        # No consumer yet: KEDA's scaler reads the stream's last sequence.
        assert consumer_lag(report, trigger) == 5
        sub = await js.pull_subscribe(
            "separation.requested", durable="separation", config=ConsumerConfig(ack_wait=30)
        )
        (first, second) = await sub.fetch(2)
        await first.ack_sync()
        report = jsz(f"http://127.0.0.1:{fresh_nats.monitor_port}", "CADENZA")
        assert consumer_lag(report, trigger) == 3 + 1  # three not delivered, one unacked
        assert consumer_lag(report, Trigger("CADENZA", "RENDER", "render", 2, 0)) is None
        assert consumer_lag(report, Trigger("$G", "SEPARATION", "separation", 2, 0)) is None
        await second.ack()
    finally:
        await nc.close()


def test_keda_activates_the_hpa_scales_by_lag_per_replica_and_cooldown_ends_at_zero() -> None:
    scaler = Autoscaler(_rule())
    lags: dict[str, int | None] = {"separation": 0}
    assert scaler.tick(0.0, lags) == 0
    lags["separation"] = 1  # above activationLagThreshold 0
    assert scaler.tick(10.0, lags) == 1  # KEDA's poll wakes one up
    lags["separation"] = 7
    assert scaler.tick(10.0 + HPA_SYNC_S, lags) == 4  # ceil(7 / 2) = 4 (the maximum)
    lags["separation"] = 40
    assert scaler.tick(10.0 + 2 * HPA_SYNC_S, lags) == 4  # clamped to maxReplicaCount
    lags["separation"] = 6  # ratio 6 / (2 × 4) = 0.75: outside the tolerance, wants 3
    t = 10.0 + 3 * HPA_SYNC_S
    assert scaler.tick(t, lags) == 4  # …but 4 was recommended within the last 300 s
    while t < 10.0 + 2 * HPA_SYNC_S + 300:
        t += 5.0
        assert scaler.tick(t, lags) == 4
    t += HPA_SYNC_S
    assert scaler.tick(t, lags) == 3  # only 3s are left in the window
    lags["separation"] = 0
    last_active = scaler.last_active
    assert last_active is not None
    while t < last_active + 600 - 5:
        t += 5.0
        assert scaler.tick(t, lags) >= 1  # the HPA keeps one replica while KEDA cools down
    t = last_active + 600 + 10
    assert scaler.tick(t, lags) == 0
    assert [why for *_, why in scaler.decisions] == [
        "activated: lag above activation",
        "HPA: lag per replica above lagThreshold",
        "HPA: lower for the whole stabilization window",
        "HPA: lower for the whole stabilization window",
        "cooldown period over with no activity",
    ]


def test_the_hpa_tolerance_and_the_largest_trigger_win() -> None:
    triggers = (
        Trigger("$G", "RENDER", "render", 2, 0),
        Trigger("$G", "RENDER", "render-master", 4, 0),
    )
    scaler = Autoscaler(_rule(triggers=triggers), time_scale=10)
    sync = HPA_SYNC_S / 10
    scaler.tick(0.0, {"render": 1, "render-master": 0})
    assert scaler.replicas == 1
    # render wants ceil(3 / 2) = 2, render-master ceil(12 / 4) = 3: the largest wins.
    assert scaler.tick(sync, {"render": 3, "render-master": 12}) == 3
    # 13 / (4 × 3) = 1.08: within the 10 % tolerance, so 3 stay (ceil(13 / 4) would be 4).
    assert scaler.tick(2 * sync, {"render": 0, "render-master": 13}) == 3
    # 14 / 12 = 1.17: outside it.
    assert scaler.tick(3 * sync, {"render": 0, "render-master": 14}) == 4


@pytest.mark.deployed(target="autoscale")
@pytest.mark.platform
@pytest.mark.timeout(1800)
def test_a_burst_scales_the_workers_from_zero_and_back_with_every_job_done_once(
    tmp_path: Path,
) -> None:
    time_scale = float(os.environ.get("AUTOSCALE_TIME_SCALE", "20"))
    with Platform(
        tmp_path / "data", gateway_port=free_port(), workers=(), log_dir=tmp_path / "logs"
    ) as platform:
        report = run_burst(
            platform,
            manifests=BASE,
            separations=int(os.environ.get("AUTOSCALE_SEPARATIONS", "16")),
            masters=int(os.environ.get("AUTOSCALE_MASTERS", "16")),
            time_scale=time_scale,
            progress=True,
        )
    summary = report.summary()
    print("AUTOSCALE", summary)
    assert report.statuses == {"completed": sum(report.jobs.values())}
    assert report.jobs_completed_more_than_once == 0
    assert report.jobs_without_a_completed_fact == 0
    assert report.failed_or_dead_lettered == 0
    for name, rule in report.rules.items():
        series = [s.replicas[name] for s in report.samples]
        assert series[0] == 0, f"{name} did not start at zero"
        peak = series.index(max(series))
        # 0 → N → 0: more than one replica at the peak, and back to zero after it.
        assert 2 <= series[peak] <= rule["max_replicas"], (name, series[peak])
        assert series[-1] == 0 and 0 in series[peak:], name
    # Every scale-in: SIGTERM, and the worker exited by itself within its grace period.
    assert report.stops, "nothing was scaled in"
    for stop in summary["stops"]:
        assert stop["within_grace"], stop
        assert stop["exit_code"] == 0, stop


def _held(platform: Platform, consumer: str) -> int:
    report = jsz(f"http://127.0.0.1:{platform.nats.monitor_port}", EMBEDDED_ACCOUNT)
    for account in report["account_details"]:
        for stream in account.get("stream_detail") or []:
            for detail in stream.get("consumer_detail") or []:
                if detail["name"] == consumer:
                    return int(detail["num_ack_pending"])
    return 0


def _wait_finished(api: httpx.Client, jobs: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    final: dict[str, str] = {}
    while len(final) < len(jobs):
        assert time.monotonic() < deadline, f"{len(jobs) - len(final)} jobs never finished"
        for job_id in set(jobs) - final.keys():
            status = api.get(f"/api/v1/jobs/{job_id}").json()["status"]
            if status in ("completed", "failed", "cancelled"):
                final[job_id] = status
        time.sleep(0.5)
    return final


@pytest.mark.deployed(target="autoscale")
@pytest.mark.platform
@pytest.mark.timeout(900)
def test_a_replica_scaled_in_under_load_hands_its_waiting_jobs_to_the_other(
    tmp_path: Path,
) -> None:
    """A render replica holding mastering jobs (one at work, more waiting for their turn)
    gets SIGTERM, as a scale-in sends it, while a second replica runs. It exits by itself
    well within its grace, handing back what it had not started; every job completes once."""
    rule = scaled_objects(render(BASE))["render"]
    with Platform(
        tmp_path / "data", gateway_port=free_port(), workers=(), log_dir=tmp_path / "logs"
    ) as platform:
        pool = ReplicaPool(rule, platform, Clock())
        pool.scale_to(1)
        (leaving,) = pool.running
        leaving.service.wait_ready(platform.ready_timeout_s)
        with httpx.Client(base_url=platform.url, timeout=30) as api:
            audio = upload_audio(api, write_noise(tmp_path / "long.wav", 45.0))
            jobs = [
                submit_job(api, {"kind": "master", "input": {"upload_id": audio}}, f"m-{i}")
                for i in range(10)
            ]
            deadline = time.monotonic() + 60
            while _held(platform, "render-master") < 9:  # one at work, eight waiting
                assert time.monotonic() < deadline, "the replica never held its window"
                time.sleep(0.2)
            pool.scale_to(2)
            pool.running[-1].service.wait_ready(platform.ready_timeout_s)
            held = _held(platform, "render-master")
            stopping = time.monotonic()
            stop = pool.stop(leaving)
            pool.wait_stopped()
            final = _wait_finished(api, jobs, timeout_s=600)
            done_after = time.monotonic() - stopping
        pool.stop_all()
        completed, failed = asyncio.run(completed_facts(platform.nats.url))
        log = (tmp_path / "logs" / f"{leaving.service.name}.log").read_text()
    handed_back = log.count("handed back")
    print(
        "SCALE-IN",
        {
            "jobs_held_by_both": held,
            "sigterm_to_exit_s": round(stop.seconds, 2),
            "exit_code": stop.exit_code,
            "handed_back": handed_back,
            "completed": sum(status == "completed" for status in final.values()),
            "sigterm_to_last_job_done_s": round(done_after, 1),
        },
    )
    assert held >= 4, f"only {held} jobs held when the replica was told to stop"
    assert stop.exit_code == 0, stop
    # Its work's grace is max(ACK_WAIT_S, 15) = 30 s, then 5 s to hand back: within 60 s.
    assert stop.seconds < rule.termination_grace_s, stop
    assert handed_back >= 2, "the stopping replica handed nothing back"
    assert set(final.values()) == {"completed"}
    assert failed == 0
    assert {job: completed["master"][job] for job in jobs} == dict.fromkeys(jobs, 1)
