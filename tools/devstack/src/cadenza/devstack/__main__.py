"""`cadenza-dev up`: the whole platform on embedded defaults; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from cadenza.devstack.children import ServiceFailedError
from cadenza.devstack.nats import SERVICE_USER
from cadenza.devstack.platform import WORKERS, Platform
from cadenza.devstack.ports import cannot_listen, free_port_near

LOCK_FILE = "cadenza-dev.pid"


class CannotStartError(Exception):
    """Found before anything was started: a sentence saying what to do."""


def _start_seed(
    platform: Platform, limit: int, stop: threading.Event
) -> subprocess.Popen[bytes] | None:
    """Seed the catalog once per data directory (a marker file remembers it)."""
    marker = platform.data_dir / "catalog-seeded"
    if limit <= 0 or marker.exists():
        return None
    print(
        f"seeding the catalog with {limit} songs of the music21 corpus in the background",
        flush=True,
    )
    process = platform.seed_catalog(limit)

    def remember() -> None:
        if process.wait() == 0:
            marker.write_text(f"{limit}\n")
            print(f"catalog seeded with the music21 corpus ({limit} songs)", flush=True)
        elif stop.is_set():
            print("catalog seeding stopped; the next start goes on with it", flush=True)
        else:
            print("catalog seeding failed; see the output above", flush=True)

    threading.Thread(target=remember, daemon=True).start()
    return process


def check_port(port: int) -> None:
    """The gateway's port must be free before anything starts (every other port is picked
    free at start, and PostgreSQL listens on a Unix socket only)."""
    host = os.environ.get("HOST", "127.0.0.1")
    problem = cannot_listen(port, host)
    if problem is None:
        return
    other = free_port_near(port, host)
    if problem == "in use":
        raise CannotStartError(
            f"port {port} is already in use (another `make run`?); stop it or use "
            f"PORT={other} make run (cadenza-dev up --port {other})"
        )
    raise CannotStartError(
        f"cannot listen on {host} port {port}: {problem}; use PORT={other} make run "
        f"(cadenza-dev up --port {other})"
    )


def claim_data_dir(data_dir: Path) -> IO[str]:
    """Held while this process runs: two platforms on one data directory would share one
    PostgreSQL and fight over NATS's store."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise CannotStartError(
            f"the data directory {data_dir} is in use by another `make run` (cadenza-dev, "
            f"pid {holder}); stop it or use DATA_DIR=/tmp/cadenza-2 make run "
            "(cadenza-dev up --data-dir /tmp/cadenza-2)"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _run(platform: Platform, seed: int, stop: threading.Event) -> int:
    """Serve until Ctrl-C or SIGTERM (0), or until the gateway exits by itself (1)."""
    print(
        f"\nCadenza is up: {platform.url}  (API docs: {platform.url}/docs)\n"
        f"NATS (JetStream) listens at {platform.nats.tap_url}  (without credentials: every "
        "event once, read-only; the services' account CADENZA: user "
        f"{SERVICE_USER}, its password in {platform.nats.config_file})\n"
        f"data in {platform.data_dir}; press Ctrl-C to stop\n",
        flush=True,
    )
    seeding = _start_seed(platform, seed, stop)
    code = 0
    reported: set[str] = set()
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(1.0):
            for name, exit_code in platform.exited().items():
                if name in reported:
                    continue
                reported.add(name)
                service = platform.services[name]
                print(
                    f"\ncadenza-dev: the {name} service exited with code {exit_code}; "
                    f"its last lines:\n{service.output()}\n",
                    file=sys.stderr,
                    flush=True,
                )
            if "gateway" in reported:
                print("cadenza-dev: without the gateway nothing works", file=sys.stderr)
                code = 1
                break
    stop.set()
    # A second Ctrl-C must not cut the stop short (PostgreSQL would be left running).
    signal.signal(signal.SIGINT, lambda *_: print("still stopping ...", flush=True))
    print("\nstopping ...", flush=True)
    if seeding is not None and seeding.poll() is None:
        seeding.terminate()
    return code


def main() -> None:
    parser = argparse.ArgumentParser(prog="cadenza-dev", description=__doc__)
    parser.add_argument("command", choices=["up"], help="start everything")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="where NATS, PostgreSQL and artifacts keep their data (default: var)",
    )
    parser.add_argument("--port", type=int, default=8000, help="gateway port (default: 8000)")
    parser.add_argument(
        "--seed",
        type=int,
        default=500,
        metavar="N",
        help="on the first start, import N songs of the music21 corpus (default: 500; 0: none)",
    )
    parser.add_argument(
        "--gateways",
        type=int,
        default=1,
        choices=range(1, 9),
        metavar="N",
        help="N gateway replicas behind a round-robin proxy on --port (default: 1)",
    )
    args = parser.parse_args()

    try:
        check_port(args.port)
        lock = claim_data_dir(args.data_dir)
    except CannotStartError as e:
        print(f"cadenza-dev: {e}", file=sys.stderr)
        sys.exit(1)

    stop = threading.Event()
    starting = True

    def on_sigterm(*_: Any) -> None:
        stop.set()
        if starting:  # stop what has started, as Ctrl-C does
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    platform = Platform(
        args.data_dir,
        gateway_port=args.port,
        extra_env={"LOG_FORMAT": "text"},
        gateways=args.gateways,
    )
    print(f"starting nats-server, PostgreSQL, gateway and {', '.join(WORKERS)} ...", flush=True)
    code = 0
    try:
        with platform:
            starting = False
            code = _run(platform, args.seed, stop)
    except KeyboardInterrupt:
        print("\nstopped while starting", file=sys.stderr)
    except ServiceFailedError as e:
        print(
            f"\ncadenza-dev: {e}\ncadenza-dev: stopped everything it had started",
            file=sys.stderr,
            flush=True,
        )
        code = 1
    finally:
        lock.close()
    print("stopped", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
