"""Every service's image, built from the one Dockerfile and run as Kubernetes runs it.

For each service (CPU variants; the CUDA builds stay checked offline in test_dockerfiles.py):
`docker build` from the repository root, then the pod of k8s/base/<service>.yaml on Docker:
its init containers and its container, with a read-only root filesystem, no capabilities, no
privilege escalation, the image's own user (which must be the manifest's runAsUser), and the
pod's volumes (an emptyDir: a fresh Docker volume owned as fsGroup makes it; a claim: a host
folder). Host networking: the container reaches the test's nats-server, PostgreSQL (its Unix
socket mounted in) and S3 server (moto) over loopback, and listens on a free loopback port.
It must pass the image's HEALTHCHECK (liveness), answer /health/ready with 200 (NATS,
storage and, where used, PostgreSQL reachable), run as uid 10001 and be unable to write
outside its volumes. Each image's build time and size are printed (targets: gateway 400 MB,
separation 1.5 GB).

Run by `make images` (a Docker engine; root, for the local base). Without a registry, the base
is a local stand-in (tools/image/local_base.sh, Debian bookworm's python3) and torch comes
from the local wheel folder (tools/image/torch_wheels.sh); CADENZA_IMAGE_BASE names another
base (e.g. the default python slim image, where it can be pulled), CADENZA_IMAGE_NO_CACHE=1
builds without Docker's layer cache.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.ports import free_port
from cadenza.devstack.postgres import Postgres

from .deploy_helpers import ROOT, SERVICES

pytestmark = [pytest.mark.deployed(target="images"), pytest.mark.timeout(1800)]

DOCKER = os.environ.get("CADENZA_DOCKER", "/usr/bin/docker")
LOCAL_BASE = "cadenza-local-base:bookworm"
TORCH_WHEELS = "cadenza-torch-wheels:local"
WHEEL_FOLDER = Path("/opt/wheels")
TAG = "dev"  # what docker-compose.yml runs: cadenza-<service>:${CADENZA_TAG:-dev}
USER_ID = 10001
MB = 1_000_000  # as `docker images` counts
SIZE_TARGETS_MB = {"gateway": 400, "separation": 1500}
PG_SOCKET_DIR = "/run/postgresql"  # where a container finds PostgreSQL's socket
TORCH_SERVICES = {"separation", "composition"}
TORCH_SMOKE = "import torch; print(float(torch.tensor([1.0, 2, 3]) @ torch.tensor([1.0, 2, 3])))"
# Each native library of the venv that the loader would refuse (<library>:ldd-failed: a strip
# gone wrong is "not a dynamic executable") or whose dependencies it would not find
# (<library>:<dependency>).
UNRESOLVED_LIBRARIES = (
    "cd /opt/venv/lib/python3*/site-packages && find . -name '*.so*' -type f | while read -r f;"
    ' do out=$(ldd "$f" 2>&1) || echo "${f#./}:ldd-failed";'
    ' printf \'%s\\n\' "$out" | awk -v f="${f#./}" \'/not found/ {print f ":" $1}\'; done'
)
# numba's OpenMP and TBB threading layers (it falls back to its own workqueue), and a second
# libgfortran scipy's wheel ships but nothing loads (unresolved in the wheel as published).
OPTIONAL_LIBRARIES = {
    "numba/np/ufunc/omppool.cpython-311-x86_64-linux-gnu.so:libgomp.so.1.0.0",
    "numba/np/ufunc/tbbpool.cpython-311-x86_64-linux-gnu.so:libtbb.so.12",
    "scipy.libs/libgfortran-8f1e9814.so.5.0.0:libquadmath-828275a7.so.0.0.0",
}


@pytest.fixture(autouse=True)
def _no_network() -> None:
    """The deploy folder's offline guard does not apply: this module talks to Docker and to its
    containers (over loopback only)."""


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@dataclass
class Report:
    rows: dict[str, tuple[float, int, int]] = field(default_factory=dict)  # build s, size, base

    def print(self, base: str) -> None:
        print(f"\nimages on {base} (build with{'out' if no_cache() else ''} the layer cache)")
        print(f"{'image':<28} {'build':>8} {'size':>9} {'above base':>11} {'target':>8}")
        for service, (seconds, size, base_size) in self.rows.items():
            target = SIZE_TARGETS_MB.get(service)
            print(
                f"{'cadenza-' + service + ':' + TAG:<28} {seconds:>7.0f}s {size / MB:>6.0f} MB"
                f" {(size - base_size) / MB:>8.0f} MB"
                f" {f'{target} MB' if target else '':>8}"
            )


def no_cache() -> bool:
    return os.environ.get("CADENZA_IMAGE_NO_CACHE") == "1"


@pytest.fixture(scope="module")
def report() -> Iterator[Report]:
    found = Report()
    yield found
    found.print(os.environ.get("CADENZA_IMAGE_BASE", LOCAL_BASE))


@pytest.fixture(scope="module")
def build_args() -> list[str]:
    """The base (a local stand-in unless CADENZA_IMAGE_BASE names one) and, where the machine
    has the torch wheel, the image that carries it into the build."""
    if docker("version", check=False).returncode != 0:
        pytest.fail(f"no Docker engine answers {DOCKER}")
    base = os.environ.get("CADENZA_IMAGE_BASE")
    if base is None:
        subprocess.run([ROOT / "tools/image/local_base.sh"], check=True, timeout=1200)
        base = LOCAL_BASE
    args = ["--build-arg", f"PYTHON_IMAGE={base}"]
    if list(WHEEL_FOLDER.glob("torch-*.whl")):
        subprocess.run(
            [ROOT / "tools/image/torch_wheels.sh", WHEEL_FOLDER, TORCH_WHEELS], check=True
        )
        args += ["--build-arg", f"TORCH_WHEELS={TORCH_WHEELS}"]
    return args


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> Iterator[str]:
    """A database of this module's own, as a container reaches it (the socket mounted in)."""
    import asyncio

    name = f"images_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        admin = await asyncpg.connect(postgres.dsn)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres:@/{name}?host={PG_SOCKET_DIR}"
    asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def deployment(service: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((ROOT / "k8s" / "base" / f"{service}.yaml").read_text("utf-8"))
    return next(d for d in docs if d and d.get("kind") == "Deployment")


@dataclass
class Pod:
    """The pod of a Deployment, on Docker: its volumes, its containers' hardening."""

    service: str
    spec: dict[str, Any]
    models: Path
    volumes: dict[str, str] = field(default_factory=dict)  # pod volume -> docker volume
    containers: list[str] = field(default_factory=list)

    @property
    def image(self) -> str:
        return f"cadenza-{self.service}:{TAG}"

    def create_volumes(self) -> None:
        """An emptyDir is an empty folder the pod's fsGroup may write (the kubelet's chgrp
        and setgid); a fresh Docker volume, mounted with no copy of the image's files."""
        group = self.spec["securityContext"]["fsGroup"]
        for volume in self.spec.get("volumes", []):
            if "emptyDir" not in volume:
                continue
            name = f"cadenza-images-{self.service}-{volume['name']}-{uuid.uuid4().hex[:6]}"
            docker("volume", "create", name)
            self.volumes[volume["name"]] = name
            docker(
                "run", "--rm", "--user", "0", "--network", "none", "--entrypoint", "sh",
                "--mount", f"type=volume,src={name},dst=/v,volume-nocopy",
                self.image, "-c", f"chgrp {group} /v && chmod 2777 /v",
            )  # fmt: skip

    def run_args(self, container: dict[str, Any]) -> list[str]:
        pod_security = self.spec["securityContext"]
        security = container.get("securityContext", {})
        args = ["--network", "host", "--group-add", str(pod_security["fsGroup"])]
        if security.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if security.get("capabilities", {}).get("drop") == ["ALL"]:
            args += ["--cap-drop", "ALL"]
        if security.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        kinds = {v["name"]: v for v in self.spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):
            kind = kinds[mount["name"]]
            read_only = ",readonly" if mount.get("readOnly") else ""
            if "emptyDir" in kind:
                src = self.volumes[mount["name"]]
                spec = f"type=volume,src={src},dst={mount['mountPath']},volume-nocopy"
            elif "persistentVolumeClaim" in kind:  # the models' claim: a host folder
                spec = f"type=bind,src={self.models},dst={mount['mountPath']}"
            else:
                raise AssertionError(f"{self.service}: no stand-in for volume {kind}")
            args += ["--mount", spec + read_only]
        return args

    def command(self, container: dict[str, Any]) -> list[str]:
        """Kubernetes' command replaces the entrypoint, its args the image's CMD."""
        command: list[str] = container.get("command", [])
        args: list[str] = container.get("args", [])
        if command:
            return ["--entrypoint", command[0], self.image, *command[1:], *args]
        return [self.image, *args]

    def remove(self) -> None:
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes.values():
            docker("volume", "rm", "-f", name, check=False)


def service_env(service: str, port: int, nats: NatsServer, s3: str, database: str) -> list[str]:
    spec = SERVICES[service]
    env = {
        spec.port_var: str(port),
        spec.host_var: "127.0.0.1",
        "NATS_URL": nats.url,
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT_URL": s3,
        "S3_BUCKET": f"images-{service}",
        "S3_CREATE_BUCKET": "true",
        "S3_ACCESS_KEY_ID": "images-test",
        "S3_SECRET_ACCESS_KEY": "images-test",
        "LOG_FORMAT": "text",
    }
    if service in ("gateway", "catalog"):
        env["DATABASE_URL"] = database
    if service == "gateway":
        env["JWT_SECRET"] = secrets.token_urlsafe(32)
    return [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]


def wait_for(what: str, check: Any, timeout_s: float, logs: Any) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout_s:.0f} s (last: {last!r})\n{logs()}")


def ready(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as r:
            return int(r.status) if r.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


@pytest.mark.parametrize("service", SERVICES)
def test_image_builds_and_runs_as_its_manifest_says(
    service: str,
    build_args: list[str],
    report: Report,
    nats_server: NatsServer,
    s3_endpoint: str,
    postgres: Postgres,
    database: str,
    tmp_path: Path,
) -> None:
    image = f"cadenza-{service}:{TAG}"
    started = time.monotonic()
    build = subprocess.run(
        [DOCKER, "build", "--network", "host", *(["--no-cache"] if no_cache() else []),
         "--build-arg", f"SERVICE={service}", *build_args, "-t", image, str(ROOT)],
        env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert build.returncode == 0, f"docker build of {image} failed:\n{build.stderr[-6000:]}"
    seconds = time.monotonic() - started
    inspect = json.loads(docker("image", "inspect", image).stdout)[0]
    base = build_args[build_args.index("--build-arg") + 1].split("=", 1)[1]
    base_size = json.loads(docker("image", "inspect", base).stdout)[0]["Size"]
    report.rows[service] = (seconds, inspect["Size"], base_size)

    pod_spec = deployment(service)["spec"]["template"]["spec"]
    assert inspect["Config"]["User"] == f"{USER_ID}:{USER_ID}"
    assert pod_spec["securityContext"]["runAsUser"] == USER_ID, "the manifest runs the image's user"
    models = tmp_path / "models"
    models.mkdir(mode=0o755)
    pod = Pod(service, pod_spec, models)
    try:
        pod.create_volumes()
        for init in pod_spec.get("initContainers", []):
            name = f"cadenza-images-{service}-{init['name']}-{uuid.uuid4().hex[:6]}"
            pod.containers.append(name)
            done = docker(
                "run", "--name", name, *pod.run_args(init), *pod.command(init),
                check=False, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, f"init container {init['name']}: {done.stderr[-3000:]}"

        # PostgreSQL (pgserver) listens on a Unix socket only: the socket itself is mounted in.
        pg_socket = next(Path(postgres.socket_dir).glob(".s.PGSQL.*"))
        container = pod_spec["containers"][0]
        assert container["image"].split(":")[0] == f"cadenza-{service}"
        port = free_port()
        name = f"cadenza-images-{service}-{uuid.uuid4().hex[:6]}"
        pod.containers.append(name)
        docker(
            "run", "--detach", "--name", name, "--health-interval", "2s",
            "--mount", f"type=bind,src={pg_socket},dst={PG_SOCKET_DIR}/{pg_socket.name}",
            *pod.run_args(container),
            *service_env(service, port, nats_server, s3_endpoint, database),
            *pod.command(container),
        )  # fmt: skip

        def logs() -> str:
            out = docker("logs", "--tail", "60", name, check=False)
            return (out.stdout + out.stderr)[-5000:]

        def health() -> str | None:
            state = json.loads(docker("inspect", name).stdout)[0]["State"]
            assert state["Running"], f"{service} exited ({state['ExitCode']}):\n{logs()}"
            status: str = state["Health"]["Status"]
            return status if status == "healthy" else None

        wait_for(f"{service} is healthy", health, 240, logs)  # the image's HEALTHCHECK
        wait_for(f"{service} answers /health/ready with 200", lambda: ready(port), 120, logs)

        facts = docker(
            "exec", name, "python", "-c",
            "import os, pathlib, json;"
            "status = pathlib.Path('/proc/1/status').read_text().splitlines();"
            "uid = next(l.split()[1] for l in status if l.startswith('Uid:'));"
            "tries = {}\n"
            "for path in ('/probe', '/home/cadenza/probe', '/opt/venv/probe', '/tmp/probe'):\n"
            "    try:\n"
            "        open(path, 'w').close(); tries[path] = 'written'\n"
            "    except OSError as e:\n"
            "        tries[path] = e.strerror\n"
            "print(json.dumps({'uid': int(uid), 'me': os.getuid(), 'writes': tries}))",
        )  # fmt: skip
        seen = json.loads(facts.stdout)
        assert seen["uid"] == USER_ID and seen["me"] == USER_ID, seen
        writes = seen["writes"]
        assert writes.pop("/tmp/probe") == "written", "/tmp is the pod's writable volume"
        assert set(writes.values()) == {"Read-only file system"}, writes
        host = json.loads(docker("inspect", name).stdout)[0]["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]

        # Every native library finds the libraries it links (a system one the base lacks, a
        # vendored one a bad strip broke), but for the known optional ones.
        unresolved = docker("exec", name, "sh", "-c", UNRESOLVED_LIBRARIES).stdout.split()
        assert not set(unresolved) - OPTIONAL_LIBRARIES, unresolved
        if service in TORCH_SERVICES:
            product = docker("exec", name, "python", "-c", TORCH_SMOKE, timeout=120).stdout
            assert product.split() == ["14.0"], product
        if service == "catalog":  # the init container's copy is what numba reads
            cached = docker("exec", name, "sh", "-c", "find /opt/numba-cache -name '*.nbi'")
            assert len(cached.stdout.split()) >= 10, cached.stdout
    finally:
        pod.remove()

    target = SIZE_TARGETS_MB.get(service)
    if target is not None:
        size = inspect["Size"] / MB
        assert size <= target, f"{image} is {size:.0f} MB, over its {target} MB target"
