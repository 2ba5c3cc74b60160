"""`cadenza-dev up` (what `make run` starts) serves the platform and Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from cadenza.devstack.ports import free_port

pytestmark = pytest.mark.platform


def test_dev_up_serves_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "cadenza.devstack",
        "up",
        "--data-dir",
        str(tmp_path / "var"),
        "--port",
        str(port),
        "--seed",
        "3",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        assert process.stdout is not None
        printed = b""
        while b"Cadenza is up" not in printed:  # printed once every service is ready
            line = process.stdout.readline()
            assert line, f"cadenza-dev exited before it was up: {printed.decode()}"
            printed += line
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert ready.status_code == 200
        # The first start seeds the catalog with the music21 corpus, in the background.
        while b"catalog seeded" not in printed:
            line = process.stdout.readline()
            assert line and b"seeding failed" not in line, printed.decode()
            printed += line
        songs = httpx.get(f"http://127.0.0.1:{port}/api/v1/songs", timeout=10).json()
        assert songs["total"] == 3
        assert all(hit["song"]["source"].startswith("music21:") for hit in songs["items"])
        assert (tmp_path / "var" / "catalog-seeded").exists()
        data_dir = str(tmp_path / "var")
        # PostgreSQL daemonizes (pg_ctl), so it is found by its data directory.
        children = psutil.Process(process.pid).children(recursive=True) + [
            p
            for p in psutil.process_iter(["cmdline"])
            if data_dir in " ".join(p.info["cmdline"] or []) and p.pid != process.pid
        ]
        names = " ".join(" ".join(c.cmdline()) for c in children)
        for expected in (
            "nats-server",
            "cadenza.gateway",
            "cadenza.effects",
            "cadenza.separation",
            "cadenza.catalog",
            "postgres",
        ):
            assert expected in names, expected
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output.decode()
        assert output.rstrip().endswith(b"stopped")
        # FastStream's supervisor logs (with a traceback) and restarts a pull consumer whose
        # fetch raised asyncio's TimeoutError, which nats-py sometimes does while stopping;
        # that is benign. Any other traceback is ours.
        benign = output.count(b"raised an exception, retrying")
        assert output.count(b"Traceback") == benign, output.decode()
        _, alive = psutil.wait_procs(children, timeout=15)
        assert [p.cmdline() for p in alive] == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
