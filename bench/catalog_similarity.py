"""Similarity search over 100k synthetic songs: HNSW (pgvector, cosine) against exact search
in the same run: latency p50/p95 and recall@10, in SQL and through the public API.

Songs are inserted straight into the catalog's table of a running embedded platform (their
embeddings drawn from 500 clusters in the 64-dimensional embedding space, like families of
similar songs; L2-normalised like real ones); the HNSW index is built after the bulk load,
as pgvector advises. Queries are the embeddings of random catalog songs (a song is never
its own answer, as in `GET /songs/{id}/similar`).

    .venv/bin/python -m bench.catalog_similarity [--songs 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
from pgvector.asyncpg import register_vector

from bench.common import percentile, running_platform, save
from cadenza.catalog.analysis.embedding import EMBEDDING_DIM
from cadenza.contracts.catalog import PUBLIC_OWNER

K = 10


def synthetic_embeddings(n: int, rng: np.random.Generator, clusters: int = 500) -> np.ndarray:
    if clusters == 0:  # no structure at all: the hardest case for an approximate index
        flat = rng.standard_normal((n, EMBEDDING_DIM)).astype(np.float32)
        flat /= np.linalg.norm(flat, axis=1, keepdims=True)
        return flat
    centres = rng.standard_normal((clusters, EMBEDDING_DIM)).astype(np.float32)
    members = rng.integers(0, clusters, n)
    spread = rng.uniform(0.2, 0.6, clusters).astype(np.float32)[members, None]
    vectors = centres[members] + spread * rng.standard_normal((n, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


async def load(dsn: str, vectors: np.ndarray) -> tuple[list[uuid.UUID], float, float]:
    conn = await asyncpg.connect(dsn)
    await register_vector(conn)
    ids = [uuid.uuid4() for _ in range(len(vectors))]
    try:
        await conn.execute("DROP INDEX IF EXISTS catalog.songs_embedding")
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "songs",
            schema_name="catalog",
            columns=[
                "id",
                "owner",
                "public",
                "title",
                "source",
                "analysis",
                "embedding",
                "search_trigrams",
                "ingest_job_id",
            ],
            records=(
                (i, PUBLIC_OWNER, True, f"Synthetic {n}", "bench", "{}", v, [], uuid.uuid4())
                for n, (i, v) in enumerate(zip(ids, vectors, strict=True))
            ),
        )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute(
            "CREATE INDEX songs_embedding ON catalog.songs"
            " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        indexed = time.perf_counter() - started
        await conn.execute("ANALYZE catalog.songs")
    finally:
        await conn.close()
    return ids, loaded, indexed


async def sql_search(
    dsn: str, vectors: np.ndarray, ids: list[uuid.UUID], queries: np.ndarray, ef: int
) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    await register_vector(conn)
    sql = (
        "SELECT id FROM catalog.songs s WHERE (s.public OR s.owner = $1) AND s.id <> $3"
        " ORDER BY s.embedding <=> $2 LIMIT $4"
    )
    hnsw_ms, exact_ms, recalls = [], [], []
    try:
        await conn.execute(f"SET hnsw.ef_search = {ef}")
        for q in queries:
            started = time.perf_counter()
            approx = await conn.fetch(sql, "bench", vectors[q], ids[q], K)
            hnsw_ms.append((time.perf_counter() - started) * 1000)
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_indexscan = off")
                started = time.perf_counter()
                exact = await conn.fetch(sql, "bench", vectors[q], ids[q], K)
                exact_ms.append((time.perf_counter() - started) * 1000)
            truth = {r["id"] for r in exact}
            recalls.append(len(truth & {r["id"] for r in approx}) / K)
        plan = "\n".join(
            row[0] for row in await conn.fetch("EXPLAIN " + sql, "bench", vectors[0], ids[0], K)
        )
    finally:
        await conn.close()
    return {
        "ef_search": ef,
        "hnsw_p50_ms": round(percentile(hnsw_ms, 50), 2),
        "hnsw_p95_ms": round(percentile(hnsw_ms, 95), 2),
        "exact_p50_ms": round(percentile(exact_ms, 50), 2),
        "exact_p95_ms": round(percentile(exact_ms, 95), 2),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "plan_uses_hnsw": "songs_embedding" in plan,
    }


def api_search(url: str, ids: list[uuid.UUID], queries: np.ndarray) -> dict[str, float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in queries[:20]:  # warm up
            client.get(f"/api/v1/songs/{ids[q]}/similar", params={"k": K}).raise_for_status()
        for q in queries:
            started = time.perf_counter()
            response = client.get(f"/api/v1/songs/{ids[q]}/similar", params={"k": K})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            assert len(response.json()["items"]) == K
    return {
        "api_p50_ms": round(percentile(latencies, 50), 2),
        "api_p95_ms": round(percentile(latencies, 95), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 64, 100])
    parser.add_argument(
        "--clusters", type=int, default=500, help="0: uniformly random directions (worst case)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    vectors = synthetic_embeddings(args.songs, rng, args.clusters)
    queries = rng.choice(args.songs, args.queries, replace=False)
    with (
        tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp,
        running_platform(Path(tmp), WORKERS="catalog") as platform,
    ):
        dsn = platform.postgres.dsn
        ids, loaded_s, indexed_s = asyncio.run(load(dsn, vectors))
        by_ef = [asyncio.run(sql_search(dsn, vectors, ids, queries, ef)) for ef in args.ef]
        through_api = api_search(platform.url, ids, queries)
    save(
        "catalog_similarity" if args.clusters else "catalog_similarity_uniform",
        {
            "songs": args.songs,
            "clusters": args.clusters,
            "dimensions": EMBEDDING_DIM,
            "queries": args.queries,
            "k": K,
            "load_s": round(loaded_s, 1),
            "hnsw_build_s": round(indexed_s, 1),
            "sql": by_ef,
            "api_similar_endpoint_default_ef": through_api,
            "targets": {"p95_ms": 10, "recall_at_10": 0.95},
        },
    )


if __name__ == "__main__":
    main()
