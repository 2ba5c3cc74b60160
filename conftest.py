"""Real servers for the whole test suite: nats-server with JetStream, PostgreSQL with
pgvector, and an S3-speaking server (moto) on loopback. Started once per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from moto.server import ThreadedMotoServer

from cadenza.devstack.nats import NatsServer
from cadenza.devstack.ports import free_port
from cadenza.devstack.postgres import Postgres


# Suites too slow for `make test` (Docker image builds, compose, a NATS cluster losing nodes
# under hundreds of jobs, the autoscaling harness) are marked `deployed`: the default run skips
# them and says which make target runs them; `--deployed` (what those targets pass) runs them.
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deployed",
        action="store_true",
        help="also run the tests marked deployed (Docker, compose, the NATS cluster, autoscaling)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--deployed"):
        return
    for item in items:
        marker = item.get_closest_marker("deployed")
        if marker is not None:
            target = marker.kwargs.get("target", "its own make target")
            item.add_marker(pytest.mark.skip(reason=f"slow deployed suite: run by make {target}"))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = Postgres(tmp_path_factory.mktemp("pg"))
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def unique() -> str:
    """A short unique name, so tests sharing a server never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def fresh_database(postgres: Postgres, unique: str) -> AsyncIterator[str]:
    """A DSN for an empty database of its own."""
    import asyncpg

    name = f"t_{unique}"
    admin = await asyncpg.connect(postgres.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield postgres.dsn.replace("/cadenza?", f"/{name}?")
    admin = await asyncpg.connect(postgres.dsn)
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
def fresh_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server of its own, for tests whose durable consumers must start empty."""
    server = NatsServer(tmp_path_factory.mktemp("nats-fresh"))
    server.start()
    yield server
    server.stop()
