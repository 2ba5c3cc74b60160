"""The fault tests' last check: the jobs tables the gateway folded live equal a rebuild of
them from the streams (`cadenza-replay`'s rebuild into an empty database, then compare)."""

from __future__ import annotations

import uuid

import asyncpg
import nats

from cadenza.devstack.platform import Platform
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.replay import compare, rebuild
from cadenza.runtime.bus import connect_options
from cadenza.runtime.settings import BusSettings


async def rebuilt_differences(platform: Platform) -> list[str]:
    """What differs between the live projection and one rebuilt from the streams (none: [])."""
    admin = await asyncpg.connect(platform.postgres.dsn)
    name = f"rebuilt_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    rebuilt_dsn = platform.postgres.dsn.replace("/cadenza?", f"/{name}?")
    live, rebuilt = await create_pool(platform.postgres.dsn, 2), await create_pool(rebuilt_dsn, 4)
    # As the services connect: the server, or every node of a cluster, with the account's login.
    nc = await nats.connect(**connect_options(BusSettings(nats_url=platform.nats_url)))
    try:
        await migrate(rebuilt)
        await rebuild(nc.jetstream(), rebuilt)
        return await compare(live, rebuilt)
    finally:
        await nc.close()
        await live.close()
        await rebuilt.close()
