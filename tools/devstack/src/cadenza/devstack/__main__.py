"""`cadenza-dev up`: the whole platform on embedded defaults; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import threading
from pathlib import Path

from cadenza.devstack.platform import WORKERS, Platform


def _start_seed(platform: Platform, limit: int) -> subprocess.Popen[bytes] | None:
    """Seed the catalog once per data directory (a marker file remembers it)."""
    marker = platform.data_dir / "catalog-seeded"
    if limit <= 0 or marker.exists():
        return None
    print(f"seeding the catalog with {limit} songs of the music21 corpus in the background")
    process = platform.seed_catalog(limit)

    def remember() -> None:
        if process.wait() == 0:
            marker.write_text(f"{limit}\n")
            print(f"catalog seeded with the music21 corpus ({limit} songs)", flush=True)
        else:
            print("catalog seeding failed; see the output above", flush=True)

    threading.Thread(target=remember, daemon=True).start()
    return process


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
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    platform = Platform(
        args.data_dir,
        gateway_port=args.port,
        extra_env={"LOG_FORMAT": "text"},
    )
    print(f"starting nats-server, PostgreSQL, gateway and {', '.join(WORKERS)} ...", flush=True)
    try:
        with platform:
            print(
                f"\nCadenza is up: {platform.url}  (API docs: {platform.url}/docs)\n"
                f"data in {platform.data_dir}; press Ctrl-C to stop\n",
                flush=True,
            )
            seeding = _start_seed(platform, args.seed)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            print("\nstopping ...", flush=True)
            if seeding is not None and seeding.poll() is None:
                seeding.terminate()
    except KeyboardInterrupt:
        print("\nstopped while starting", file=sys.stderr)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
