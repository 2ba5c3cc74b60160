"""`cadenza`: the command line over the Python client.

Every command takes --url and --api-key (or CADENZA_URL and CADENZA_API_KEY) and --json for
scripts (one JSON document, or one JSON line per live message for `watch`). Commands that start
a job follow it with a progress bar per stage until it ends (--no-wait returns at once) and
download its artifacts with --out. Errors print the server's sentence and exit 1; a job that
fails exits 1 with its reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table

from cadenza.client import requests
from cadenza.client.async_client import Message
from cadenza.client.errors import CadenzaError
from cadenza.client.live_file import stream_file
from cadenza.client.models import Job, Song, Upload
from cadenza.client.sync_client import Cadenza
from cadenza.client.vocabulary import BLEND_ENGINES, EFFECTS, MASTER_PRESETS, OUTPUT_FORMATS

out = Console()
err = Console(stderr=True)


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2, like argparse's own)."""


# --- printing ----------------------------------------------------------------------------


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def show_upload(upload: Upload, as_json: bool) -> None:
    if as_json:
        print_json(upload.raw)
        return
    out.print(
        f"[bold]{upload.id}[/]  {upload.filename}  {upload.duration_s:.1f} s  "
        f"{upload.sample_rate} Hz  {upload.channels} ch  {upload.bytes} bytes"
    )


def show_job(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(job.raw)
        return
    colour = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(job.status, "")
    out.print(f"[bold]{job.id}[/]  {job.kind}  [{colour}]{job.status}[/]  {job.progress:.0%}")
    for stage in job.stages:
        details = _details(stage.details)
        out.print(f"  {stage.name:<12} {stage.status:<10} {stage.progress:>4.0%}  {details}")
        for file in stage.details.get("files") or []:  # a model pull: what it computed
            out.print(f"    {file.get('name')}  sha256 {file.get('sha256')}", highlight=False)
    for artifact in job.artifacts:
        out.print(f"  → {artifact.name}  {artifact.media_type}  {artifact.bytes} bytes")
    if job.error:
        out.print(f"  [red]{job.error.get('code')}: {job.error.get('reason')}[/]")


def _details(details: dict[str, Any]) -> str:
    shown = ("lufs", "true_peak_db", "model", "key", "tempo_bpm", "cache", "available")
    return "  ".join(f"{k}={details[k]}" for k in shown if k in details)


def show_songs(songs: list[Song], as_json: bool) -> None:
    if as_json:
        print_json([{**s.raw, "score": s.score} for s in songs])
        return
    table = Table("id", "title", "artist", "key", "tempo", "score")
    for song in songs:
        key = f"{song.key or ''} {song.mode or ''}".strip()
        tempo = f"{song.tempo_bpm:.0f}" if song.tempo_bpm else ""
        score = f"{song.score:.3f}" if song.score is not None else ""
        table.add_row(song.id, song.title, song.artist or "", key, tempo, score)
    out.print(table)


class StageBars:
    """One progress bar per stage of a job, fed with its live messages."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}

    def _bar(self, stage: str) -> TaskID:
        if stage not in self.bars:
            self.bars[stage] = self.progress.add_task(stage, total=1.0)
        return self.bars[stage]

    def __call__(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "job.snapshot":
            for stage in message.get("stages", []):
                self.progress.update(self._bar(stage["name"]), completed=stage["progress"])
        elif kind in ("job.progress", "stage.progress") and message.get("stage"):
            self.progress.update(self._bar(message["stage"]), completed=message["progress"])
        elif kind in ("job.stage_completed", "stage.completed", "job.completed") and message.get(
            "stage"
        ):
            self.progress.update(self._bar(message["stage"]), completed=1.0)


def follow(api: Cadenza, job: Job, as_json: bool) -> Job:
    """The job's live messages as progress bars (or JSON lines), then the job at its end."""
    if as_json:
        return api.wait(job.id)
    columns = (TextColumn("{task.description:<12}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=err) as progress:
        bars = StageBars(progress)
        for stage in job.stages:
            bars(
                {
                    "type": "job.progress",
                    "stage": stage.name,
                    "progress": stage.progress,
                }
            )
        return api.wait(job.id, bars)


# --- commands ----------------------------------------------------------------------------


def out_folder(name: str) -> Path:
    """--out names a folder, made if missing."""
    folder = Path(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def source_upload(api: Cadenza, args: argparse.Namespace) -> str:
    if args.upload:
        return str(args.upload)
    if not args.file:
        raise UsageError("give an audio FILE to upload, or --upload ID of an earlier upload")
    upload = api.upload(args.file)
    if not args.json:
        err.print(f"uploaded {upload.filename} as {upload.id}")
    return upload.id


def run_job(api: Cadenza, args: argparse.Namespace, body: dict[str, Any]) -> int:
    return follow_job(api, args, api.submit(body))


def follow_job(api: Cadenza, args: argparse.Namespace, job: Job) -> int:
    """Show the queued job (--no-wait), or follow it to its end and download its artifacts
    (--out); 1 when it did not complete."""
    if args.no_wait:
        show_job(job, args.json)
        return 0
    job = follow(api, job, args.json)
    if getattr(args, "out", None) and job.status == "completed":
        folder = out_folder(args.out)
        for artifact in job.artifacts:
            path = api.download(artifact, folder)
            if not args.json:
                err.print(f"saved {path}")
    show_job(job, args.json)
    if job.status != "completed":
        reason = (job.error or {}).get("reason", job.status)
        err.print(f"[red]job {job.status}: {reason}[/]")
        return 1
    return 0


def cmd_upload(api: Cadenza, args: argparse.Namespace) -> int:
    show_upload(api.upload(args.file), args.json)
    return 0


def cmd_separate(api: Cadenza, args: argparse.Namespace) -> int:
    stems = [s.strip() for s in args.stems.split(",")] if args.stems else None
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
    table = Table("id", "kind", "status", "progress", "created")
    for job in page.jobs:
        table.add_row(job.id, job.kind, job.status, f"{job.progress:.0%}", job.raw["created_at"])
    out.print(table)
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}")
    return 0


def cmd_watch(api: Cadenza, args: argparse.Namespace) -> int:
    if args.json:
        last: Message = {}
        for message in api.watch(args.job):
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()
            last = message
        return 0 if last.get("type") == "job.completed" else 1
    job = follow(api, api.job(args.job), as_json=False)
    show_job(job, False)
    return 0 if job.status == "completed" else 1


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
            out.print(path)
    return 0


def cmd_songs(api: Cadenza, args: argparse.Namespace) -> int:
    if args.songs_command == "similar":
        show_songs(api.similar_songs(args.song, args.k), args.json)
    else:
        show_songs(api.search_songs(args.query, key=args.key, limit=args.limit), args.json)
    return 0


def cmd_live(api: Cadenza, args: argparse.Namespace) -> int:
    chain = parse_chain(args.chain, args.effect)
    source = sys.stdin.buffer if args.file == "-" else Path(args.file)
    audio_out = args.out == "-"  # standard output carries the audio: the summary goes to stderr
    dest = sys.stdout.buffer if audio_out else Path(args.out)
    columns = (TextColumn("live"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=err, disable=args.json) as progress:
        task = progress.add_task("live", total=None)
        run = api.run(
            stream_file(
                api.async_client,
                source,
                dest,
                chain,
                block_ms=args.block_ms,
                realtime=args.realtime,
                on_block=lambda done, total: progress.update(task, completed=done, total=total),
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
        (err if audio_out else out).print(
            f"{summary['blocks']} blocks of {summary['block_ms']} ms → "
            f"{'standard output' if audio_out else args.out}; round trip "
            f"p50 {summary['round_trip_ms_p50']} ms, p99 {summary['round_trip_ms_p99']} ms"
        )
    return 0


def cmd_models(api: Cadenza, args: argparse.Namespace) -> int:
    if args.models_command == "pull":
        return follow_job(api, args, api.pull_model(args.name))
    listed = api.models()
    if args.json:
        print_json(listed.raw)
        return 0
    now = Table("name", "family", "stems", title="The workers run now")
    for model in listed.models:
        default = " (default)" if model.name == listed.default else ""
        now.add_row(model.name + default, model.family, ", ".join(model.stems))
    out.print(now)
    fetch = Table(
        "name",
        "size",
        "stems",
        "published SDR (dB)",
        "licence",
        "here",
        title=("Known models (admins: cadenza models pull NAME)"),
    )
    for known in listed.pullable:
        fetch.add_row(
            known.name,
            f"{known.size / 1e6:,.0f} MB",
            ", ".join(known.stems),
            "; ".join(_sdr(score) for score in known.published_sdr),
            known.licence,
            "yes" if known.available else "",
        )
    out.print(fetch)
    return 0


def _sdr(score: dict[str, Any]) -> str:
    figures = [f"avg {score['average_db']}"] if score.get("average_db") is not None else []
    figures += [f"{stem} {db}" for stem, db in (score.get("stems_db") or {}).items()]
    return ", ".join(figures)


def cmd_replay(api: Cadenza, args: argparse.Namespace) -> int:
    events = api.events(args.job)
    if args.json:
        for e in events:
            sys.stdout.write(json.dumps({"subject": e.subject, "event": e.event}) + "\n")
        return 0
    for e in events:
        stage = e.event.get("stage") or ""
        out.print(f"{e.occurred_at}  {e.subject:<28} {stage}")
    return 0


# --- arguments ---------------------------------------------------------------------------


def parse_chain(chain: str | None, effects: Sequence[str] | None) -> list[dict[str, Any]]:
    """--chain JSON (or @file.json), or --effect TYPE[:name=value,…] repeated."""
    if chain:
        text = Path(chain[1:]).read_text() if chain.startswith("@") else chain
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise UsageError(f"--chain is not JSON: {e}") from e
        if not isinstance(parsed, list):
            raise UsageError("--chain must be a JSON list of effects")
        return parsed
    if not effects:
        raise UsageError("give --effect TYPE[:param=value,…] (repeatable) or --chain JSON")
    return [parse_effect(spec) for spec in effects]


def parse_effect(spec: str) -> dict[str, Any]:
    """Names are checked here (before a file is uploaded for nothing); values by the server,
    which names any it refuses."""
    kind, _, rest = spec.partition(":")
    effect: dict[str, Any] = {"type": kind.strip()}
    params = EFFECTS.get(effect["type"])
    if params is None:
        raise UsageError(f"--effect {spec}: no effect {effect['type']!r} ({', '.join(EFFECTS)})")
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        name, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--effect {spec}: {pair!r} is not name=value")
        if name.strip() not in params:
            known = ", ".join(params) or "none"
            raise UsageError(f"--effect {spec}: {kind} has no {name.strip()!r} (it has: {known})")
        effect[name.strip()] = _number(value.strip())
    return effect


def _number(value: str) -> Any:
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def _job_options(parser: argparse.ArgumentParser, *, audio_input: bool = True) -> None:
    if audio_input:
        parser.add_argument("file", nargs="?", help="audio file to upload and use")
        parser.add_argument("--upload", metavar="ID", help="an earlier upload instead of FILE")
    parser.add_argument("--out", metavar="DIR", help="download the artifacts here at the end")
    parser.add_argument("--no-wait", action="store_true", help="return once the job is queued")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cadenza", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="API root (CADENZA_URL; default http://127.0.0.1:8000)")
    parser.add_argument("--api-key", help="API key or access token (CADENZA_API_KEY)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[Cadenza, argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    upload = command("upload", cmd_upload, "upload an audio file")
    upload.add_argument("file")

    separate = command("separate", cmd_separate, "split a track into stems")
    _job_options(separate)
    separate.add_argument(
        "--model",
        help="a name from `cadenza models list` (htdemucs, bs_roformer_vocals, classical…) or "
        "an ensemble, ensemble:htdemucs_ft+bs_roformer_vocals (server default)",
    )
    separate.add_argument("--stems", help="comma-separated stems to keep (default: all)")
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

    models = command("models", cmd_models, "separation models: list them, or fetch one (admins)")
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="WHAT")
    models_commands.add_parser("list", help="what the workers run now, and what they can fetch")
    pull = models_commands.add_parser("pull", help="have a separation worker fetch a known model")
    pull.add_argument("name", help="a name from `cadenza models list`")
    pull.add_argument("--no-wait", action="store_true", help="return once the pull is queued")

    replay = command("replay", cmd_replay, "a job's history: every event it produced")
    replay.add_argument("job")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with Cadenza(args.url, args.api_key) as api:
            code: int = args.run(api, args)
            return code
    except UsageError as e:
        parser.error(str(e))
    except CadenzaError as e:
        err.print(f"[red]error:[/] {e.detail}", highlight=False)
        for problem in e.errors:
            err.print(f"  {problem.get('field')}: {problem.get('message')}", highlight=False)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
