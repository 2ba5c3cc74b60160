"""Event replay for debugging: a job's history straight from JetStream, re-publishing it to
a debugging subject, and rebuilding the jobs projection from the streams.

    cadenza-replay history JOB_ID [--json]
    cadenza-replay republish JOB_ID [--prefix debug.replay]
    cadenza-replay rebuild --into postgresql://.../empty_db   (jobs and projects)
    cadenza-replay compare postgresql://.../a postgresql://.../b
    cadenza-replay dead-letters

NATS_URL and DATABASE_URL come from the environment, as for the services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from cadenza.contracts.envelope import Event
from cadenza.contracts.projects import ProjectEvent, decode_project_event
from cadenza.contracts.registry import decode_event
from cadenza.contracts.streams import ALL_STREAMS, DEAD_LETTERS, PROJECTS, StreamSpec
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.projection import Projection
from cadenza.gateway.projects.projection import fold as fold_project_event
from cadenza.runtime.bus import connect_options
from cadenza.runtime.settings import BusSettings

DEBUG_PREFIX = "debug.replay"


@dataclass(frozen=True)
class Recorded:
    stream: str
    seq: int
    subject: str
    data: bytes
    event: Event | None  # None: a subject or payload this version does not know


async def stream_messages(
    js: JetStreamContext, spec: StreamSpec, idle_s: float = 2.0
) -> AsyncIterator[Msg]:
    """Every message a stream holds now, oldest first (an ordered consumer per subject)."""
    try:
        info = await js.stream_info(spec.name)
    except nats.js.errors.NotFoundError:
        return
    if info.state.messages == 0:
        return
    for pattern in spec.subjects:
        sub = await js.subscribe(
            pattern, stream=spec.name, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=idle_s)
                except nats.errors.TimeoutError:
                    break
                yield msg
                if msg.metadata.num_pending == 0:
                    break
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def recorded_events(
    js: JetStreamContext,
    streams: Sequence[StreamSpec] = ALL_STREAMS,
    job_id: uuid.UUID | None = None,
) -> list[Recorded]:
    """The events of every stream (only `job_id`'s if given), in the order they happened."""
    needle = str(job_id).encode() if job_id else None
    found: list[Recorded] = []
    for spec in streams:
        async for msg in stream_messages(js, spec):
            if needle is not None and needle not in msg.data:
                continue
            try:
                event: Event | None = decode_event(msg.subject, msg.data)
            except (KeyError, ValidationError):
                event = None
            if job_id is not None and (event is None or event.job_id != job_id):
                continue
            found.append(
                Recorded(spec.name, msg.metadata.sequence.stream, msg.subject, msg.data, event)
            )
    found.sort(key=lambda r: (r.event.occurred_at.timestamp() if r.event else 0.0, r.stream, r.seq))
    return found


def describe(record: Recorded) -> str:
    event = record.event
    if event is None:
        return f"{record.stream}#{record.seq} {record.subject} (not decodable by this version)"
    data = event.model_dump(mode="json")
    interesting: dict[str, Any] = {
        key: data[key]
        for key in ("kind", "stage", "progress", "code", "reason", "job_finished", "stages")
        if key in data
    }
    if "outputs" in data:
        interesting["outputs"] = sorted(data["outputs"])
    when = event.occurred_at.isoformat(timespec="milliseconds")
    return f"{when} {record.stream}#{record.seq} {record.subject} {json.dumps(interesting)}"


async def republish(nc: Client, records: Sequence[Recorded], prefix: str) -> int:
    """Each event again on `<prefix>.<job_id>.<subject>`, core NATS only: no stream keeps
    it and no worker acts on it; subscribe with `nats sub '<prefix>.>'` to watch."""
    for record in records:
        job = record.event.job_id if record.event else "unknown"
        await nc.publish(
            f"{prefix}.{job}.{record.subject}",
            record.data,
            headers={"Cadenza-Stream": record.stream, "Cadenza-Sequence": str(record.seq)},
        )
    await nc.flush()
    return len(records)


async def rebuild(js: JetStreamContext, pool: asyncpg.Pool) -> int:
    """Fold every event of the streams into the (empty, migrated) database behind `pool`:
    the jobs projection, then the projects (each project's events in its own order)."""
    projection = Projection(pool)
    applied = 0
    for record in await recorded_events(js):
        if record.event is not None:
            await projection.apply(record.event)
            applied += 1
    return applied + await rebuild_projects(js, pool)


async def project_events(js: JetStreamContext) -> list[ProjectEvent]:
    """The PROJECTS stream's events, each project's in the order they were decided."""
    found: list[ProjectEvent] = []
    async for msg in stream_messages(js, PROJECTS):
        try:
            found.append(decode_project_event(msg.subject, msg.data))
        except (KeyError, ValidationError):
            continue  # a subject or payload this version does not know
    found.sort(key=lambda e: (str(e.project_id), e.sequence))
    return found


async def rebuild_projects(js: JetStreamContext, pool: asyncpg.Pool) -> int:
    applied = 0
    for event in await project_events(js):
        async with pool.acquire() as conn, conn.transaction():
            applied += await fold_project_event(conn, event)
    return applied


PROJECTION_COLUMNS = (
    "id, owner, kind, status, progress, stages, input, params, artifacts, error,"
    " idempotency_key, created_at, updated_at, finished_at, deleted_at, project_id"
)


async def projection_rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {PROJECTION_COLUMNS} FROM jobs ORDER BY id")
    return [dict(row) for row in rows]


# The projects' tables, each with the columns that identify a row.
PROJECT_TABLES: dict[str, tuple[str, ...]] = {
    "projects": ("id",),
    "project_members": ("project_id", "account_id"),
    "project_invitations": ("id",),
    "project_events": ("event_id",),
    "project_comments": ("id",),
    "project_approvals": ("id",),
}


async def project_rows(pool: asyncpg.Pool, table: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    key = PROJECT_TABLES[table]
    rows = await pool.fetch(f"SELECT * FROM {table}")
    # Where an event landed in the table is the database's, not the project's.
    return {
        tuple(row[k] for k in key): {c: v for c, v in row.items() if c != "position"}
        for row in rows
    }


async def compare(a: asyncpg.Pool, b: asyncpg.Pool) -> list[str]:
    """Differences between the projections of two databases (jobs, then projects), one
    line each (empty: identical)."""
    left = {row["id"]: row for row in await projection_rows(a)}
    right = {row["id"]: row for row in await projection_rows(b)}
    problems = [f"job {job} only in the first" for job in sorted(left.keys() - right.keys())]
    problems += [f"job {job} only in the second" for job in sorted(right.keys() - left.keys())]
    for job in sorted(left.keys() & right.keys()):
        for column, value in left[job].items():
            if right[job][column] != value:
                problems.append(f"job {job}: {column} {value!r} != {right[job][column]!r}")
    for table in PROJECT_TABLES:
        first, second = await project_rows(a, table), await project_rows(b, table)
        problems += [f"{table} {k} only in the first" for k in sorted(first.keys() - second.keys())]
        problems += [
            f"{table} {k} only in the second" for k in sorted(second.keys() - first.keys())
        ]
        for k in sorted(first.keys() & second.keys()):
            for column, value in first[k].items():
                if second[k][column] != value:
                    problems.append(f"{table} {k}: {column} {value!r} != {second[k][column]!r}")
    return problems


# ---- command line -----------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> int:
    settings = BusSettings()
    if args.command == "compare":
        first, second = await create_pool(args.first, 2), await create_pool(args.second, 2)
        try:
            problems = await compare(first, second)
        finally:
            await first.close()
            await second.close()
        print("\n".join(problems) if problems else "identical")
        return 1 if problems else 0
    nc = await nats.connect(**connect_options(settings))
    js = nc.jetstream()
    try:
        if args.command == "history":
            records = await recorded_events(js, job_id=args.job_id)
            for record in records:
                if args.json:
                    print(
                        json.dumps(
                            {
                                "stream": record.stream,
                                "seq": record.seq,
                                "subject": record.subject,
                                "event": json.loads(record.data),
                            }
                        )
                    )
                else:
                    print(describe(record))
            if not records:
                print(f"no events for job {args.job_id} in the streams", file=sys.stderr)
                return 1
        elif args.command == "republish":
            records = await recorded_events(js, job_id=args.job_id)
            count = await republish(nc, records, args.prefix)
            print(f"republished {count} events on {args.prefix}.{args.job_id}.>")
        elif args.command == "rebuild":
            pool = await create_pool(args.into, 4)
            try:
                await migrate(pool)
                if await pool.fetchval("SELECT count(*) FROM jobs") and not args.force:
                    print("the target database already has jobs; use an empty one", file=sys.stderr)
                    return 2
                applied = await rebuild(js, pool)
                jobs = await pool.fetchval("SELECT count(*) FROM jobs")
            finally:
                await pool.close()
            print(f"applied {applied} events; {jobs} jobs")
        elif args.command == "dead-letters":
            async for msg in stream_messages(js, DEAD_LETTERS):
                headers = msg.headers or {}
                print(
                    f"#{msg.metadata.sequence.stream} {headers.get('Cadenza-Subject')} from "
                    f"{headers.get('Cadenza-Stream')}#{headers.get('Cadenza-Sequence')} "
                    f"after {headers.get('Cadenza-Deliveries')} deliveries: {msg.data[:200]!r}"
                )
    finally:
        await nc.close()
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cadenza-replay", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    history = sub.add_parser("history", help="print a job's events from JetStream, in order")
    history.add_argument("job_id", type=uuid.UUID)
    history.add_argument("--json", action="store_true", help="one JSON object per line")
    again = sub.add_parser("republish", help="publish a job's events to a debugging subject")
    again.add_argument("job_id", type=uuid.UUID)
    again.add_argument("--prefix", default=DEBUG_PREFIX)
    rebuilding = sub.add_parser("rebuild", help="rebuild the jobs projection into a database")
    rebuilding.add_argument("--into", required=True, help="DSN of an empty database")
    rebuilding.add_argument("--force", action="store_true")
    comparing = sub.add_parser("compare", help="compare the jobs projections of two databases")
    comparing.add_argument("first")
    comparing.add_argument("second")
    sub.add_parser("dead-letters", help="list the commands kept in the dead-letter stream")
    sys.exit(asyncio.run(_main(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
