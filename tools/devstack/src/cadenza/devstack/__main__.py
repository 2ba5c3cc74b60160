"""`cadenza-dev up`: the whole platform on embedded defaults; Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from cadenza.devstack.platform import WORKERS, Platform


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
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
            print("\nstopping ...", flush=True)
    except KeyboardInterrupt:
        print("\nstopped while starting", file=sys.stderr)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
