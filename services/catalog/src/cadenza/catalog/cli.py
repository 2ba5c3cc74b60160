"""`cadenza-catalog`: run the worker, apply migrations, import files, seed the corpus.

    cadenza-catalog [serve]                  run the catalog worker
    cadenza-catalog migrate                  apply database migrations and exit
    cadenza-catalog import PATH... [--title-from-filename] [--artist A] [--tags a,b] [--public]
    cadenza-catalog seed [--limit 500] [--workers 2]   the music21 corpus, as public songs

`import` and `seed` publish ingest jobs on the bus and wait for the catalog workers'
answers; they need the same NATS and storage settings as the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from cadenza.catalog import repository
from cadenza.catalog.bulk import (
    MIDI_SUFFIXES,
    Outcome,
    SongFiles,
    files_to_import,
    run_bulk,
)
from cadenza.catalog.settings import Settings
from cadenza.contracts.catalog import PUBLIC_OWNER, SongMetadata
from cadenza.runtime.logging import configure_logging

log = logging.getLogger("cadenza.catalog.cli")


def _import_songs(
    paths: list[Path], artist: str, tags: Sequence[str], public: bool
) -> Iterator[SongFiles]:
    for path in paths:
        title = path.stem.replace("_", " ").strip() or path.name
        try:
            meta = SongMetadata(
                title=title[:300],
                artist=artist,
                tags=tuple(tags),
                source=f"file:{path.name}"[:500],
                public=public,
            )
        except ValidationError as e:
            log.warning("skipping %s: %s", path, e.errors()[0]["msg"])
            continue
        if path.suffix.lower() in MIDI_SUFFIXES:
            yield SongFiles(meta, midi=path.read_bytes(), midi_filename=path.name)
        else:
            yield SongFiles(meta, audio=path, audio_filename=path.name)


def _seed_songs(limit: int | None, workers: int) -> Iterator[SongFiles]:
    from cadenza.music.corpus import iter_corpus  # music21 loads slowly: only when seeding

    for song in iter_corpus(limit=limit, workers=workers):
        meta = SongMetadata(
            title=song.title[:300],
            artist=song.artist[:300],
            tags=song.tags,
            source=song.source,
            public=True,
        )
        yield SongFiles(meta, midi=song.midi, midi_filename=f"{song.source.rsplit('/', 1)[-1]}.mid")


def _report(outcome: Outcome, as_json: bool) -> int:
    if as_json:
        print(
            json.dumps(
                {
                    "created": outcome.created,
                    "existing": outcome.existing,
                    "failed": outcome.failed,
                    "seconds": round(outcome.seconds, 2),
                    "failures": outcome.failures[:50],
                }
            )
        )
    else:
        print(
            f"{outcome.created} songs added, {outcome.existing} already there,"
            f" {outcome.failed} failed, in {outcome.seconds:.1f} s"
        )
        for failure in outcome.failures[:20]:
            print(f"  {failure}")
    return 1 if outcome.failed and not (outcome.created or outcome.existing) else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cadenza-catalog", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the catalog worker (the default)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    importing = sub.add_parser("import", help="ingest MIDI and audio files over the bus")
    importing.add_argument("paths", nargs="+", type=Path)
    importing.add_argument("--owner", default="local")
    importing.add_argument("--artist", default="")
    importing.add_argument("--tags", default="", help="comma-separated")
    importing.add_argument("--public", action="store_true")
    importing.add_argument("--timeout", type=float, default=3600.0)
    importing.add_argument("--json", action="store_true")
    seeding = sub.add_parser("seed", help="ingest the music21 corpus as public songs")
    seeding.add_argument("--limit", type=int, default=500)
    seeding.add_argument("--workers", type=int, default=1, help="processes converting scores")
    seeding.add_argument("--timeout", type=float, default=3600.0)
    seeding.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        from cadenza.catalog.__main__ import main as serve

        serve()
        return
    settings = Settings()
    configure_logging("catalog-cli", settings.log_level, "text")
    if command == "migrate":
        applied = asyncio.run(repository.migrate(settings.database_url))
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        return
    if command == "import":
        try:
            paths = files_to_import(args.paths)
        except FileNotFoundError as e:
            sys.exit(str(e))
        tags = [t for t in args.tags.split(",") if t.strip()]
        songs = _import_songs(paths, args.artist, tags, args.public)
        outcome = asyncio.run(run_bulk(settings, args.owner, songs, timeout_s=args.timeout))
    else:
        songs = _seed_songs(args.limit if args.limit > 0 else None, args.workers)
        outcome = asyncio.run(run_bulk(settings, PUBLIC_OWNER, songs, timeout_s=args.timeout))
    sys.exit(_report(outcome, args.json))


if __name__ == "__main__":
    main()
