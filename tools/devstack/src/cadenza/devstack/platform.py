"""The whole platform as child processes: nats-server, PostgreSQL, gateway, every worker."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from cadenza.devstack import children
from cadenza.devstack.children import (
    OutputTail,
    ServiceFailedError,
    spawn,
    standard_output,
    tail_of_file,
)
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.nats_cluster import NatsCluster
from cadenza.devstack.ports import free_port
from cadenza.devstack.postgres import Postgres
from cadenza.devstack.round_robin_proxy import ProxyThread, RoundRobinProxy

# Every worker service: its module, and the env var that sets its ops HTTP port.
WORKERS: dict[str, str] = {
    "effects": "cadenza.effects",
    "separation": "cadenza.separation",
    "catalog": "cadenza.catalog",
    "composition": "cadenza.composition",
    "render": "cadenza.render",
}


@dataclass
class Service:
    name: str
    module: str
    port: int
    env: dict[str, str]
    log_file: Path | None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Without a log file the output goes on to this process's standard output, and its last
    # lines are kept to say why the service failed.
    _output: OutputTail | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        out = self.log_file.open("ab") if self.log_file else None
        try:
            self.process = spawn(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=out or subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        finally:
            if out:
                out.close()  # the child holds its own descriptor
        self._output = (
            OutputTail(self.process.stdout, echo=standard_output()) if self.process.stdout else None
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        """The last lines it printed (its log file's, when it has one)."""
        return self._output.text() if self._output else tail_of_file(self.log_file)

    def failed(self, reason: str) -> ServiceFailedError:
        return ServiceFailedError(f"the {self.name} service", reason, self.output())

    def exit_code(self) -> int | None:
        """None while it runs (or was never started)."""
        return None if self.process is None else self.process.poll()

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = "not started"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise self.failed(f"exited with code {code} while starting")
            try:
                response = httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
                # Another process on the same port could answer: ready only while ours runs.
                if response.status_code == 200 and self.process.poll() is None:
                    return
                last = response.text
            except httpx.HTTPError as e:
                last = str(e)
            time.sleep(0.1)
        raise self.failed(f"was not ready within {timeout_s:.0f}s: {last}")

    def stop(self, timeout_s: float = 20) -> None:
        children.stop(self.process, timeout_s)
        self.process = None

    def kill(self) -> None:
        """Crash it (SIGKILL), for fault tests."""
        children.kill(self.process)
        self.process = None


@dataclass
class Platform:
    """Start with `with Platform(data_dir) as p:`; everything stops on exit, in reverse."""

    data_dir: Path
    gateway_port: int = 8000
    workers: tuple[str, ...] = tuple(WORKERS)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    # JetStream fsync: "always" (acknowledged = on disk) or a period such as "2m".
    nats_sync_interval: str = "always"
    # 3: a JetStream cluster of three nats-servers on loopback (`nats_cluster`), the
    # services given all three (they fail over) and their streams 3 replicas.
    nats_nodes: int = 1
    # 2 or more: that many gateway replicas ("gateway", "gateway-2", ...) on ports of their
    # own, behind a round-robin proxy on `gateway_port` (docs/architecture.md, "Running
    # several gateways").
    gateways: int = 1
    # How long each service may take to answer /health/ready (a loaded 2-core machine
    # imports torch and friends slowly).
    ready_timeout_s: float = 90
    # The one nats-server; with a cluster, its first node.
    nats: NatsServer = field(init=False)
    nats_cluster: NatsCluster | None = field(default=None, init=False)
    postgres: Postgres = field(init=False)
    services: dict[str, Service] = field(default_factory=dict, init=False)
    proxy: ProxyThread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        if self.nats_nodes > 1:
            self.nats_cluster = NatsCluster(
                self.data_dir / "nats", self.nats_nodes, self.nats_sync_interval
            )
            self.nats = self.nats_cluster.nodes[0]
        else:
            self.nats = NatsServer(self.data_dir / "nats", sync_interval=self.nats_sync_interval)
        self.postgres = Postgres(self.data_dir / "postgres")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def nats_url(self) -> str:
        """Where the services connect: the server, or every node of the cluster."""
        return self.nats_cluster.url if self.nats_cluster else self.nats.url

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "artifacts"

    def _log(self, name: str) -> Path | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def jwt_secret(self) -> str:
        """Kept in the data directory, so sign-ins survive a restart of `make run`."""
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def base_env(self) -> dict[str, str]:
        env = {
            # The one-command local start works without signing up; the environment may
            # override these (AUTH_MODE=required to try authentication locally).
            "AUTH_MODE": "dev",
            # One local person, not accounts to share a platform between: no rate limit, no
            # jobs-at-once limit, no storage quota (per-job budgets still hold).
            "RATE_LIMIT_PER_MINUTE": "0",
            "MAX_ACTIVE_JOBS": "0",
            "STORAGE_QUOTA_BYTES": "0",
            "JWT_SECRET": self.jwt_secret(),
            **os.environ,
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.postgres.dsn,
            "STORAGE_BACKEND": "local",
            "STORAGE_DIR": str(self.storage_dir),
            "MODEL_DIR": str(self.data_dir / "models"),
            "PYTHONUNBUFFERED": "1",
        }
        if self.nats_cluster:
            env["NATS_STREAM_REPLICAS"] = str(self.nats_nodes)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        if self.nats_cluster:
            self.nats_cluster.start(self.log_dir)
        else:
            self.nats.start(self._log("nats"))
        self.postgres.start()
        env = self.base_env()
        for replica in range(self.gateways):
            name = "gateway" if replica == 0 else f"gateway-{replica + 1}"
            port = self.gateway_port if self.gateways == 1 else free_port()
            self.services[name] = Service(
                name, "cadenza.gateway", port, {**env, "PORT": str(port)}, self._log(name)
            )
        for name in self.workers:
            port = free_port()
            self.services[name] = Service(
                name, WORKERS[name], port, {**env, "HTTP_PORT": str(port)}, self._log(name)
            )
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_ready(self.ready_timeout_s)
        # One that exited after it answered (say the gateway, when another process holds
        # its port and answered for it) has failed too.
        for service in self.services.values():
            if (code := service.exit_code()) is not None:
                raise service.failed(f"exited with code {code} while starting")
        if self.gateways > 1:
            replicas = [s for s in self.services.values() if s.module == "cadenza.gateway"]
            proxy = RoundRobinProxy(
                [("127.0.0.1", s.port) for s in replicas],
                host=env.get("HOST", "127.0.0.1"),
                port=self.gateway_port,
            )
            self.proxy = ProxyThread(proxy)
            self.proxy.start()

    def exited(self) -> dict[str, int]:
        """Services that were started and have exited since: name → exit code."""
        return {
            name: code
            for name, service in self.services.items()
            if (code := service.exit_code()) is not None
        }

    def seed_catalog(self, limit: int) -> subprocess.Popen[bytes]:
        """Import `limit` songs of the music21 corpus over the bus, in the background."""
        out = self._log("catalog-seed")
        stream = out.open("ab") if out else None
        try:
            return spawn(
                [
                    sys.executable,
                    "-m",
                    "cadenza.catalog.cli",
                    "seed",
                    "--limit",
                    str(limit),
                    "--workers",
                    "1",
                ],
                env=self.base_env(),
                stdout=stream,
                stderr=subprocess.STDOUT if stream else None,
            )
        finally:
            if stream:
                stream.close()

    def restart(self, name: str) -> None:
        service = self.services[name]
        service.stop()
        service.start()
        service.wait_ready(60)

    def stop(self, timeout_s: float = 20) -> None:
        """Services first (all at once), then nats-server and PostgreSQL."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        services = list(self.services.values())
        children.stop_all((service.process for service in services), timeout_s)
        for service in services:
            service.process = None
        if self.nats_cluster:
            self.nats_cluster.stop()
        else:
            self.nats.stop()
        self.postgres.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
