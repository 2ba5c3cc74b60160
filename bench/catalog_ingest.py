"""Catalog ingestion: MIDI songs per second through the bus (store, publish, analyse, embed,
insert, fact), and the time to seed the music21 corpus, on one catalog worker.

    .venv/bin/python -m bench.catalog_ingest [--songs 300] [--seed-limit 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import running_platform, save
from cadenza.catalog.bulk import SongFiles, run_bulk
from cadenza.catalog.settings import Settings
from cadenza.contracts.catalog import SongMetadata
from cadenza.devstack.music import song_midi


def midi_songs(n: int) -> list[SongFiles]:
    songs = []
    for i in range(n):
        data = song_midi(seed=1000 + i, minor=bool(i % 2), tempo=70 + i % 90, bars=16)
        meta = SongMetadata(title=f"Bench song {i}", artist="Bench", tags=("bench",))
        songs.append(SongFiles(meta, midi=data, midi_filename=f"bench-{i}.mid"))
    return songs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--songs", type=int, default=300)
    parser.add_argument("--seed-limit", type=int, default=500)
    parser.add_argument("--seed-workers", type=int, default=1)
    args = parser.parse_args()
    songs = midi_songs(args.songs)
    sizes = [len(s.midi or b"") for s in songs]
    with (
        tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp,
        running_platform(Path(tmp), WORKERS="catalog") as platform,
    ):
        env = platform.base_env()
        settings = Settings(
            nats_url=env["NATS_URL"],
            storage_dir=Path(env["STORAGE_DIR"]),
            database_url=env["DATABASE_URL"],
        )
        # Warm-up: the worker's first analyses (imports, numba) are not counted.
        warm = [
            SongFiles(
                SongMetadata(title=f"Warm {i}"), midi=song_midi(seed=90_000 + i), midi_filename="w"
            )
            for i in range(5)
        ]
        asyncio.run(run_bulk(settings, "bench", warm, timeout_s=300))
        outcome = asyncio.run(run_bulk(settings, "bench", songs, timeout_s=3600))
        ingest = {
            "songs": args.songs,
            "created": outcome.created,
            "failed": outcome.failed,
            "seconds": round(outcome.seconds, 2),
            "songs_per_second": round(outcome.created / outcome.seconds, 2),
            "mean_midi_bytes": round(sum(sizes) / len(sizes)),
        }
        print(json.dumps(ingest), flush=True)
        started = time.perf_counter()
        seeded = subprocess.run(
            [
                sys.executable,
                "-m",
                "cadenza.catalog.cli",
                "seed",
                "--limit",
                str(args.seed_limit),
                "--workers",
                str(args.seed_workers),
                "--json",
            ],
            env={**env, "LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            check=False,
        )
        seed_s = time.perf_counter() - started
        seed_result = json.loads(seeded.stdout.strip().splitlines()[-1]) if seeded.stdout else {}
    save(
        "catalog_ingest",
        {
            "worker_concurrency": settings.concurrency,
            "midi_through_bus": ingest,
            "seed_music21": {
                "limit": args.seed_limit,
                "converter_processes": args.seed_workers,
                "wall_s": round(seed_s, 1),
                **seed_result,
                "exit_code": seeded.returncode,
                "stderr_tail": seeded.stderr[-500:] if seeded.returncode else "",
            },
        },
    )


if __name__ == "__main__":
    main()
