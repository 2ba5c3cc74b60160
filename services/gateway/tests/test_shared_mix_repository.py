"""The shared mix in PostgreSQL: accepted updates survive a new pool (a gateway restart),
compaction keeps the same state, a refused update writes nothing, and concurrent appends
from two pools both end up in the state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pycrdt import Doc, Map

from cadenza.contracts.projects import ProjectSettings
from cadenza.gateway import shared_mix
from cadenza.gateway import shared_mix_repository as mixes
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.projects import repository as projects
from cadenza.gateway.shared_mix import MixUpdateRejectedError


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_database, size=4)
    await migrate(pool)
    yield pool
    await pool.close()


async def a_project(pool: asyncpg.Pool) -> uuid.UUID:
    """A project for the mix to belong to (its rows go with it)."""
    project_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await projects.insert_project(
            conn, project_id, "alice", ProjectSettings(name="Mix"), datetime.now(UTC)
        )
    return project_id


class Client:
    """A member's Y.Doc: edits it makes become the updates it sends."""

    def __init__(self, state: bytes, client_id: int) -> None:
        self.doc: Doc[Any] = Doc(client_id=client_id)
        self.doc.apply_update(state)

    def edit(self, change: Callable[[Map[Any]], None]) -> bytes:
        before = self.doc.get_state()
        change(self.doc.get("tracks", type=Map))
        return self.doc.get_update(before)


def set_control(track: str, control: str, value: Any) -> Callable[[Map[Any]], None]:
    def change(tracks: Map[Any]) -> None:
        if track not in tracks:
            tracks[track] = Map({control: value})
        else:
            tracks[track][control] = value

    return change


async def test_the_mix_survives_a_gateway_restart(fresh_database: str) -> None:
    first = await create_pool(fresh_database, size=2)
    await migrate(first)
    project = await a_project(first)
    assert await mixes.read_state(first, project) == (0, shared_mix.new_state())
    alice = Client(shared_mix.new_state(), client_id=1)
    await mixes.append(first, project, alice.edit(set_control("vocals", "gain", 0.7)), "alice")
    appended = await mixes.append(
        first, project, alice.edit(set_control("vocals", "mute", True)), "alice"
    )
    assert appended.seq == 2
    await first.close()

    restarted = await create_pool(fresh_database, size=2)
    seq, state = await mixes.read_state(restarted, project)
    await restarted.close()
    assert (seq, state) == (2, appended.state)
    assert shared_mix.as_json(state)["vocals"] == {
        "gain": 0.7, "pan": 0.0, "mute": True, "solo": False, "effects": {}
    }  # fmt: skip


async def test_a_refused_update_writes_nothing(pool: asyncpg.Pool) -> None:
    project = await a_project(pool)
    alice = Client(shared_mix.new_state(), client_id=1)
    await mixes.append(pool, project, alice.edit(set_control("vocals", "gain", 0.7)), "alice")
    with pytest.raises(MixUpdateRejectedError, match=r"the gain of track 'vocals' is 3\.0"):
        await mixes.append(pool, project, alice.edit(set_control("vocals", "gain", 3.0)), "a")
    seq, state = await mixes.read_state(pool, project)
    assert seq == 1
    assert shared_mix.as_json(state)["vocals"]["gain"] == 0.7
    rows = await pool.fetch(
        "SELECT seq, actor FROM shared_mix_updates WHERE project_id = $1", project
    )
    assert [(r["seq"], r["actor"]) for r in rows] == [(1, "alice")]


async def test_compaction_folds_updates_into_the_snapshot_and_keeps_the_state(
    pool: asyncpg.Pool,
) -> None:
    project, other = await a_project(pool), await a_project(pool)
    alice = Client(shared_mix.new_state(), client_id=1)
    expected = shared_mix.new_state()
    for i in range(mixes.COMPACT_EVERY * 2 + 30):
        update = alice.edit(set_control(f"t{i % 8}", "gain", round(i / 300, 3)))
        expected = shared_mix.apply_update(expected, update)
        appended = await mixes.append(pool, project, update, "alice")
    elsewhere = Client(shared_mix.new_state(), client_id=2)
    await mixes.append(pool, other, elsewhere.edit(set_control("x", "pan", 0.5)), "bob")
    assert appended.seq == 230
    # Folded at 100 and 200: 30 updates left, the state the same as applying all 230.
    assert await mixes.pending_updates(pool, project) == 30
    snapshot = await pool.fetchrow(
        "SELECT up_to_seq FROM shared_mix_snapshots WHERE project_id = $1", project
    )
    assert snapshot["up_to_seq"] == 200
    seq, state = await mixes.read_state(pool, project)
    assert seq == 230
    assert shared_mix.as_json(state) == shared_mix.as_json(expected) == alice_json(alice)
    assert shared_mix.state_vector(state) == shared_mix.state_vector(expected)

    assert await mixes.compact(pool, project) == 30
    assert await mixes.compact(pool, project) == 0
    assert await mixes.pending_updates(pool, project) == 0
    assert await mixes.read_state(pool, project) == (230, state)
    # The next update follows on from the snapshot's seq.
    appended = await mixes.append(pool, project, alice.edit(set_control("t0", "solo", True)), "a")
    assert appended.seq == 231
    assert (await mixes.read_state(pool, other))[0] == 1


def alice_json(alice: Client) -> dict[str, shared_mix.TrackMix]:
    return shared_mix.as_json(alice.doc.get_update())


async def test_concurrent_appends_from_two_connections_both_end_up_in_the_state(
    fresh_database: str, pool: asyncpg.Pool
) -> None:
    project = await a_project(pool)
    setup = Client(shared_mix.new_state(), client_id=1)
    start = (
        await mixes.append(pool, project, setup.edit(set_control("vocals", "gain", 1.0)), "alice")
    ).state
    other_pool = await create_pool(fresh_database, size=2)
    try:
        alice, bob = Client(start, client_id=2), Client(start, client_id=3)
        alice_updates = [alice.edit(set_control("vocals", "gain", i / 40)) for i in range(20)]
        bob_updates = [bob.edit(set_control("vocals", "pan", -i / 40)) for i in range(20)]
        bob_updates.append(bob.edit(set_control("bass", "mute", True)))

        async def send(p: asyncpg.Pool, updates: list[bytes], actor: str) -> list[int]:
            return [(await mixes.append(p, project, u, actor)).seq for u in updates]

        alice_seqs, bob_seqs = await asyncio.gather(
            send(pool, alice_updates, "alice"), send(other_pool, bob_updates, "bob")
        )
    finally:
        await other_pool.close()
    assert sorted(alice_seqs + bob_seqs) == list(range(2, 43))
    seq, state = await mixes.read_state(pool, project)
    assert seq == 42
    mix = shared_mix.as_json(state)
    assert (mix["vocals"]["gain"], mix["vocals"]["pan"]) == (19 / 40, -19 / 40)
    assert mix["bass"]["mute"] is True
    # Both members' replicas, given each other's updates, read the same mix.
    for client, theirs in ((alice, bob_updates), (bob, alice_updates)):
        for update in theirs:
            client.doc.apply_update(update)
        assert alice_json(client) == mix


async def test_a_read_during_appends_and_compactions_sees_every_update_up_to_its_seq(
    pool: asyncpg.Pool,
) -> None:
    project = await a_project(pool)
    alice = Client(shared_mix.new_state(), client_id=1)
    count = mixes.COMPACT_EVERY * 2 + 10
    updates = [alice.edit(set_control("t", "gain", i / count)) for i in range(count)]
    vectors, state = [shared_mix.state_vector(shared_mix.new_state())], shared_mix.new_state()
    for update in updates:
        state = shared_mix.apply_update(state, update)
        vectors.append(shared_mix.state_vector(state))
    done = asyncio.Event()

    async def write() -> None:
        for update in updates:
            await mixes.append(pool, project, update, "alice")
        done.set()

    async def read() -> list[int]:
        seen = []
        while not done.is_set():
            seq, state = await mixes.read_state(pool, project)
            if seq:
                # The gain the seq-th update set: nothing folded away or missing.
                assert shared_mix.state_vector(state) == vectors[seq]
                assert shared_mix.as_json(state)["t"]["gain"] == (seq - 1) / count
                seen.append(seq)
        return seen

    _, seen = await asyncio.gather(write(), read())
    assert len(set(seen)) > 10
    assert seen == sorted(seen)
    assert (await mixes.read_state(pool, project))[0] == count
