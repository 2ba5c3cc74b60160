"""`cadenza-separation models list` and `cadenza-separation models pull NAME`: the known
models, and fetching one into MODEL_DIR on this machine (the settings are the worker's:
MODEL_DIR, MODEL_MIRROR_URL, MODEL_CATALOG_FILE). `cadenza-separation` alone runs the
worker (`__main__`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cadenza.contracts.model_catalog import KnownModel
from cadenza.separation.known_models import CatalogFileError, load_catalog, unknown_model
from cadenza.separation.model_fetch import FetchedFile, PullError, pull
from cadenza.separation.model_fetch import present as files_present
from cadenza.separation.settings import Settings

out = Console()
err = Console(stderr=True)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="cadenza-separation",
        description="Without arguments: run the separation worker. "
        "`models list` and `models pull NAME`: the models it can fetch.",
    )
    commands = top.add_subparsers(dest="command", metavar="models")
    models = commands.add_parser("models", help="list the known models, or fetch one")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every known model, and whether MODEL_DIR has it")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    fetching = actions.add_parser(
        "pull", help="fetch a model into MODEL_DIR (resumes a broken download)"
    )
    fetching.add_argument("name", help="a name from `models list`")
    fetching.add_argument(
        "--mirror",
        metavar="BASE_URL",
        help="fetch each file from BASE_URL/<file name> (default: MODEL_MIRROR_URL, else where "
        "it is published)",
    )
    fetching.add_argument("--model-dir", type=Path, help="default: MODEL_DIR")
    fetching.add_argument("--json", action="store_true", help="one JSON document")
    return top


def refused(sentence: str) -> int:
    err.print(f"[red]error:[/] {sentence}", highlight=False, soft_wrap=True)
    return 1


def main(argv: Sequence[str]) -> int:
    """Run a `models` command; the exit status (0 done, 1 refused or failed)."""
    args = parser().parse_args(argv)
    settings = Settings()
    try:
        catalog = load_catalog(settings.model_catalog_file)
    except CatalogFileError as e:
        return refused(str(e))
    model_dir: Path = getattr(args, "model_dir", None) or settings.model_dir
    if args.action == "list":
        show_catalog(catalog, model_dir, args.json)
        return 0
    model = catalog.get(args.name)
    if model is None:
        return refused(unknown_model(args.name, catalog))
    mirror = args.mirror or settings.model_mirror_url
    try:
        files = pull_with_progress(model, model_dir, mirror)
    except PullError as e:
        return refused(str(e))
    show_pulled(model, model_dir, files, args.json)
    return 0


def pull_with_progress(model: KnownModel, model_dir: Path, mirror: str | None) -> list[FetchedFile]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    told: set[str] = set()

    def waiting(name: str) -> None:
        if name not in told:
            told.add(name)
            err.print(f"waiting: another pull is fetching {name}", highlight=False, soft_wrap=True)

    with Progress(*columns, console=err) as progress:
        bar = progress.add_task(model.name, total=model.bytes)
        return pull(
            model,
            model_dir,
            mirror=mirror,
            progress=lambda done, _: progress.update(bar, completed=done),
            waiting=waiting,
        )


def show_catalog(catalog: dict[str, KnownModel], model_dir: Path, as_json: bool) -> None:
    models = sorted(catalog.values(), key=lambda m: m.name)
    if as_json:
        rows = [
            {**m.model_dump(mode="json"), "bytes": m.bytes, "present": files_present(m, model_dir)}
            for m in models
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for m in models:
        here = ", in MODEL_DIR" if files_present(m, model_dir) else ""
        checked = "" if m.fully_checksummed else ", not every file has a sha256"
        lines = [
            f"[bold]{m.name}[/]  ({m.family}, {m.bytes / 1e6:,.0f} MB{here}{checked})",
            f"  {m.description}",
            f"  stems: {', '.join(m.stems)}; {m.sample_rate} Hz",
        ]
        for score in m.published_sdr:
            figures = [f"average {score.average_db:.2f}"] if score.average_db is not None else []
            figures += [f"{stem} {db:.2f}" for stem, db in score.stems_db.items()]
            lines.append(f"  SDR (dB): {', '.join(figures)}; {score.dataset}; {score.source}")
        lines.append(
            f"  licence: {m.licence}" + (f" ({m.licence_source})" if m.licence_source else "")
        )
        out.print("\n".join(lines), highlight=False, soft_wrap=True)
    out.print(f"MODEL_DIR: {model_dir}", highlight=False, soft_wrap=True)


def show_pulled(
    model: KnownModel, model_dir: Path, files: list[FetchedFile], as_json: bool
) -> None:
    if as_json:
        body = {"model": model.name, "model_dir": str(model_dir), "files": [vars(f) for f in files]}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return
    for f in files:
        how = "already there" if f.already_present else f"{f.fetched:,} bytes fetched"
        if f.resumed_from:
            how += f", resumed after {f.resumed_from:,}"
        check = "matches the registry" if f.verified else "the registry has none: compare it"
        out.print(f"{f.name}  {how}  sha256 {f.sha256} ({check})", highlight=False, soft_wrap=True)
    out.print(
        f"[green]{model.name}[/] is in {model_dir} (licence: {model.licence})", soft_wrap=True
    )
