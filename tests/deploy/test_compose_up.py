"""The whole stack of docker-compose.yml, started for real by Debian's docker-compose 1.29 with
docker-compose.loopback.yml (host networking, every service on 127.0.0.1 at a free port, local
stand-ins for the images no registry gives us here), then driven through the gateway's public
API: the end-to-end smoke (upload → effects → classical separation → blend → render → master),
and a worker container killed under 100 jobs in flight, none lost, none run twice.

Needs Docker (the engine running, /usr/bin/docker, docker-compose), the local base image
(tools/image/local_base.sh) and Cadenza's images (`make image SERVICE=…` for each service):
`make compose-test` builds what is missing and runs this module. Figures are printed (-s) and
recorded in docs/deployment.md ("Compose").
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import yaml

from cadenza.devstack.music import recording
from cadenza.devstack.ports import free_port
from cadenza.devstack.testing import rms_db, write_noise

from .deploy_helpers import ROOT, SERVICES

# The module's stack starts once (about a minute, more on a busy machine), inside the first
# test's time; the kill test waits out AckWait (30 s) for each crash's redeliveries.
pytestmark = [pytest.mark.deployed(target="compose-test"), pytest.mark.timeout(1800)]

DOCKER = "/usr/bin/docker"
COMPOSE = shutil.which("docker-compose") or "docker-compose"
LOCAL_BASE = "cadenza-local-base:bookworm"
TAG = os.environ.get("CADENZA_TAG", "dev")
WORKERS = [name for name in SERVICES if name != "gateway"]
LONG_RUNNING = ["nats", "postgres", "minio", *SERVICES]
SEED_SONGS = 12  # one round of the corpus interleave: chorales and folk tunes
KILL_JOBS = 100


@pytest.fixture(autouse=True)
def _no_network() -> None:
    """This module talks to the stack it starts (tests/deploy/conftest.py forbids sockets for
    the offline checks)."""


def say(message: str) -> None:
    print(f"[compose] {message}", flush=True)


@dataclass
class Stack:
    """A compose project started from the resolved loopback configuration."""

    project: str
    config: Path
    env: dict[str, str]
    ports: dict[str, int]
    logs: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [COMPOSE, "-f", str(self.config), "-p", self.project, *args]
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-q", service).stdout.split()
        assert len(ids) == 1, f"{service}: containers {ids}"
        return ids[0]

    def inspect(self, service: str) -> dict[str, Any]:
        state: list[dict[str, Any]] = json.loads(docker("inspect", self.container(service)))
        return state[0]

    def health(self, service: str) -> str:
        state = self.inspect(service)["State"]
        return str(state.get("Health", {}).get("Status") or state["Status"])

    def wait_healthy(self, services: list[str], timeout_s: float) -> float:
        start = time.monotonic()
        waiting = list(services)
        while waiting:
            waiting = [s for s in waiting if self.health(s) != "healthy"]
            if time.monotonic() - start > timeout_s:
                raise AssertionError(f"not healthy after {timeout_s:.0f}s: {waiting}")
            time.sleep(1)
        return time.monotonic() - start


def docker(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def image_exists(tag: str) -> bool:
    done = subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True, check=False)
    return done.returncode == 0


def resolved_config(env: dict[str, str], path: Path) -> None:
    """docker-compose.yml + docker-compose.loopback.yml as docker-compose 1.29 resolves them,
    minus the base file's `ports:`: 1.29 refuses published ports on the host's network (Docker
    would only ignore them) and an override file cannot remove a key."""
    done = subprocess.run(
        [COMPOSE, "-f", "docker-compose.yml", "-f", "docker-compose.loopback.yml", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    for service in config["services"].values():
        service.pop("ports", None)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o600)  # it holds the passwords


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert shutil.which("docker-compose"), (
        "needs docker-compose (Debian: apt-get install docker-compose)"
    )
    missing = [
        tag
        for tag in (LOCAL_BASE, *(f"cadenza-{name}:{TAG}" for name in SERVICES))
        if not image_exists(tag)
    ]
    assert not missing, f"build them first (make compose-test does): {missing}"
    root = tmp_path_factory.mktemp("compose")
    models = root / "models"  # classical separation needs no checkpoints
    models.mkdir()
    models.chmod(0o755)
    ports = {
        name: free_port()
        for name in (
            "GATEWAY_PORT",
            "NATS_PORT",
            "NATS_MONITOR_PORT",
            "POSTGRES_PORT",
            "MINIO_PORT",
            "MINIO_CONSOLE_PORT",
            *(f"{name.upper()}_HTTP_PORT" for name in WORKERS),
        )
    }
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        # Debian's client first: BuildKit builds need it (the newer one lacks buildx).
        "PATH": f"/usr/bin:{os.environ.get('PATH', '')}",
        "DOCKER_BUILDKIT": "1",
        "COMPOSE_DOCKER_CLI_BUILD": "1",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(16),
        "CADENZA_TAG": TAG,
        "SEPARATION_MODEL_DIR": str(models),
        "SEED_LIMIT": str(SEED_SONGS),
        # The kill test keeps 100 jobs of one account in flight.
        "MAX_ACTIVE_JOBS": str(KILL_JOBS),
    }
    config = root / "compose.yml"
    resolved_config(env, config)
    stack = Stack(f"cz{uuid.uuid4().hex[:8]}", config, env, ports, root / "logs")
    try:
        start = time.monotonic()
        stack.compose("build", "nats", "postgres", "minio", timeout=900)
        stack.timings["stand-ins built (cached after the first run)"] = time.monotonic() - start
        start = time.monotonic()
        stack.compose("up", "-d", "--no-build", timeout=600)
        stack.timings["up -d returned"] = time.monotonic() - start
        stack.wait_healthy(LONG_RUNNING, timeout_s=300)
        stack.timings["up to every service healthy"] = time.monotonic() - start
        say(f"project {stack.project}: every service healthy, gateway at {stack.url}")
        yield stack
    finally:
        stack.logs.mkdir(exist_ok=True)
        logs = subprocess.run(
            [COMPOSE, "-f", str(config), "-p", stack.project, "logs", "--no-color"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        (stack.logs / "compose.log").write_text(logs.stdout + logs.stderr, encoding="utf-8")
        say(f"logs: {stack.logs / 'compose.log'}")
        down = subprocess.run(
            [COMPOSE, "-f", str(config), "-p", stack.project, "down", "-v", "--remove-orphans"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert down.returncode == 0, down.stderr
        for name, seconds in stack.timings.items():
            say(f"{name}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    # Downloads answer 307 to the S3 server's presigned URL.
    with httpx.Client(base_url=stack.url, timeout=60, follow_redirects=True) as client:
        yield client


def get(api: httpx.Client, url: str, **params: Any) -> httpx.Response:
    """A GET that waits out the gateway's rate limit (429 with Retry-After) like a polite
    client: the kill test reads 100 jobs and downloads their outputs."""
    for _ in range(30):
        response = api.get(url, params=params)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))
    raise AssertionError(f"{url}: still rate-limited")


def submit(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def finished(api: httpx.Client, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = get(api, f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            assert job["status"] == "completed", job
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.2)


def run_job(api: httpx.Client, body: dict[str, Any], timeout_s: float = 300) -> dict[str, Any]:
    return finished(api, submit(api, body), timeout_s)


def artifact_bytes(api: httpx.Client, job: dict[str, Any], name: str) -> bytes:
    artifact = next(a for a in job["artifacts"] if a["name"] == name)
    response = get(api, artifact["url"])
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
    assert len(response.content) == artifact["bytes"]
    return response.content


def docker_time(value: str) -> datetime:
    """Docker's RFC 3339 time with up to nanoseconds (trailing zeros dropped)."""
    whole, _, fraction = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{fraction[:6].ljust(6, '0')}+00:00")


def test_every_service_runs_as_composed(stack: Stack) -> None:
    for name in LONG_RUNNING:
        state = stack.inspect(name)
        assert state["HostConfig"]["NetworkMode"] == "host", name
        assert stack.health(name) == "healthy", name
    for name in SERVICES:
        state = stack.inspect(name)
        assert state["Config"]["User"] == "10001:10001", name
        assert state["HostConfig"]["CapDrop"] == ["ALL"], name
        assert state["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    init = stack.inspect("minio-init")["State"]
    assert (init["Status"], init["ExitCode"]) == ("exited", 0)
    # depends_on's service_completed_successfully: no service started before the bucket was made.
    for name in SERVICES:
        assert docker_time(stack.inspect(name)["State"]["StartedAt"]) > docker_time(
            init["FinishedAt"]
        ), name
    # The seed is in a profile: a plain `up` leaves it out.
    assert not stack.compose("ps", "-q", "catalog-seed").stdout.strip()
    # deploy.resources applies in 1.29 too (without --compatibility).
    assert stack.inspect("separation")["HostConfig"]["Memory"] == 4 * 1024**3
    # compose/nats.conf is what the server runs with: fsync before each ack, on the volume.
    varz = httpx.get(f"http://127.0.0.1:{stack.ports['NATS_MONITOR_PORT']}/varz", timeout=10)
    jetstream = varz.json()["jetstream"]["config"]
    assert jetstream["sync_always"] is True, jetstream
    assert jetstream["store_dir"].startswith("/data"), jetstream
    ready = httpx.get(f"{stack.url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text


@pytest.fixture(scope="module")
def seeded(stack: Stack, api: httpx.Client) -> list[dict[str, Any]]:
    """The catalog seeded by the compose file's one-shot (profile `seed`)."""
    start = time.monotonic()
    stack.compose("--profile", "seed", "up", "-d", "--no-build", "catalog-seed")
    seed = stack.container("catalog-seed")
    code = int(docker("wait", seed, timeout=600).strip())
    assert code == 0, docker("logs", "--tail", "40", seed)
    stack.timings[f"catalog-seed of {SEED_SONGS} songs"] = time.monotonic() - start
    songs: list[dict[str, Any]] = [
        hit["song"] for hit in api.get("/api/v1/songs", params={"limit": 50}).json()["items"]
    ]
    assert len(songs) >= 3, songs
    return songs


def test_the_music_pipeline_through_the_composed_gateway(
    stack: Stack, api: httpx.Client, seeded: list[dict[str, Any]], tmp_path: Path
) -> None:
    timings: dict[str, float] = {}

    def timed(stage: str, body: dict[str, Any]) -> dict[str, Any]:
        start = time.monotonic()
        job = run_job(api, body)
        timings[stage] = time.monotonic() - start
        return job

    source = recording(tmp_path / "take.wav", seconds=8, seed=41)
    uploaded = api.post("/api/v1/uploads", files={"file": ("take.wav", source.read_bytes())})
    assert uploaded.status_code == 201, uploaded.text
    upload_id = uploaded.json()["id"]
    original, rate = sf.read(str(source), dtype="float32")

    effects = timed(
        "effects",
        {
            "kind": "effects",
            "input": {"upload_id": upload_id},
            "params": {"chain": [{"type": "gain", "gain_db": -6}], "bit_depth": 32},
        },
    )
    processed, processed_rate = sf.read(io.BytesIO(artifact_bytes(api, effects, "processed.wav")))
    assert processed_rate == rate and processed.shape == original.shape
    assert rms_db(processed) - rms_db(original) == pytest.approx(-6.0, abs=0.1)

    separation = timed(
        "separation (classical)",
        {
            "kind": "separation",
            "input": {"upload_id": upload_id},
            "params": {"model": "classical", "format": "wav", "bit_depth": 32},
        },
    )
    stems = {
        a["name"]: sf.read(io.BytesIO(artifact_bytes(api, separation, a["name"])))[0]
        for a in separation["artifacts"]
    }
    assert set(stems) == {"drums.wav", "bass.wav", "other.wav", "vocals.wav"}
    np.testing.assert_allclose(sum(stems.values()), original, atol=1e-4)

    blend = timed(
        "blend",
        {
            "kind": "blend",
            "params": {
                "songs": [song["id"] for song in seeded[:3]],
                "length_bars": 8,
                "tempo": 100,
                "key": "C major",
                "seed": 3,
            },
        },
    )
    assert artifact_bytes(api, blend, "blend.mid").startswith(b"MThd")

    render = timed(
        "render",
        {
            "kind": "render",
            "input": {"job_id": blend["id"], "artifact": "blend.mid"},
            "params": {"sample_rate": 44100, "output": {"format": "wav", "bit_depth": 24}},
        },
    )
    mix, mix_rate = sf.read(io.BytesIO(artifact_bytes(api, render, "mix.wav")))
    assert mix_rate == 44100 and mix.shape[1] == 2
    assert 8 * 4 * 60 / 100 - 1 <= len(mix) / mix_rate <= 8 * 4 * 60 / 100 + 4

    master = timed(
        "master",
        {
            "kind": "master",
            "input": {"job_id": render["id"], "artifact": "mix.wav"},
            "params": {"preset": "apple"},
        },
    )
    mastered, master_rate = sf.read(io.BytesIO(artifact_bytes(api, master, "mastered.wav")))
    assert pyloudnorm.Meter(master_rate).integrated_loudness(mastered) == pytest.approx(
        -16, abs=0.5
    )
    for stage, seconds in timings.items():
        stack.timings[f"smoke: {stage} job"] = seconds


def stream_subject_counts(stack: Stack, stream: str) -> dict[str, int]:
    """Messages per subject in a JetStream stream, from the monitoring endpoint's view of the
    stream (JetStream's own STREAM.INFO with a subjects filter)."""
    import asyncio

    import nats

    async def counts() -> dict[str, int]:
        client = await nats.connect(f"nats://127.0.0.1:{stack.ports['NATS_PORT']}")
        try:
            info = await client.jetstream().stream_info(stream, subjects_filter=">")
            return dict(info.state.subjects or {})
        finally:
            await client.close()

    return asyncio.run(counts())


def consumer_state(stack: Stack, stream: str, durable: str) -> dict[str, int]:
    import asyncio

    import nats

    async def state() -> dict[str, int]:
        client = await nats.connect(f"nats://127.0.0.1:{stack.ports['NATS_PORT']}")
        try:
            info = await client.jetstream().consumer_info(stream, durable)
            return {
                "ack_pending": info.num_ack_pending or 0,
                "pending": info.num_pending or 0,
                "redelivered": info.num_redelivered or 0,
            }
        finally:
            await client.close()

    return asyncio.run(state())


def jobs_of(api: httpx.Client, job_ids: list[str]) -> list[dict[str, Any]]:
    """The jobs, as the API lists them (newest first, 100 a page), in `job_ids`' order."""
    wanted, found = set(job_ids), dict[str, dict[str, Any]]()
    cursor = None
    while wanted - set(found):
        page = get(api, "/api/v1/jobs", limit=100, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        found |= {j["id"]: j for j in page.json()["items"] if j["id"] in wanted}
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert set(found) == wanted, f"{len(wanted - set(found))} jobs not listed"
    return [found[j] for j in job_ids]


def completed_count(api: httpx.Client, job_ids: list[str]) -> int:
    return sum(job["status"] == "completed" for job in jobs_of(api, job_ids))


def wait_until(api: httpx.Client, job_ids: list[str], at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (done := completed_count(api, job_ids)) < at_least:
        assert time.monotonic() < deadline, f"{done}/{len(job_ids)} completed"
        time.sleep(2)
    return done


def wait_for_work_in_hand(stack: Stack, undelivered: int, timeout_s: float) -> dict[str, int]:
    """The effects consumer's state once at most `undelivered` commands wait and the worker
    holds some unacknowledged."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = consumer_state(stack, "EFFECTS", "effects")
        if state["pending"] <= undelivered and state["ack_pending"] > 0:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def test_a_worker_killed_under_100_jobs_loses_and_repeats_none(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    """Two crashes of the effects worker while 100 jobs are in flight: `docker kill -s KILL`
    then `docker-compose start` (Docker's restart policy leaves a container that `docker kill`
    stopped alone), and later a SIGKILL of its process from the host, which the restart policy
    (unless-stopped) answers by itself."""
    before = stream_subject_counts(stack, "EFFECTS")
    source = write_noise(tmp_path / "long.wav", 30.0, seed=7)
    upload_id = api.post(
        "/api/v1/uploads", files={"file": ("long.wav", source.read_bytes())}
    ).json()["id"]
    body = {
        "kind": "effects",
        "input": {"upload_id": upload_id},
        "params": {
            "chain": [{"type": "reverb", "room_size": 0.6}, {"type": "gain", "gain_db": -3}]
        },
    }
    start = time.monotonic()
    job_ids = [submit(api, body) for _ in range(KILL_JOBS)]
    stack.timings["kill test: 100 jobs submitted"] = time.monotonic() - start

    kills = []
    # Killed once a tenth, then half of the commands have reached the worker, with some of
    # them in its hands (the API's count lags the worker's: the projection follows the facts).
    for undelivered, how in ((90, "docker kill"), (50, "process SIGKILL")):
        in_flight = wait_for_work_in_hand(stack, undelivered, timeout_s=600)
        done = completed_count(api, job_ids)
        effects = stack.inspect("effects")
        if how == "docker kill":
            docker("kill", "-s", "KILL", effects["Id"])
        else:
            os.kill(effects["State"]["Pid"], 9)
        killed_at = time.monotonic()
        kills.append((how, done, in_flight))
        say(f"{how} of the effects worker with {done}/{KILL_JOBS} completed, {in_flight}")
        assert done < KILL_JOBS and in_flight["ack_pending"] > 0, "killed with work in flight"
        time.sleep(2)
        state = stack.inspect("effects")["State"]
        if how == "docker kill":
            # `docker kill` counts as stopped by hand: the restart policy leaves it stopped.
            assert not state["Running"] and state["ExitCode"] == 137, state
            stack.compose("start", "effects")
        stack.wait_healthy(["effects"], timeout_s=180)
        stack.timings[f"kill test: effects healthy again after {how}"] = (
            time.monotonic() - killed_at
        )
    restarts = stack.inspect("effects")["RestartCount"]
    assert restarts >= 1, "the restart policy restarted the crashed worker"

    wait_until(api, job_ids, KILL_JOBS, timeout_s=900)
    stack.timings["kill test: 100 jobs submitted to all completed"] = time.monotonic() - start
    jobs = jobs_of(api, job_ids)
    assert [j["status"] for j in jobs] == ["completed"] * KILL_JOBS
    # Every job's output is there, whole, and the same bytes (one input, one chain).
    digests = set()
    for job in jobs:
        assert [a["name"] for a in job["artifacts"]] == ["processed.wav"], job
        digests.add(hashlib.sha256(artifact_bytes(api, job, "processed.wav")).hexdigest())
    assert len(digests) == 1, "a redelivered job wrote the same bytes"
    # None ran twice as far as the bus knows: one command and one fact per job on the stream
    # (a redelivered command's fact has the same Nats-Msg-Id, and JetStream dropped it).
    after = stream_subject_counts(stack, "EFFECTS")
    grew = {s: n - before.get(s, 0) for s, n in after.items() if n != before.get(s, 0)}
    say(f"EFFECTS stream grew by {grew}; consumer {consumer_state(stack, 'EFFECTS', 'effects')}")
    assert grew.get("effects.requested") == KILL_JOBS
    assert grew.get("effects.completed") == KILL_JOBS
    assert "effects.failed" not in grew
    final = consumer_state(stack, "EFFECTS", "effects")
    assert final["pending"] == 0 and final["ack_pending"] == 0, final
    say(f"kills (how, completed before, consumer then): {kills}")
