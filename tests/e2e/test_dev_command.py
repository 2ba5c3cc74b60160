"""`cadenza-dev up` (what `make run` starts) serves the platform and Ctrl-C stops it all; a
busy port or a service that cannot start stops it before anything is left running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import psutil
import pytest
from nats.js.errors import ServiceUnavailableError

from cadenza.devstack.ports import free_port

pytestmark = pytest.mark.platform

# Generous: on a loaded 2-core machine six Python services importing torch, pedalboard and
# librosa at once take minutes, not seconds. A deadline only bounds a failing test.
UP_WITHIN_S = 300
SEEDED_WITHIN_S = 300
STOPPED_WITHIN_S = 180


class DevUp:
    """`cadenza-dev up` as a terminal would run it, its output read in a thread (so every
    wait has a deadline), and everything it started found again at the end, whatever
    happened: `close` kills what is left (its process group, the services in their own
    sessions, and PostgreSQL, which pg_ctl detaches from it)."""

    def __init__(self, data_dir: Path, port: int, *args: str, env: dict[str, str] | None = None):
        self.data_dir = data_dir
        command = [sys.executable, "-m", "cadenza.devstack", "up", "--data-dir", str(data_dir)]
        # A shell starts a background job with SIGINT ignored, and an ignored signal stays
        # ignored across exec (Python then installs no KeyboardInterrupt): whatever started
        # the tests, the dev stack gets a terminal's Ctrl-C.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.process = subprocess.Popen(
                [*command, "--port", str(port), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        finally:
            signal.signal(signal.SIGINT, previous)
        self.printed = b""
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # end of output

    def wait_for(self, text: bytes, timeout_s: float, refuse: bytes | None = None) -> None:
        """Until `text` has been printed; fails on `refuse`, an exit or the deadline."""
        deadline = time.monotonic() + timeout_s
        while text not in self.printed:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} within {timeout_s:.0f}s:\n{self.printed.decode()}"
                ) from None
            assert line, f"cadenza-dev exited before {text!r}:\n{self.printed.decode()}"
            self.printed += line
            assert refuse is None or refuse not in line, self.printed.decode()

    def wait_exit(self, timeout_s: float) -> int:
        """Its exit code, once it has exited and all its output is read; a stop that hangs
        fails with what it printed and what is still running."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            while not self._lines.empty():
                self.printed += self._lines.get()
            left = sorted(" ".join(p.cmdline()[:3]) for p in self.started() if p.is_running())
            raise AssertionError(
                f"still running {timeout_s:.0f}s after Ctrl-C: {left}\n{self.printed.decode()}"
            ) from None
        self._reader.join(timeout_s)
        while not self._lines.empty():
            self.printed += self._lines.get()
        return code

    def started(self) -> list[psutil.Process]:
        """Every process still running that it started: its descendants, and anything
        whose command line or environment names its data directory (PostgreSQL, and the
        services once it is gone)."""
        found: dict[int, psutil.Process] = {}
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                found[child.pid] = child
        marker = str(self.data_dir)
        for candidate in psutil.process_iter():
            if candidate.pid in (self.process.pid, os.getpid()):
                continue
            try:
                named = marker in " ".join(candidate.cmdline()) or any(
                    marker in value for value in candidate.environ().values()
                )
                if named:
                    found[candidate.pid] = candidate
                    for child in candidate.children(recursive=True):
                        found[child.pid] = child
            except psutil.Error:  # exited meanwhile, or someone else's
                continue
        return list(found.values())

    def close(self) -> None:
        """Kill whatever is still running (SIGKILL: a stuck stop must not outlive the test)."""
        left = self.started()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for process in left:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(left, timeout=30)
        self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def dev_up(tmp_path: Path) -> Iterator[list[DevUp]]:
    """Runs that the test starts; each one is cleaned up even if the test failed or timed out."""
    runs: list[DevUp] = []
    yield runs
    for run in runs:
        run.close()


async def stream_names(url: str) -> list[str]:
    """The JetStream streams of the NATS server at `url`."""
    client = await nats.connect(url, connect_timeout=10, max_reconnect_attempts=0)
    try:
        return [info.config.name or "" for info in await client.jetstream().streams_info()]
    finally:
        await client.close()


def names(processes: list[psutil.Process]) -> str:
    found = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found.append(" ".join(process.cmdline()))
    return "\n".join(found)


@pytest.mark.timeout(UP_WITHIN_S + SEEDED_WITHIN_S + STOPPED_WITHIN_S + 120)
def test_dev_up_serves_and_ctrl_c_stops_everything(tmp_path: Path, dev_up: list[DevUp]) -> None:
    port = free_port()
    data_dir = tmp_path / "var"
    run = DevUp(data_dir, port, "--seed", "3")
    dev_up.append(run)
    run.wait_for(b"Cadenza is up", UP_WITHIN_S)  # printed once every service is ready
    ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=30)
    assert ready.status_code == 200
    # It says where NATS listens and where the services' password is (never the password):
    # there, as the services' account, is the platform's JetStream; without credentials one
    # may only listen.
    run.wait_for(b"press Ctrl-C to stop", 10)
    printed = re.search(
        rb"NATS \(JetStream\) listens at nats://(127\.0\.0\.1:\d+) .* user (\w+), its password "
        rb"in (\S+)\)\n",
        run.printed,
    )
    assert printed, run.printed.decode()
    where, user, config = (part.decode() for part in printed.groups())
    assert Path(config).stat().st_mode & 0o077 == 0, "the password file is the owner's only"
    password = re.search(rf'user: {user}, password: "([^"]+)"', Path(config).read_text())
    assert password and password[1].encode() not in run.printed
    assert "JOBS" in asyncio.run(stream_names(f"nats://{user}:{password[1]}@{where}"))
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(stream_names(f"nats://{where}"))
    # The first start seeds the catalog with the music21 corpus, in the background.
    run.wait_for(b"catalog seeded", SEEDED_WITHIN_S, refuse=b"seeding failed")
    songs = httpx.get(f"http://127.0.0.1:{port}/api/v1/songs", timeout=30).json()
    assert songs["total"] == 3
    assert all(hit["song"]["source"].startswith("music21:") for hit in songs["items"])
    assert (data_dir / "catalog-seeded").exists()
    started = run.started()
    running = names(started)
    for expected in (
        "nats-server",
        "cadenza.gateway",
        "cadenza.effects",
        "cadenza.separation",
        "cadenza.catalog",
        "cadenza.composition",
        "cadenza.render",
        "postgres",
    ):
        assert expected in running, expected
    # Ctrl-C in a terminal signals the whole foreground process group.
    os.killpg(run.process.pid, signal.SIGINT)
    code = run.wait_exit(STOPPED_WITHIN_S)
    output = run.printed
    assert code == 0, output.decode()
    assert output.rstrip().endswith(b"stopped")
    # No traceback from start to stop (FastStream's restart of a pull loop whose fetch
    # raised asyncio's TimeoutError is left out of the logs: cadenza.runtime.bus).
    assert b"Traceback" not in output, output.decode()
    assert b"raised an exception" not in output, output.decode()
    _, alive = psutil.wait_procs(started, timeout=60)
    assert names(alive) == ""
    assert names(run.started()) == ""


def test_a_busy_port_stops_it_before_anything_starts(tmp_path: Path, dev_up: list[DevUp]) -> None:
    data_dir = tmp_path / "var"
    with socket.socket() as taken:  # what another `make run` would hold
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = DevUp(data_dir, port, "--seed", "3")
        dev_up.append(run)
        code = run.wait_exit(120)
    output = run.printed.decode()
    assert code == 1, output
    assert f"port {port} is already in use (another `make run`?); stop it or use PORT=" in output
    assert " make run" in output.split(f"port {port} is already in use", 1)[1]
    assert "starting nats-server" not in output
    assert not data_dir.exists(), "nothing was started, not even a data directory"
    assert names(run.started()) == ""


@pytest.mark.timeout(UP_WITHIN_S + STOPPED_WITHIN_S + 60)
def test_a_service_that_fails_to_start_stops_everything(
    tmp_path: Path, dev_up: list[DevUp]
) -> None:
    data_dir = tmp_path / "var"
    # The gateway refuses its settings and exits; the workers, nats-server and PostgreSQL
    # were started by then.
    run = DevUp(data_dir, free_port(), "--seed", "3", env={"AUTH_MODE": "bogus"})
    dev_up.append(run)
    code = run.wait_exit(UP_WITHIN_S + STOPPED_WITHIN_S)
    output = run.printed.decode()
    assert code == 1, output
    assert "cadenza-dev: the gateway service failed to start: exited with code 1" in output
    why = output.split("the gateway service failed to start", 1)[1]
    assert "last lines of its output:" in why
    assert "auth_mode" in why, "the reason, from the gateway's own output"
    assert "cadenza-dev: stopped everything it had started" in output
    assert "Cadenza is up" not in output
    assert "seeding" not in output
    assert (data_dir / "postgres").is_dir(), "PostgreSQL had been started"
    assert names(run.started()) == ""


def test_a_second_run_on_the_same_data_directory_is_refused(
    tmp_path: Path, dev_up: list[DevUp]
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    # The lock another `cadenza-dev up` holds, held here by a process that does nothing else.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(data_dir / 'cadenza-dev.pid')!r}, 'a+')\n"
            "fcntl.flock(f, fcntl.LOCK_EX); f.write('4242\\n'); f.flush()\n"
            "print('held', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        run = DevUp(data_dir, free_port(), "--seed", "0")
        dev_up.append(run)
        code = run.wait_exit(120)
    finally:
        holder.kill()
        holder.communicate()
    output = run.printed.decode()
    assert code == 1, output
    assert f"the data directory {data_dir} is in use by another `make run`" in output
    assert "pid 4242" in output
    assert "starting nats-server" not in output
    assert names(run.started()) == ""
