#!/usr/bin/env python3
"""TEST STAND-IN for `minio server` (see this folder's Dockerfile): moto's S3 server on the
address MinIO would listen on, so compose's `command` for the real image works unchanged.

    minio server DIR... [--address [HOST]:PORT] [--console-address [HOST]:PORT]

DIR is accepted and unused (moto keeps objects in memory); there is no console.
"""

from __future__ import annotations

import argparse
import sys

from moto.server import main as moto_server


def listen_address(value: str) -> tuple[str, int]:
    """MinIO's `[HOST]:PORT`; an empty host means every address, as in MinIO."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not [HOST]:PORT: {value!r}")
    return (host.strip("[]") or "0.0.0.0", int(port))  # noqa: S104 - MinIO's default


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minio", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="serve S3 (moto)")
    server.add_argument("dirs", nargs="+", help="data folders (unused: moto is in memory)")
    server.add_argument("--address", type=listen_address, default=listen_address(":9000"))
    server.add_argument("--console-address", type=listen_address, default=None)
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    host, port = args.address
    print(f"minio stand-in: moto's S3 server on {host}:{port}", flush=True)
    # moto's server stops on SIGTERM (this is the container's first process).
    moto_server(["-H", host, "-p", str(port)])


if __name__ == "__main__":
    main(sys.argv[1:])
