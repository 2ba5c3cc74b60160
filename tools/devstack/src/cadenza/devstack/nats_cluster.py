"""A JetStream cluster of nats-servers on loopback, configured as k8s/components/nats-cluster.

Each node is a `NatsServer` (the same accounts, CADENZA with one password for all nodes and
TAP for anonymous listeners, and `sync_interval`) plus a `server_name` and a `cluster {}`
block whose routes name every node's cluster port on 127.0.0.1. Ports are chosen once, so a
node killed and started again comes back where its peers and the clients look for it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cadenza.devstack.children import ServiceFailedError
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.ports import free_port

CLUSTER_NAME = "cadenza"


def _route_block(name: str, port: int, routes: list[int]) -> str:
    listed = "\n".join(f"    nats-route://127.0.0.1:{p}" for p in routes)
    return (
        f"server_name: {name}\n"
        "cluster {\n"
        f"  name: {CLUSTER_NAME}\n"
        f"  listen: 127.0.0.1:{port}\n"
        f"  routes: [\n{listed}\n  ]\n"
        "}\n"
    )


@dataclass
class NatsCluster:
    """`size` nats-servers forming one JetStream cluster; `url` lists them all, so clients
    fail over between them. Start with `start()`, or kill and start single nodes."""

    data_dir: Path
    size: int = 3
    sync_interval: str = "always"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    nodes: list[NatsServer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.size <= 5:
            raise ValueError(f"a cluster of {self.size} nodes: 1 to 5")
        cluster_ports = [free_port() for _ in range(self.size)]
        self.nodes = [
            NatsServer(
                self.data_dir / f"n{index}",
                port=free_port(),
                monitor_port=free_port(),
                sync_interval=self.sync_interval,
                password=self.password,
                extra_config=_route_block(self.name_of(index), port, cluster_ports),
            )
            for index, port in enumerate(cluster_ports)
        ]
        self._logs: list[Path | None] = [None] * self.size

    @staticmethod
    def name_of(index: int) -> str:
        return f"n{index}"

    def index_of(self, name: str) -> int:
        return [self.name_of(i) for i in range(self.size)].index(name)

    @property
    def url(self) -> str:
        """Every node, comma-separated, with the CADENZA account's credentials."""
        return ",".join(node.url for node in self.nodes)

    @property
    def tap_url(self) -> str:
        return ",".join(node.tap_url for node in self.nodes)

    def start(self, log_dir: Path | None = None, timeout_s: float = 60) -> None:
        """Start every node, then wait until JetStream is current on each."""
        for index, node in enumerate(self.nodes):
            self._logs[index] = log_dir / f"nats-{self.name_of(index)}.log" if log_dir else None
            if log_dir:
                log_dir.mkdir(parents=True, exist_ok=True)
            node.start(self._logs[index], timeout_s)
        for index in range(self.size):
            self.wait_current(index, timeout_s)

    def start_node(self, index: int, timeout_s: float = 60) -> None:
        """Start a node that was killed or stopped (same ports, same data) and wait until it
        has caught up with the others."""
        self.nodes[index].start(self._logs[index], timeout_s)
        self.wait_current(index, timeout_s)

    def kill_node(self, index: int) -> None:
        """SIGKILL one node."""
        self.nodes[index].kill()

    def freeze_node(self, index: int) -> None:
        """SIGSTOP one node: it keeps its connections open and answers nothing (a paused VM,
        a partition), until `thaw_node`."""
        process = self.nodes[index].process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)

    def thaw_node(self, index: int) -> None:
        process = self.nodes[index].process
        assert process is not None
        os.kill(process.pid, signal.SIGCONT)

    def running(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.process is not None]

    def monitor(self, index: int, path: str, timeout_s: float = 2) -> Any:
        """GET a monitoring endpoint of one node (JSON)."""
        port = self.nodes[index].monitor_port
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=timeout_s)
        return response.json()

    def is_current(self, index: int) -> bool:
        """/healthz answers 200 once the node's JetStream, its streams and consumers are
        current with their leaders."""
        port = self.nodes[index].monitor_port
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_current(self, index: int, timeout_s: float = 60) -> float:
        """Seconds until node `index` answered healthy."""
        started = time.monotonic()
        while not self.is_current(index):
            node = self.nodes[index]
            if node.process is None or node.process.poll() is not None:
                raise ServiceFailedError(f"nats node {index}", "exited", node.output())
            if time.monotonic() - started > timeout_s:
                raise ServiceFailedError(
                    f"nats node {index}",
                    f"JetStream not current within {timeout_s:.0f}s: "
                    + json.dumps(self.monitor(index, "/healthz")),
                    node.output(),
                )
            time.sleep(0.1)
        return time.monotonic() - started

    def stream_leader(self, stream: str, account: str = "CADENZA") -> str | None:
        """The name of the node leading `stream`, as a running node's /jsz says (None while
        an election is under way)."""
        for index in self.running():
            try:
                jsz = self.monitor(index, f"/jsz?acc={account}&streams=true")
            except (httpx.HTTPError, ValueError):
                continue
            for detail in jsz.get("account_details", []):
                for info in detail.get("stream_detail", []):
                    if info.get("name") == stream:
                        leader: str | None = info.get("cluster", {}).get("leader")
                        if leader:
                            return leader
        return None

    def stop(self, timeout_s: float = 10) -> None:
        for node in self.nodes:
            node.stop(timeout_s)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
