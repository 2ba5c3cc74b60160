"""Clients of a three-node JetStream cluster (real nats-servers on loopback) fail over to
the nodes they learn of, into the services' account, with the credentials of their URL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from cadenza.contracts.separation import CLASSICAL_INFO
from cadenza.contracts.streams import CANCELLATIONS_BUCKET
from cadenza.devstack.nats_cluster import NatsCluster
from cadenza.runtime.bus import (
    NOT_YET,
    connect_options,
    ensure_streams,
    key_value_bucket,
    make_broker,
)
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.model_registry import ModelRegistry
from cadenza.runtime.settings import BusSettings


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    running = NatsCluster(tmp_path / "nats")
    running.start()
    yield running
    running.stop()


async def _reaches_jetstream(nc: Client, timeout_s: float = 30) -> float:
    """Seconds until the client, connected again, has an answer from JetStream (a meta
    leader elected after a node is lost can take seconds; in TAP there is no JetStream:
    it never answers)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            if nc.is_connected:
                await nc.jetstream().account_info()
                return loop.time() - started
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error):
            pass
        assert loop.time() - started < timeout_s, f"no JetStream at {nc.connected_url}"
        await asyncio.sleep(0.2)


async def test_clients_given_one_node_fail_over_to_the_others_with_its_credentials(
    cluster: NatsCluster,
) -> None:
    # One node in the URL, as a Kubernetes service name gives it: the others come from the
    # server's INFO (connect_urls), without user or password.
    settings = BusSettings(nats_url=cluster.nodes[0].url)
    broker = make_broker(settings, name="cluster-test")
    plain = await nats.connect(**connect_options(settings), reconnect_time_wait=0.2)
    try:
        connection = await broker.connect()
        await _reaches_jetstream(plain)
        await _reaches_jetstream(connection)
        assert len(plain.discovered_servers) >= 2, "the cluster's other nodes were announced"
        cluster.kill_node(0)
        # Elsewhere now, and still in CADENZA: without the URL's credentials a discovered
        # node put the client in TAP (no_auth_user), where JetStream does not exist.
        for client in (plain, connection):
            await _reaches_jetstream(client)
            assert client.connected_url is not None
            assert client.connected_url.port != cluster.nodes[0].port
    finally:
        await broker.stop()
        await plain.close()


def test_the_urls_credentials_are_given_for_every_server() -> None:
    settings = BusSettings(nats_url="nats://svc:p%40ss@a:4222, nats://b:4222, nats://tok@c:4222")
    assert settings.nats_addresses == ["nats://a:4222", "nats://b:4222", "nats://tok@c:4222"]
    assert connect_options(settings)["user"] == "svc"
    assert connect_options(settings)["password"] == "p@ss"
    assert BusSettings(nats_url="nats://tok@c:4222").nats_user_password is None


async def test_buckets_are_replicated_like_the_streams_and_outlive_their_leader(
    cluster: NatsCluster,
) -> None:
    settings = BusSettings(nats_url=cluster.url)
    nc = await nats.connect(**connect_options(settings), reconnect_time_wait=0.2)
    try:
        js = nc.jetstream()
        # One made before, with one replica (as every bucket was): brought up to three.
        await key_value_bucket(js, "older", ttl_s=60, replicas=1)
        await ensure_streams(js, replicas=3)
        await key_value_bucket(js, "older", ttl_s=60)
        assert (await js.stream_info("KV_older")).config.num_replicas == 3
        cancellations = Cancellations(js)
        await cancellations.start()
        try:
            await cancellations.cancel("job-1", "asked")
            info = await js.stream_info(f"KV_{CANCELLATIONS_BUCKET}")
            assert info.config.num_replicas == 3
            assert info.cluster is not None and info.cluster.leader is not None
            # Its leader lost: the others elect one and still hold what it had.
            cluster.kill_node(cluster.index_of(info.cluster.leader))
            await _reaches_jetstream(nc)
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                try:
                    # (While electing, the API may answer that the stream is not found.)
                    entry = await (await js.key_value(CANCELLATIONS_BUCKET)).get("job-1")
                    break
                except (nats.errors.TimeoutError, nats.js.errors.Error):
                    assert asyncio.get_running_loop().time() < deadline, "bucket lost"
                    await asyncio.sleep(0.2)
            assert entry.value == b"asked"
        finally:
            await cancellations.stop()
    finally:
        await nc.close()


async def test_the_model_registry_answers_what_it_knew_while_jetstream_does_not(
    cluster: NatsCluster,
) -> None:
    """Every job submit reads the registry: during an election it answered 500 after 5 s."""
    nc = await nats.connect(**connect_options(BusSettings(nats_url=cluster.url)))
    try:
        js = nc.jetstream(timeout=1)
        await ensure_streams(js, replicas=3)
        registry = ModelRegistry(js, cache_s=0.1)
        await ModelRegistry(js).advertise([CLASSICAL_INFO])
        assert set(await registry.available()) == {CLASSICAL_INFO.name}
        never_answered = ModelRegistry(js, cache_s=0.1)
        cluster.kill()  # no JetStream anywhere
        await asyncio.sleep(0.2)
        assert set(await registry.available()) == {CLASSICAL_INFO.name}
        # Within `cache_s` again, without asking (not another timeout per call).
        started = asyncio.get_running_loop().time()
        assert set(await registry.available()) == {CLASSICAL_INFO.name}
        assert asyncio.get_running_loop().time() - started < 0.05
        with pytest.raises(nats.errors.Error):
            await never_answered.available()
    finally:
        with contextlib.suppress(ConnectionResetError):  # no server left to say goodbye to
            await nc.close()


async def test_streams_are_set_up_once_the_cluster_can(cluster: NatsCluster) -> None:
    """Services starting with (or before) their cluster wait for it, not exit."""
    nc = await nats.connect(**connect_options(BusSettings(nats_url=cluster.url)))
    try:
        cluster.kill_node(1)
        cluster.kill_node(2)  # one node of three: no quorum, no JetStream
        js = nc.jetstream(timeout=1)
        setting_up = asyncio.create_task(ensure_streams(js, replicas=3))
        cancellations = Cancellations(js)
        following = asyncio.create_task(cancellations.start())
        await asyncio.sleep(3)
        assert not setting_up.done(), "set up without a quorum?"
        assert not following.done()
        # Both back (a new stream of 3 replicas needs 3 nodes to place it on).
        # (From this thread: a child dies with the thread that started it.)
        cluster.start_node(1)
        cluster.start_node(2)
        await asyncio.wait_for(setting_up, 60)
        await asyncio.wait_for(following, 60)
        await cancellations.stop()
        assert (await js.stream_info("JOBS")).config.num_replicas == 3
        cluster.kill_node(1)
        cluster.kill_node(2)
        with pytest.raises(NOT_YET):  # and it gives up in the end
            await ensure_streams(js, replicas=3, patience_s=0.5)
    finally:
        with contextlib.suppress(ConnectionResetError):
            await nc.close()


# nats-py drops the stream writer of a connection it gave up on (stale, or a connect to the
# frozen node that timed out) without closing it: a ResourceWarning when it is collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_clients_leave_a_node_that_stops_answering_within_seconds(
    cluster: NatsCluster,
) -> None:
    """A node frozen (SIGSTOP: a paused VM, a partition) closes no connection: only the
    client's pings notice. At nats-py's default (a ping every 2 min, 2 outstanding) the
    services sat on a dead node for 4 minutes."""
    settings = BusSettings(nats_url=cluster.url)
    broker = make_broker(settings, name="frozen-test")
    connection = await broker.connect()
    try:
        await _reaches_jetstream(connection)
        ports = {node.port: index for index, node in enumerate(cluster.nodes)}
        assert connection.connected_url is not None and connection.connected_url.port
        index = ports[connection.connected_url.port]
        # A plain client on the same node first (the others after it).
        others = [n.url for i, n in enumerate(cluster.nodes) if i != index]
        first = [cluster.nodes[index].url, *others]
        plain = await nats.connect(
            **connect_options(BusSettings(nats_url=",".join(first))), dont_randomize=True
        )
        process = cluster.nodes[index].process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)
        try:
            started = asyncio.get_running_loop().time()
            for client in (connection, plain):
                while client.connected_url is None or client.connected_url.port == (
                    cluster.nodes[index].port
                ):
                    assert asyncio.get_running_loop().time() - started < 45, "still there"
                    await asyncio.sleep(0.2)
                await _reaches_jetstream(client)
        finally:
            os.kill(process.pid, signal.SIGCONT)
            await plain.close()
    finally:
        await broker.stop()
        gc.collect()  # those writers' warnings here, not in whichever test runs next
