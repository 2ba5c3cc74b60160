"""The catalog's migrations on an empty database and on one that already has data."""

from __future__ import annotations

import asyncpg

from cadenza.catalog import repository
from cadenza.runtime.database import available_migrations


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'catalog'"
        )
        return {r["table_name"] for r in rows}
    finally:
        await conn.close()


async def test_empty_database_gets_every_migration_once(fresh_database: str) -> None:
    expected = [name for _, name, _ in available_migrations(repository.MIGRATIONS)]
    assert await repository.migrate(fresh_database) == expected
    assert await _tables(fresh_database) == {"songs", "song_assets", "fingerprints"}
    assert await repository.migrate(fresh_database) == []  # nothing left to do


async def test_existing_database_keeps_its_data(fresh_database: str) -> None:
    # Another service's tables (with a row) and the catalog's own rows are already there:
    # a restart's migrations change neither.
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY)")
        await conn.execute("INSERT INTO schema_migrations VALUES (1)")
        assert await repository.migrate(fresh_database)
        await conn.execute(
            "INSERT INTO catalog.songs (id, owner, title, source, analysis, embedding,"
            " search_trigrams, ingest_job_id) VALUES (gen_random_uuid(), 'me', 'Kept', 'test',"
            " '{}'::jsonb, $1::vector, '{}', gen_random_uuid())",
            "[" + ",".join(["0.125"] * 64) + "]",
        )
        assert await repository.migrate(fresh_database) == []
        assert await conn.fetchval("SELECT title FROM catalog.songs") == "Kept"
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
        versions = await conn.fetchval("SELECT count(*) FROM catalog_schema_migrations")
        assert versions == len(available_migrations(repository.MIGRATIONS))
    finally:
        await conn.close()


async def test_concurrent_starts_apply_migrations_once(fresh_database: str) -> None:
    import asyncio

    results = await asyncio.gather(*(repository.migrate(fresh_database) for _ in range(3)))
    applied = [names for names in results if names]
    assert len(applied) == 1
