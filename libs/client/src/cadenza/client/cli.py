"""`cadenza`: the command line over the Python client.

Every command takes --url and --api-key (or CADENZA_URL and CADENZA_API_KEY) and --json for
scripts (one JSON document, or one JSON line per live message for `watch`). Commands that start
a job say its id as soon as the server accepts it, then follow it with a progress bar per stage
until it ends (--no-wait returns at once; Ctrl-C stops following, not the job) and download its
artifacts with --out. Every error is one line: the server's sentence, said once; exit 1 (2 for
a command line that cannot run, 130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.progress import Progress

from cadenza.client import requests
from cadenza.client.cli_input import (
    UsageError,
    api_problem,
    checked_stems,
    parse_chain,
    unreadable_input,
)
from cadenza.client.cli_show import (
    err,
    error,
    follow,
    job_ended,
    note,
    out,
    print_json,
    progress_columns,
    show_job,
    show_jobs,
    show_models,
    show_songs,
    show_upload,
)
from cadenza.client.errors import CadenzaError
from cadenza.client.live_file import stream_file
from cadenza.client.models import Job
from cadenza.client.sync_client import Cadenza
from cadenza.client.vocabulary import BLEND_ENGINES, MASTER_PRESETS, OUTPUT_FORMATS

INTERRUPTED = 130  # what a shell reports for a command ended by SIGINT


class FollowInterruptedError(Exception):
    """Ctrl-C while following a job: the job itself goes on."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


# --- commands ----------------------------------------------------------------------------


def out_folder(name: str) -> Path:
    """--out names a folder, made if missing."""
    folder = Path(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def source_upload(api: Cadenza, args: argparse.Namespace) -> str:
    if args.upload and args.file:
        raise UsageError(f"give FILE ({args.file}) or --upload ID, not both")
    if args.upload:
        return str(args.upload)
    if not args.file:
        raise UsageError("give an audio FILE to upload, or --upload ID of an earlier upload")
    upload = api.upload(args.file)
    if not args.json:
        note(f"uploaded {upload.filename} as {upload.id}")
    return upload.id


def run_job(api: Cadenza, args: argparse.Namespace, body: dict[str, Any]) -> int:
    return follow_job(api, args, api.submit(body))


def follow_job(api: Cadenza, args: argparse.Namespace, job: Job) -> int:
    """Show the queued job (--no-wait), or say its id, follow it to its end and download its
    artifacts (--out); 1 when it did not complete."""
    if args.no_wait:
        show_job(job, args.json)
        return 0
    job = follow_to_end(api, job, args.json, announce=not args.json)
    if getattr(args, "out", None) and job.status == "completed":
        folder = out_folder(args.out)
        for artifact in job.artifacts:
            path = api.download(artifact, folder)
            if not args.json:
                note(f"saved {path}")
    show_job(job, args.json)
    return job_ended(job)


def follow_to_end(api: Cadenza, job: Job, as_json: bool, *, announce: bool = False) -> Job:
    """Follow the job; Ctrl-C from the moment its id is said stops following, not the job."""
    try:
        if announce:
            note(f"job {job.id} {job.status}")
        return follow(api, job, as_json)
    except KeyboardInterrupt:
        raise FollowInterruptedError(job.id) from None


def cmd_upload(api: Cadenza, args: argparse.Namespace) -> int:
    show_upload(api.upload(args.file), args.json)
    return 0


def cmd_separate(api: Cadenza, args: argparse.Namespace) -> int:
    stems = checked_stems(api, args.stems) if args.stems else None
    body = requests.separation_job(
        source_upload(api, args),
        model=args.model,
        stems=stems,
        format=args.format,
        shifts=args.shifts,
        overlap=args.overlap,
        seed=args.seed,
    )
    return run_job(api, args, body)


def cmd_fx(api: Cadenza, args: argparse.Namespace) -> int:
    chain = parse_chain(args.chain, args.effect)
    body = requests.effects_job(source_upload(api, args), chain, format=args.format)
    return run_job(api, args, body)


def cmd_master(api: Cadenza, args: argparse.Namespace) -> int:
    if args.job:
        if not args.artifact:
            raise UsageError("--job needs --artifact NAME (the job's audio to master)")
        source = requests.artifact_source(args.job, args.artifact)
    else:
        source = requests.upload_source(source_upload(api, args))
    body = requests.master_job(
        source,
        preset=args.preset,
        target_lufs=args.target_lufs,
        true_peak_db=args.true_peak_db,
        format=args.format,
    )
    return run_job(api, args, body)


def cmd_render(api: Cadenza, args: argparse.Namespace) -> int:
    if args.job and args.song:
        raise UsageError("give a SONG or --job, not both")
    if args.job:
        source = requests.artifact_source(args.job, args.artifact)
    elif args.song:
        source = requests.song_source(args.song)
    else:
        raise UsageError("give a catalog SONG id, or --job ID (a blend) to render its MIDI")
    body = requests.render_job(
        source,
        soundfont=args.soundfont,
        sample_rate=args.sample_rate,
        stems=False if args.no_stems or args.preview_seconds else None,
        preview_seconds=args.preview_seconds,
        format=args.format,
    )
    return run_job(api, args, body)


def cmd_blend(api: Cadenza, args: argparse.Namespace) -> int:
    body = requests.blend_job(
        args.songs,
        length_bars=args.bars,
        tempo_bpm=args.tempo,
        key=args.key,
        style=args.style,
        creativity=args.creativity,
        seed=args.seed,
        lyrics=args.lyrics,
        engine=args.engine,
        ensemble=args.ensemble,
        temperature=args.temperature,
    )
    return run_job(api, args, body)


def cmd_jobs(api: Cadenza, args: argparse.Namespace) -> int:
    page = api.jobs(limit=args.limit, cursor=args.cursor)
    if args.json:
        print_json({"items": [j.raw for j in page.jobs], "next_cursor": page.next_cursor})
        return 0
    if not page.jobs:
        out.print("no jobs")
        return 0
    show_jobs(page.jobs)
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)
    return 0


def cmd_watch(api: Cadenza, args: argparse.Namespace) -> int:
    if args.json:
        last: dict[str, Any] = {}
        try:
            for message in api.watch(args.job):
                sys.stdout.write(json.dumps(message) + "\n")
                sys.stdout.flush()
                last = message
        except KeyboardInterrupt:
            raise FollowInterruptedError(args.job) from None
        return 0 if last.get("type") == "job.completed" else 1
    job = follow_to_end(api, api.job(args.job), as_json=False)
    show_job(job, False)
    return job_ended(job)


def cmd_cancel(api: Cadenza, args: argparse.Namespace) -> int:
    show_job(api.cancel(args.job), args.json)
    return 0


def cmd_download(api: Cadenza, args: argparse.Namespace) -> int:
    job = api.job(args.job)
    wanted = args.names or [a.name for a in job.artifacts]
    if not wanted:
        raise CadenzaError(0, f"job {job.id} has no artifacts ({job.status})")
    saved = []
    for name in wanted:
        try:
            artifact = job.artifact(name)
        except KeyError as e:
            raise CadenzaError(404, str(e.args[0])) from e
        saved.append(str(api.download(artifact, out_folder(args.out))))
    if args.json:
        print_json(saved)
    else:
        for path in saved:
            out.print(path, soft_wrap=True)
    return 0


def cmd_songs(api: Cadenza, args: argparse.Namespace) -> int:
    if args.songs_command == "similar":
        songs = api.similar_songs(args.song, args.k)
    else:
        songs = api.search_songs(args.query, key=args.key, limit=args.limit)
    show_songs(songs, args.json, ids_only=args.ids)
    return 0


def cmd_live(api: Cadenza, args: argparse.Namespace) -> int:
    chain = parse_chain(args.chain, args.effect)
    source = sys.stdin.buffer if args.file == "-" else Path(args.file)
    audio_out = args.out == "-"  # standard output carries the audio: the summary goes to stderr
    dest = sys.stdout.buffer if audio_out else Path(args.out)
    with Progress(*progress_columns("live"), console=err, disable=args.json) as bar:
        task = bar.add_task("live", total=None)
        run = api.run(
            stream_file(
                api.async_client,
                source,
                dest,
                chain,
                block_ms=args.block_ms,
                realtime=args.realtime,
                on_block=lambda done, total: bar.update(task, completed=done, total=total),
            )
        )
    if not run.round_trips_ms:
        raise CadenzaError(0, f"{args.file}: no audio in it")
    trips = sorted(run.round_trips_ms)
    summary = {
        "blocks": run.blocks,
        "block_ms": round(run.block_ms, 3),
        "seconds": round(run.seconds, 3),
        "round_trip_ms_p50": round(trips[len(trips) // 2], 3),
        "round_trip_ms_p99": round(trips[min(len(trips) - 1, int(len(trips) * 0.99))], 3),
        "out": args.out,
    }
    if args.json and not audio_out:
        print_json(summary)
    elif args.json:
        sys.stderr.write(json.dumps(summary) + "\n")
    else:
        line = (
            f"{summary['blocks']} blocks of {summary['block_ms']} ms → "
            f"{'standard output' if audio_out else args.out}; round trip "
            f"p50 {summary['round_trip_ms_p50']} ms, p99 {summary['round_trip_ms_p99']} ms"
        )
        note(line) if audio_out else out.print(line, soft_wrap=True)
    return 0


def cmd_models(api: Cadenza, args: argparse.Namespace) -> int:
    if args.models_command == "pull":
        return follow_job(api, args, api.pull_model(args.name))
    listed = api.models()
    if args.json:
        print_json(listed.raw)
    else:
        show_models(listed)
    return 0


def cmd_replay(api: Cadenza, args: argparse.Namespace) -> int:
    events = api.events(args.job)
    if args.json:
        for e in events:
            sys.stdout.write(json.dumps({"subject": e.subject, "event": e.event}) + "\n")
        return 0
    for e in events:
        stage = e.event.get("stage") or ""
        out.print(f"{e.occurred_at}  {e.subject:<28} {stage}", soft_wrap=True)
    return 0


# --- arguments ---------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _job_options(parser: argparse.ArgumentParser, *, audio_input: bool = True) -> None:
    if audio_input:
        parser.add_argument("file", nargs="?", help="audio file to upload and use")
        parser.add_argument("--upload", metavar="ID", help="an earlier upload instead of FILE")
    parser.add_argument("--out", metavar="DIR", help="download the artifacts here at the end")
    parser.add_argument(
        "--no-wait", action="store_true", help="print the queued job and return at once"
    )
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cadenza", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--url", help="API root (CADENZA_URL; default http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="API key or access token (CADENZA_API_KEY)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[Cadenza, argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run, parser=sub)
        return sub

    upload = command("upload", cmd_upload, "upload an audio file")
    upload.add_argument("file")

    separate = command("separate", cmd_separate, "split a track into stems")
    _job_options(separate)
    separate.add_argument(
        "--model",
        help="a name from `cadenza models` (htdemucs, bs_roformer_vocals, classical…) or "
        "an ensemble, ensemble:htdemucs_ft+bs_roformer_vocals (server default)",
    )
    separate.add_argument(
        "--stems",
        nargs="+",
        action="extend",
        metavar="STEM",
        help="the stems to keep (default: all): space- or comma-separated, "
        "e.g. --stems vocals drums; everything after --stems is a stem, so FILE goes first: "
        "cadenza separate song.wav --stems vocals drums",
    )
    separate.add_argument(
        "--shifts", type=int, help="Demucs test-time shifts, 0–10 (their paper used 10)"
    )
    separate.add_argument("--overlap", type=float, help="0–0.75 (default: the model's own)")
    separate.add_argument("--seed", type=int, help="draws the shifts (default 0)")

    fx = command("fx", cmd_fx, "run an effect chain on a track")
    _job_options(fx)
    fx.add_argument("--effect", action="append", metavar="TYPE[:k=v,…]", help="repeatable")
    fx.add_argument("--chain", metavar="JSON|@FILE", help="the whole chain as JSON")

    master = command("master", cmd_master, "master a track to a loudness target")
    _job_options(master)
    master.add_argument("--job", help="master an artifact of this job instead of a file")
    master.add_argument("--artifact", help="with --job: the artifact's name (e.g. mix.wav)")
    master.add_argument("--preset", choices=MASTER_PRESETS)
    master.add_argument("--target-lufs", type=float)
    master.add_argument("--true-peak-db", type=float)

    render = command(
        "render", cmd_render, "render a catalog song's or a blend's MIDI to audio (FluidSynth)"
    )
    _job_options(render, audio_input=False)
    render.add_argument("song", nargs="?", help="a catalog song id (`cadenza songs search`)")
    render.add_argument("--job", help="render a MIDI artifact of this job (a blend) instead")
    render.add_argument(
        "--artifact", default="blend.mid", help="with --job: the MIDI artifact (blend.mid)"
    )
    render.add_argument("--soundfont", help="a name from GET /api/v1/soundfonts (default: bundled)")
    render.add_argument("--sample-rate", type=int, metavar="HZ", help="default 44100")
    render.add_argument("--no-stems", action="store_true", help="the mix only, no stem per part")
    render.add_argument(
        "--preview-seconds",
        type=float,
        metavar="S",
        help="only the first S seconds (5–120), to preview.<ext>, without stems",
    )

    blend = command("blend", cmd_blend, "blend 2–5 catalog songs into a new piece")
    _job_options(blend, audio_input=False)
    blend.add_argument("songs", nargs="+", help='song ids or "Title - Artist"')
    blend.add_argument("--bars", type=int, help="length in bars")
    blend.add_argument("--tempo", type=float, help="tempo in BPM")
    blend.add_argument("--key", help='e.g. "A minor"')
    blend.add_argument("--style", help="the markov engine's band style (pop, rock, …)")
    blend.add_argument("--engine", choices=BLEND_ENGINES)
    blend.add_argument("--ensemble", help="the learned engine's instruments (choir, strings, …)")
    blend.add_argument("--creativity", type=float)
    blend.add_argument("--temperature", type=float)
    blend.add_argument("--seed", type=int)
    blend.add_argument("--lyrics")

    jobs = command("jobs", cmd_jobs, "list your jobs, newest first")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--cursor")

    watch = command("watch", cmd_watch, "follow a job live until it ends")
    watch.add_argument("job")

    cancel = command("cancel", cmd_cancel, "cancel a queued or running job")
    cancel.add_argument("job")

    download = command("download", cmd_download, "download a job's artifacts")
    download.add_argument("job")
    download.add_argument("names", nargs="*", help="artifact names (default: all)")
    download.add_argument("--out", default=".", metavar="DIR")

    songs = command("songs", cmd_songs, "search the catalog, or find similar songs")
    songs_commands = songs.add_subparsers(dest="songs_command", required=True, metavar="WHAT")
    search = songs_commands.add_parser("search", help="typo-tolerant title/artist search")
    search.add_argument("query", nargs="?")
    search.add_argument("--key")
    search.add_argument("--limit", type=int, default=20)
    similar = songs_commands.add_parser("similar", help="the songs most like one")
    similar.add_argument("song")
    similar.add_argument("-k", type=int, default=10)
    for each in (search, similar):
        each.add_argument("--ids", action="store_true", help="only the ids, one a line")

    live = command(
        "live", cmd_live, "stream 16-bit WAV audio through live effects, save or play the result"
    )
    live.add_argument(
        "file", help="16-bit PCM WAV, mono or stereo; - reads a WAV stream from standard input"
    )
    live.add_argument(
        "--out",
        required=True,
        help="where to write the processed WAV; - streams it to standard output (for a player)",
    )
    live.add_argument("--effect", action="append", metavar="TYPE[:k=v,…]", help="repeatable")
    live.add_argument("--chain", metavar="JSON|@FILE", help="the whole chain as JSON")
    live.add_argument("--block-ms", type=float, default=10.0, help="block length (default 10)")
    live.add_argument("--realtime", action="store_true", help="pace blocks like a sound card")

    models = command(
        "models", cmd_models, "separation models: list them (the default), or fetch one (admins)"
    )
    models_commands = models.add_subparsers(dest="models_command", metavar="WHAT")
    models_commands.add_parser("list", help="what the workers run now, and what they can fetch")
    pull = models_commands.add_parser("pull", help="have a separation worker fetch a known model")
    pull.add_argument("name", help="a name from `cadenza models`")
    pull.add_argument("--no-wait", action="store_true", help="return once the pull is queued")

    replay = command("replay", cmd_replay, "a job's history: every event it produced")
    replay.add_argument("job")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if problem := unreadable_input(args):
        error(problem)
        return 1
    try:
        with Cadenza(args.url, args.api_key) as api:
            code: int = args.run(api, args)
            return code
    except UsageError as e:
        args.parser.error(str(e))
    except CadenzaError as e:
        error(api_problem(e))
    except FollowInterruptedError as e:
        note(
            f"stopped following job {e.job_id}; it goes on on the server: "
            f"`cadenza watch {e.job_id}` follows it again, `cadenza cancel {e.job_id}` stops it"
        )
        return INTERRUPTED
    except KeyboardInterrupt:
        note("interrupted")
        return INTERRUPTED
    except OSError as e:  # a local file: --chain @FILE, --out, a download's folder
        where = f"{e.filename}: " if e.filename else ""
        error(f"{where}{(e.strerror or str(e)).lower()}")
    except Exception as e:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("CADENZA_DEBUG"):
            raise
        error(f"{type(e).__name__}: {e} (a fault in cadenza; CADENZA_DEBUG=1 shows where)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
