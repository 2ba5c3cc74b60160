#!/usr/bin/env python3
"""TEST STAND-IN for MinIO's client `mc` (see this folder's Dockerfile): the two commands
docker-compose.yml runs, against an alias given as mc reads it from the environment,
MC_HOST_<alias>=http(s)://ACCESS_KEY:SECRET_KEY@HOST:PORT (%-encoded).

    mc ready ALIAS                         exit 0 when the S3 server answers
    mc mb [--ignore-existing|-p] ALIAS/BUCKET
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import boto3  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError


@dataclass(frozen=True)
class Alias:
    endpoint: str
    access_key: str
    secret_key: str


def alias(name: str) -> Alias:
    value = os.environ.get(f"MC_HOST_{name}")
    if not value:
        raise SystemExit(f"mc: no alias {name!r}: set MC_HOST_{name}")
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.hostname or url.username is None:
        raise SystemExit(f"mc: MC_HOST_{name} is not http(s)://KEY:SECRET@HOST:PORT")
    netloc = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
    return Alias(f"{url.scheme}://{netloc}", unquote(url.username), unquote(url.password or ""))


def ready(name: str) -> int:
    try:
        # alias() accepts http(s) only.
        with urllib.request.urlopen(alias(name).endpoint + "/", timeout=2):  # noqa: S310
            return 0
    except urllib.error.HTTPError as e:  # an S3 error answer: the server is up
        return 0 if e.code < 500 else 1
    except OSError as e:
        print(f"mc: {name} is not ready: {e}", file=sys.stderr)
        return 1


def make_bucket(target: str, ignore_existing: bool) -> int:
    name, sep, bucket = target.partition("/")
    if not sep or not bucket or "/" in bucket:
        raise SystemExit(f"mc: not ALIAS/BUCKET: {target!r}")
    where = alias(name)
    s3 = boto3.client(
        "s3",
        endpoint_url=where.endpoint,
        aws_access_key_id=where.access_key,
        aws_secret_access_key=where.secret_key,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if not (ignore_existing and code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")):
            print(f"mc: could not create {target}: {code or e}", file=sys.stderr)
            return 1
    except BotoCoreError as e:
        print(f"mc: could not create {target}: {e}", file=sys.stderr)
        return 1
    print(f"Bucket created successfully `{target}`.")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ready").add_argument("alias")
    mb = commands.add_parser("mb")
    mb.add_argument("--ignore-existing", "-p", action="store_true")
    mb.add_argument("target")
    args = parser.parse_args(argv)
    if args.command == "ready":
        return ready(args.alias)
    return make_bucket(args.target, args.ignore_existing)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
