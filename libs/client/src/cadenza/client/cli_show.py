"""What the `cadenza` command line prints: uploads, jobs, songs and models as text, a job's
stages as progress bars, errors as one line.

Text from the server (statuses, names, reasons, titles) is never read as rich markup: both
consoles have markup off, and styles come from `Text` objects, so a title such as
"[red]Song" or a status the client does not know prints as it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from cadenza.client.async_client import Message
from cadenza.client.models import Job, ModelList, Song, Upload
from cadenza.client.sync_client import Cadenza

out = Console(markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False)

STATUS_STYLES = {
    "queued": "cyan",
    "running": "blue",
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
}
# Ids are copied from the tables into the next command: they are never cut.
ID_WIDTH = 36


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error(message: str) -> None:
    """An error, on one line of standard error (the terminal may still wrap it)."""
    err.print(Text.assemble(("error: ", "bold red"), one_line(message)), soft_wrap=True)


def note(message: str) -> None:
    """A line for the person at the terminal (standard error, so stdout stays the result)."""
    err.print(one_line(message), soft_wrap=True)


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def show_upload(upload: Upload, as_json: bool) -> None:
    if as_json:
        print_json(upload.raw)
        return
    out.print(
        Text.assemble(
            (upload.id, "bold"),
            f"  {upload.filename}  {upload.duration_s:.1f} s  {upload.sample_rate} Hz  "
            f"{upload.channels} ch  {upload.bytes} bytes",
        ),
        soft_wrap=True,
    )


def show_job(job: Job, as_json: bool) -> None:
    """The job, its stages and artifacts; a failure's reason is said once, by `job_ended`."""
    if as_json:
        print_json(job.raw)
        return
    out.print(
        Text.assemble((job.id, "bold"), f"  {job.kind}  ", status_text(job.status))
        + Text(f"  {job.progress:.0%}"),
        soft_wrap=True,
    )
    for stage in job.stages:
        line = Text(f"  {stage.name:<12} ") + status_text(f"{stage.status:<10}")
        out.print(line + Text(f" {stage.progress:>4.0%}  {_details(stage.details)}".rstrip()))
        for file in stage.details.get("files") or []:  # a model pull: what it computed
            out.print(f"    {file.get('name')}  sha256 {file.get('sha256')}", soft_wrap=True)
    for artifact in job.artifacts:
        out.print(f"  → {artifact.name}  {artifact.media_type}  {artifact.bytes} bytes")


def job_ended(job: Job) -> int:
    """0 for a completed job; otherwise its reason, once, on standard error, and 1."""
    if job.status == "completed":
        return 0
    reason = job.error or {}
    why = ": ".join(str(reason[k]) for k in ("code", "reason") if reason.get(k)) or "no reason"
    error(f"job {job.id} {job.status}: {why}")
    return 1


def _details(details: dict[str, Any]) -> str:
    shown = ("lufs", "true_peak_db", "model", "key", "tempo_bpm", "cache", "available")
    return "  ".join(f"{k}={details[k]}" for k in shown if k in details)


def id_table(*columns: str | Column, title: str | None = None) -> Table:
    """A table whose first column, an id, is always shown whole."""
    return Table(
        Column("id", no_wrap=True, min_width=ID_WIDTH),
        *columns,
        title=title,
        box=box.SIMPLE_HEAD,
    )


def print_rows(table: Table, rows: list[list[str | Text]]) -> None:
    """As a table where the terminal is wide enough for every cell whole; else one line a
    row, its cells two spaces apart (a table would squeeze them into ellipses)."""
    for row in rows:
        table.add_row(*row)
    if Measurement.get(out, out.options.update_width(1 << 16), table).maximum <= out.width:
        out.print(table)
        return
    for row in rows:
        line = Text("  ").join(
            Text(cell) if isinstance(cell, str) else cell for cell in row if cell
        )
        out.print(line, soft_wrap=True)


def show_songs(songs: list[Song], as_json: bool, *, ids_only: bool = False) -> None:
    if as_json:
        print_json([{**s.raw, "score": s.score} for s in songs])
        return
    if not songs:
        out.print("no songs found")
        return
    if ids_only:
        for song in songs:
            out.print(song.id)
        return
    table = id_table(Column("title", min_width=12), "artist", "key", "tempo", "score")
    rows: list[list[str | Text]] = []
    for song in songs:
        key = f"{song.key or ''} {song.mode or ''}".strip()
        tempo = f"{song.tempo_bpm:.0f} BPM" if song.tempo_bpm else ""
        score = f"{song.score:.3f}" if song.score is not None else ""
        rows.append([song.id, song.title, song.artist or "", key, tempo, score])
    print_rows(table, rows)


def show_jobs(jobs: Iterable[Job]) -> None:
    table = id_table("kind", "status", "progress", "created")
    rows: list[list[str | Text]] = [
        [job.id, job.kind, status_text(job.status), f"{job.progress:.0%}", job.raw["created_at"]]
        for job in jobs
    ]
    print_rows(table, rows)


def show_models(listed: ModelList) -> None:
    now = Table("name", "family", "stems", title="The workers run now", box=box.SIMPLE_HEAD)
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
        title="Known models (admins: cadenza models pull NAME)",
        box=box.SIMPLE_HEAD,
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


def _sdr(score: dict[str, Any]) -> str:
    figures = [f"avg {score['average_db']}"] if score.get("average_db") is not None else []
    figures += [f"{stem} {db}" for stem, db in (score.get("stems_db") or {}).items()]
    return ", ".join(figures)


# --- progress ----------------------------------------------------------------------------


def progress_columns(label: str = "{task.description:<12}") -> tuple[Any, ...]:
    """A label, the bar, the share done, the time since the stage started and the time
    left at its pace so far (estimated once it has moved)."""
    return (
        TextColumn(label, markup=False),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("elapsed", style="dim"),
        TimeElapsedColumn(),
        TextColumn("eta", style="dim"),
        TimeRemainingColumn(),
    )


class StageBars:
    """One progress bar per stage of a job, fed with its live messages; a stage's clock
    starts when it first moves."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}

    def _bar(self, stage: str) -> TaskID:
        if stage not in self.bars:
            self.bars[stage] = self.progress.add_task(stage, total=1.0, start=False)
        return self.bars[stage]

    def _move(self, stage: str, done: float, started: bool = False) -> None:
        bar = self._bar(stage)
        if (started or done > 0) and not self.progress.tasks[bar].started:
            self.progress.start_task(bar)
        self.progress.update(bar, completed=done)

    def __call__(self, message: Message) -> None:
        kind = message.get("type")
        stage = message.get("stage")
        if kind == "job.snapshot":
            for each in message.get("stages", []):
                self._move(each["name"], each["progress"], each.get("status") == "running")
        elif kind in ("job.progress", "stage.progress") and stage:
            self._move(stage, message["progress"])
        elif kind in ("stage.started", "job.stage_started") and stage:
            self._move(stage, 0.0, started=True)
        elif kind in ("job.stage_completed", "stage.completed", "job.completed") and stage:
            self._move(stage, 1.0)


def follow(api: Cadenza, job: Job, as_json: bool) -> Job:
    """The job's live messages as progress bars (none with --json), then the job at its end."""
    if as_json:
        return api.wait(job.id)
    with Progress(*progress_columns(), console=err) as progress:
        bars = StageBars(progress)
        for stage in job.stages:
            bars({"type": "job.progress", "stage": stage.name, "progress": stage.progress})
        return api.wait(job.id, bars)
