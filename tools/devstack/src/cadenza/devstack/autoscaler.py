"""Autoscaling shown on one machine: KEDA's rule from k8s/ applied to the real consumer lag.

The embedded platform runs (nats-server, PostgreSQL, the gateway); the separation and
render workers are scaled by `cadenza.devstack.keda`'s rule, read from the rendered
ScaledObjects, on the lag the nats-server monitoring endpoint reports: a replica is a
worker process started as the platform starts it, and scaling in sends it SIGTERM and gives
it its Deployment's terminationGracePeriodSeconds before SIGKILL, as the kubelet does.

`run_burst` submits a burst of separation (the classical method: no model weights) and
mastering jobs (the render worker's `render-master` consumer) through the public API,
records lag and replicas until every job has finished and both workers are back at zero,
then checks that every job completed exactly once. `python -m cadenza.devstack.autoscaler`
(`make autoscale`) runs it and writes docs/autoscaling.svg and docs/autoscaling.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats

from cadenza.contracts.streams import JOBS, RENDER, SEPARATION, StreamSpec
from cadenza.devstack.autoscale_plot import write_svg
from cadenza.devstack.keda import Autoscaler, ScaledObject, consumer_lag, jsz, render
from cadenza.devstack.keda import scaled_objects as read_scaled_objects
from cadenza.devstack.platform import WORKERS, Platform, Service
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import write_noise

# The embedded nats-server's services run in account CADENZA (cadenza.devstack.nats); the
# manifests' `$G` is the account of the cluster's nats-server, which has no accounts.
EMBEDDED_ACCOUNT = "CADENZA"
SAMPLE_EVERY_S = 0.5
# The deployments this harness scales, and the completed fact of each job kind it submits.
SCALED = ("separation", "render")
COMPLETED_FACTS: dict[str, tuple[StreamSpec, str]] = {
    "separation": (SEPARATION, "separation.completed"),
    "master": (RENDER, "render.master.completed"),
}


@dataclass
class Stop:
    """One scale-in: a replica told to stop (SIGTERM) and how it went."""

    replica: str
    at_s: float
    grace_s: float
    seconds: float = 0.0
    exit_code: int | None = None

    @property
    def within_grace(self) -> bool:
        return self.exit_code is not None and self.exit_code >= 0 and self.seconds < self.grace_s


@dataclass
class Replica:
    service: Service
    started_at: float
    ready: bool = False


class ReplicaPool:
    """A Deployment's pods as worker processes on this machine."""

    def __init__(self, rule: ScaledObject, platform: Platform, clock: Clock) -> None:
        self.rule = rule
        self.platform = platform
        self.clock = clock
        self.module = WORKERS[rule.deployment]
        self.running: list[Replica] = []
        self.stopping: list[tuple[Replica, threading.Thread]] = []
        self.stops: list[Stop] = []
        self._started = 0

    def scale_to(self, replicas: int) -> None:
        """Start or stop processes; called from the main thread only (a child started from
        another thread would get SIGTERM when that thread ends: PR_SET_PDEATHSIG)."""
        while len(self.running) < replicas:
            self._started += 1
            port = free_port()
            name = f"{self.rule.deployment}-{self._started}"
            log_dir = self.platform.log_dir
            service = Service(
                name,
                self.module,
                port,
                {**self.platform.base_env(), "HTTP_PORT": str(port)},
                log_dir / f"{name}.log" if log_dir else None,
            )
            service.start()
            self.running.append(Replica(service, self.clock.now()))
        while len(self.running) > replicas:
            # The newest goes first (a ReplicaSet prefers the youngest pods when scaling in).
            self.stop(self.running[-1])

    def stop(self, replica: Replica) -> Stop:
        """Take one replica out and stop it in the background, as the kubelet would."""
        self.running.remove(replica)
        stop = Stop(replica.service.name, self.clock.now(), self.rule.termination_grace_s)
        self.stops.append(stop)
        thread = threading.Thread(target=self._stop, args=(replica, stop), daemon=True)
        thread.start()
        self.stopping.append((replica, thread))
        return stop

    def wait_stopped(self) -> None:
        for _, thread in self.stopping:
            thread.join()
        self.stopping = []

    def _stop(self, replica: Replica, stop: Stop) -> None:
        """SIGTERM, then SIGKILL once the grace period is over: what the kubelet does."""
        process = replica.service.process
        assert process is not None
        began = time.monotonic()
        process.terminate()
        try:
            process.wait(stop.grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stop.seconds = time.monotonic() - began
        stop.exit_code = process.returncode

    def refresh(self) -> None:
        """Notice replicas that became ready, and stops that finished."""
        self.stopping = [(r, t) for r, t in self.stopping if t.is_alive()]
        for replica in self.running:
            if replica.service.exit_code() is not None:
                raise replica.service.failed(f"exited with code {replica.service.exit_code()}")
            if not replica.ready:
                try:
                    url = f"http://127.0.0.1:{replica.service.port}/health/ready"
                    replica.ready = httpx.get(url, timeout=0.3).status_code == 200
                except httpx.HTTPError:
                    pass

    @property
    def ready(self) -> int:
        return sum(r.ready for r in self.running)

    def stop_all(self) -> None:
        self.scale_to(0)
        self.wait_stopped()


class Clock:
    """Seconds since the burst began."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.began


@dataclass
class Sample:
    t_s: float
    # deployment → consumer → lag; deployment → replicas wanted, running ready, stopping.
    lag: dict[str, dict[str, int | None]]
    replicas: dict[str, int]
    ready: dict[str, int]
    stopping: dict[str, int]


@dataclass
class BurstReport:
    manifests: str
    time_scale: float
    rules: dict[str, dict[str, Any]]
    jobs: dict[str, int]
    statuses: dict[str, int]
    completed_facts: dict[str, int]
    jobs_completed_more_than_once: int
    jobs_without_a_completed_fact: int
    failed_or_dead_lettered: int
    peak_replicas: dict[str, int]
    final_replicas: dict[str, int]
    decisions: dict[str, list[tuple[float, int, int, str]]]
    stops: list[dict[str, Any]]
    handed_back: int
    seconds: float
    samples: list[Sample] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """Everything but the samples (for the console and docs/autoscaling.json)."""
        data = asdict(self)
        data.pop("samples")
        return data


def submit_job(api: httpx.Client, body: dict[str, Any], key: str) -> str:
    response = api.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": key})
    if response.status_code != 202:
        raise RuntimeError(f"job refused ({response.status_code}): {response.text}")
    return str(response.json()["id"])


def upload_audio(api: httpx.Client, path: Path) -> str:
    with path.open("rb") as f:
        made = api.post("/api/v1/uploads", files={"file": (path.name, f)})
    if made.status_code != 201:
        raise RuntimeError(f"upload refused ({made.status_code}): {made.text}")
    return str(made.json()["id"])


async def completed_facts(nats_url: str) -> tuple[dict[str, Counter[str]], int]:
    """Completed facts per job id for each kind, and failed / dead-lettered jobs."""
    from cadenza.gateway.replay import stream_messages

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        completed: dict[str, Counter[str]] = {kind: Counter() for kind in COMPLETED_FACTS}
        failed = 0
        for kind, (spec, subject) in COMPLETED_FACTS.items():
            async for msg in stream_messages(js, spec):
                if msg.subject == subject:
                    completed[kind][json.loads(msg.data)["job_id"]] += 1
                elif msg.subject.endswith(".failed"):
                    failed += 1
        async for msg in stream_messages(js, JOBS):
            if msg.subject == "job.dead_lettered":
                failed += 1
        return completed, failed
    finally:
        await nc.close()


def _handed_back(log_dir: Path | None) -> int:
    if log_dir is None:
        return 0
    return sum(
        path.read_text(errors="replace").count("handed back")
        for deployment in SCALED
        for path in log_dir.glob(f"{deployment}-*.log")
    )


def _declare_consumers(platform: Platform, rules: dict[str, ScaledObject]) -> None:
    """One replica of each, once: it declares its durable consumers (as the Deployment's
    first pod does when it is applied), then stops; the scaler then reads their lag."""
    clock = Clock()
    pools = [ReplicaPool(rule, platform, clock) for rule in rules.values()]
    for pool in pools:
        pool.scale_to(1)
    try:
        for pool in pools:
            pool.running[0].service.wait_ready(platform.ready_timeout_s)
    finally:
        for pool in pools:
            pool.stop_all()


def run_burst(
    platform: Platform,
    *,
    manifests: Path,
    separations: int,
    masters: int,
    time_scale: float = 1.0,
    timeout_s: float | None = None,
    progress: bool = False,
) -> BurstReport:
    """Submit the burst on a started platform (its gateway only), scale, check, report."""
    rendered = read_scaled_objects(render(manifests))
    rules = {name: rendered[name].with_account(EMBEDDED_ACCOUNT) for name in SCALED}
    _declare_consumers(platform, rules)
    clock = Clock()
    scalers = {name: Autoscaler(rule, time_scale=time_scale) for name, rule in rules.items()}
    pools = {name: ReplicaPool(rule, platform, clock) for name, rule in rules.items()}
    if timeout_s is None:
        longest = max(r.cooldown_period_s + 300 for r in rules.values())
        timeout_s = longest / time_scale + 900
    monitoring = f"http://127.0.0.1:{platform.nats.monitor_port}"
    samples: list[Sample] = []

    def sample(now: float) -> dict[str, dict[str, int | None]]:
        report = jsz(monitoring, EMBEDDED_ACCOUNT)
        lags = {
            name: {t.consumer: consumer_lag(report, t) for t in rule.triggers}
            for name, rule in rules.items()
        }
        samples.append(
            Sample(
                round(now, 2),
                lags,
                {n: s.replicas for n, s in scalers.items()},
                {n: p.ready for n, p in pools.items()},
                {n: len(p.stopping) for n, p in pools.items()},
            )
        )
        return lags

    sample(clock.now())  # before the burst: no lag, no replica
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        audio = upload_audio(api, write_noise(platform.data_dir / "burst.wav", 6.0))
        jobs: dict[str, str] = {}
        for i in range(max(separations, masters)):
            if i < separations:
                separation = {
                    "kind": "separation",
                    "input": {"upload_id": audio},
                    "params": {"model": "classical"},
                }
                jobs[submit_job(api, separation, f"burst-separation-{i}")] = "separation"
            if i < masters:
                master = {"kind": "master", "input": {"upload_id": audio}}
                jobs[submit_job(api, master, f"burst-master-{i}")] = "master"
        final: dict[str, str] = {}
        next_check = 0.0
        try:
            while True:
                now = clock.now()
                report = jsz(monitoring, EMBEDDED_ACCOUNT)
                for name, scaler in scalers.items():
                    lag = {t.consumer: consumer_lag(report, t) for t in rules[name].triggers}
                    pools[name].scale_to(scaler.tick(now, lag))
                    pools[name].refresh()
                lags = sample(now)
                if now >= next_check:
                    next_check = now + 2.0
                    for job_id in jobs.keys() - final.keys():
                        job = api.get(f"/api/v1/jobs/{job_id}").json()
                        if job["status"] in ("completed", "failed", "cancelled"):
                            final[job_id] = job["status"]
                    if progress:
                        print(
                            f"[{now:7.1f}s] finished {len(final)}/{len(jobs)} "
                            + " ".join(
                                f"{n}: lag {lags[n]} replicas {s.replicas} "
                                f"ready {pools[n].ready} stopping {len(pools[n].stopping)}"
                                for n, s in scalers.items()
                            ),
                            flush=True,
                        )
                settled = all(s.replicas == 0 for s in scalers.values()) and not any(
                    p.stopping for p in pools.values()
                )
                if len(final) == len(jobs) and settled:
                    break
                if now > timeout_s:
                    raise TimeoutError(
                        f"after {now:.0f}s: {len(final)}/{len(jobs)} jobs finished, replicas "
                        f"{ {n: s.replicas for n, s in scalers.items()} }"
                    )
                time.sleep(SAMPLE_EVERY_S)
        finally:
            for pool in pools.values():
                pool.stop_all()
    completed, failed = asyncio.run(completed_facts(platform.nats.url))
    counts = {kind: completed[kind][job] for job, kind in jobs.items()}
    return BurstReport(
        manifests=str(manifests),
        time_scale=time_scale,
        rules={name: asdict(rule) for name, rule in rules.items()},
        jobs=dict(Counter(jobs.values())),
        statuses=dict(Counter(final.values())),
        completed_facts={kind: sum(c.values()) for kind, c in completed.items()},
        jobs_completed_more_than_once=sum(1 for n in counts.values() if n > 1),
        jobs_without_a_completed_fact=sum(1 for n in counts.values() if n == 0),
        failed_or_dead_lettered=failed,
        peak_replicas={n: max(s.replicas[n] for s in samples) for n in scalers},
        final_replicas={n: s.replicas for n, s in scalers.items()},
        decisions={n: s.decisions for n, s in scalers.items()},
        stops=[
            {**asdict(stop), "within_grace": stop.within_grace}
            for pool in pools.values()
            for stop in pool.stops
        ],
        handed_back=_handed_back(platform.log_dir),
        seconds=round(clock.now(), 1),
        samples=samples,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cadenza.devstack.autoscaler",
        description="A burst of separation and mastering jobs, the separation and render "
        "workers scaled by KEDA's nats-jetstream rule from the manifests: 0 → N → 0.",
    )
    parser.add_argument("--manifests", type=Path, default=Path("k8s/base"))
    parser.add_argument("--separations", type=int, default=24)
    parser.add_argument("--masters", type=int, default=24)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="divide every period (polling, cooldown, HPA sync and stabilization) by this",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("var/autoscale"))
    parser.add_argument("--out", type=Path, default=Path("docs/autoscaling"))
    args = parser.parse_args(argv)
    # A directory of its own each run: the burst's idempotency keys and facts start afresh.
    run_dir = args.data_dir / time.strftime("%Y%m%d-%H%M%S")
    print(f"data and logs in {run_dir}", flush=True)
    with Platform(
        run_dir / "data",
        gateway_port=free_port(),
        workers=(),
        log_dir=run_dir / "logs",
    ) as platform:
        report = run_burst(
            platform,
            manifests=args.manifests,
            separations=args.separations,
            masters=args.masters,
            time_scale=args.time_scale,
            progress=True,
        )
    summary = report.summary()
    # Every sample, beside the run's logs (too long for docs/): what the plot was drawn from.
    (run_dir / "samples.json").write_text(json.dumps([asdict(s) for s in report.samples]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    write_svg(report.samples, args.out.with_suffix(".svg"), rules=report.rules)
    print(json.dumps(summary, indent=1))
    ok = (
        report.jobs_completed_more_than_once == 0
        and report.jobs_without_a_completed_fact == 0
        and report.failed_or_dead_lettered == 0
        and all(stop["within_grace"] for stop in summary["stops"])
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
