"""Separation quality on rendered multitrack songs: SDR and SIR per stem for every model the
separation service has, beside the trivial baseline that answers mix/4 for every stem.

Songs are drawn from seeds and rendered part by part with every SoundFont found
(`bench.multitrack`: drums, bass, chords → other, a voice-patch lead → vocals; the stems sum
to the mix exactly). Each mix is separated through the service's own code path —
`Separation.from_settings(Settings(model_dir=…))`, its model book, `Separation.plan` and
`pipeline.separate_file` — so every model the worker would advertise is measured, whatever
its family. Scores are BSSEval v4 (`bench.bsseval`: museval's metrics, SiSEC's settings):
per track the median over 1-s windows, per stem the median over tracks.

Models with random weights (the test checkpoints `cadenza.devstack` builds) are not a quality
measure: they are run and scored on a separate "smoke" line, marked as such, and left out of
the table. A model is taken for one when its Demucs checkpoints carry no `training_args`
(every checkpoint demucs trains and publishes does), or when it scores below the mix/4
baseline on every stem.

    .venv/bin/python -m bench.separation_quality [--songs 4] [--seconds 20] [--quick]
        [--model-dir var/models] [--models classical htdemucs] [--fonts TimGM6mb …]

Two to five minutes on 2 cores with the classical method alone (defaults: 4 songs × 20 s ×
every SoundFont); `--quick` is a one-song smoke run (about 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import statistics
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bench.bsseval import Evaluator
from bench.common import save
from bench.multitrack import SAMPLE_RATE, STEMS, Song, Track, render_track
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.separation import ModelInfo
from cadenza.contracts.separation_options import SeparationOptions
from cadenza.render.engine.soundfonts import find_soundfonts
from cadenza.separation.app import Separation
from cadenza.separation.pipeline import separate_file
from cadenza.separation.settings import Settings

BASELINE = "mix/4"
# A model without all four stems but with vocals is scored on vocals against the rest.
TWO_STEMS = ("vocals", "accompaniment")
TWO_BASELINE = "mix/2"


@dataclass
class ModelRun:
    """One model's estimates over the test set."""

    name: str
    layout: tuple[str, ...]  # the references it is scored against
    smoke: str | None  # why its figures are no quality measure, or None
    estimates: list[np.ndarray] = field(default_factory=list)  # per track [stems, frames, 2]
    seconds: float = 0.0


def _stems_in(layout: tuple[str, ...], stems: dict[str, np.ndarray], mix: np.ndarray) -> np.ndarray:
    """A model's stems in `layout`'s order: 6-stem models' guitar and piano count as other;
    a one-target model's complement (instrumental/other) is its accompaniment."""
    if layout == STEMS:
        out = [stems[s] for s in STEMS]
        for extra in ("guitar", "piano"):
            if extra in stems:
                out[STEMS.index("other")] = out[STEMS.index("other")] + stems[extra]
        return np.stack(out)
    vocals = stems["vocals"]
    return np.stack([vocals, mix - vocals])


def _layout(info: ModelInfo) -> tuple[str, ...] | None:
    if set(STEMS) <= set(info.stems):
        return STEMS
    if "vocals" in info.stems:
        return TWO_STEMS
    return None


def _random_weights(separation: Separation, info: ModelInfo) -> str | None:
    """Why `info` looks like a random-weight test model, or None."""
    if info.family != "demucs":
        return None
    available = getattr(separation.book.catalog, "available", None)
    files = available().get(info.name, []) if callable(available) else []
    import torch

    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            package = torch.load(path, "cpu", weights_only=False)
        if isinstance(package, dict) and "training_args" not in package:
            return f"{Path(path).name} has no training_args: a random-weight test checkpoint"
    return None


async def separate_all(
    tracks: list[Track], model_dir: Path, wanted: list[str] | None, root: Path
) -> list[ModelRun]:
    """Every model (or those `wanted`) over every track, through the service's code."""
    separation = Separation.from_settings(Settings(model_dir=model_dir))
    runs: list[ModelRun] = []
    try:
        models = separation.book.refresh()
        print(f"models in {model_dir}: {', '.join(sorted(models))}", flush=True)
        for name, info in sorted(models.items()):
            if wanted and name not in wanted:
                continue
            layout = _layout(info)
            if layout is None:
                print(f"  {name}: skipped (stems {', '.join(info.stems)}: no vocals)")
                continue
            run = ModelRun(name, layout, _random_weights(separation, info))
            plan = await separation.plan(info, SeparationOptions())
            for index, track in enumerate(tracks):
                mix_path = track.write_mix(root / f"mix{index}.wav")
                outputs = {stem: root / f"{name}-{index}-{stem}.wav" for stem in plan.sources}
                started = time.perf_counter()
                await asyncio.to_thread(
                    separate_file, mix_path, outputs, plan, OutputFormat(bit_depth=32)
                )
                run.seconds += time.perf_counter() - started
                stems = {s: sf.read(str(p), dtype="float32")[0] for s, p in outputs.items()}
                run.estimates.append(_stems_in(layout, stems, track.mix))
                for path in outputs.values():
                    path.unlink()
            audio = sum(len(t.mix) for t in tracks) / SAMPLE_RATE
            print(
                f"  {name}: {run.seconds:.1f} s for {audio:.0f} s of audio"
                f" (real-time factor {audio / run.seconds:.1f})",
                flush=True,
            )
            runs.append(run)
    finally:
        await asyncio.to_thread(separation.batcher.close)
    return runs


def _score_track(
    references: np.ndarray, estimate_sets: list[np.ndarray]
) -> list[dict[str, list[float]]]:
    evaluator = Evaluator(references, SAMPLE_RATE)
    return [evaluator.scores(estimates) for estimates in estimate_sets]


def _references(track: Track, layout: tuple[str, ...]) -> np.ndarray:
    if layout == STEMS:
        return np.stack([track.stems[s] for s in STEMS])
    vocals = track.stems["vocals"]
    return np.stack([vocals, track.mix - vocals])


def score_all(
    tracks: list[Track], runs: list[ModelRun], workers: int
) -> dict[str, list[dict[str, list[float]]]]:
    """Method → per-track scores, the baselines included; tracks in parallel processes."""
    layouts = sorted({run.layout for run in runs} | {STEMS})
    jobs = []
    for layout in layouts:
        members = [run for run in runs if run.layout == layout]
        baseline = BASELINE if layout == STEMS else TWO_BASELINE
        names = [baseline, *(run.name for run in members)]
        for index, track in enumerate(tracks):
            trivial = np.repeat(track.mix[None] / len(layout), len(layout), axis=0)
            sets = [trivial, *(run.estimates[index] for run in members)]
            jobs.append((names, _references(track, layout), sets))
    results: dict[str, list[dict[str, list[float]]]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [(names, pool.submit(_score_track, refs, sets)) for names, refs, sets in jobs]
        for names, future in futures:
            for name, scores in zip(names, future.result(), strict=True):
                results.setdefault(name, []).append(scores)
    return results


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def summarise(
    per_track: list[dict[str, list[float]]], layout: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Per stem: median over tracks of SDR and SIR; plus their mean over stems."""
    out: dict[str, dict[str, float]] = {}
    for metric in ("sdr", "sir"):
        medians = {
            stem: _median([track[metric][i] for track in per_track])
            for i, stem in enumerate(layout)
        }
        if layout == STEMS:
            medians["mean"] = statistics.fmean(medians.values())
        out[metric] = {stem: round(value, 2) for stem, value in medians.items()}
    return out


def _row(name: str, summary: dict[str, dict[str, float]], columns: tuple[str, ...]) -> str:
    cells = [
        f"{summary['sdr'].get(c, math.nan):6.2f} {summary['sir'].get(c, math.nan):6.2f}"
        for c in columns
    ]
    return f"{name:<24}" + "".join(f" | {cell:>13}" for cell in cells)


def _header(columns: tuple[str, ...]) -> str:
    return f"{'method':<24}" + "".join(f" | {c:>13}" for c in columns)


def report(
    tracks: list[Track], runs: list[ModelRun], scores: dict[str, list[dict[str, list[float]]]]
) -> dict[str, Any]:
    """Print the tables (four stems; vocals against the rest for one-target models; smoke)
    and return every method's figures."""
    audio_s = sum(len(t.mix) for t in tracks) / SAMPLE_RATE
    baselines: dict[tuple[str, ...], tuple[str, dict[str, dict[str, float]]]] = {
        STEMS: (BASELINE, summarise(scores[BASELINE], STEMS))
    }
    if TWO_BASELINE in scores:
        baselines[TWO_STEMS] = (TWO_BASELINE, summarise(scores[TWO_BASELINE], TWO_STEMS))
    methods: dict[str, Any] = {
        name: {"layout": list(layout), **summary} for layout, (name, summary) in baselines.items()
    }
    lines: dict[tuple[str, ...], list[str]] = {layout: [] for layout in baselines}
    smoke: list[str] = []
    for run in runs:
        summary = summarise(scores[run.name], run.layout)
        trivial = baselines[run.layout][1]
        if run.smoke is None and all(summary["sdr"][s] < trivial["sdr"][s] for s in run.layout):
            run.smoke = "below the trivial baseline on every stem: random or broken weights?"
        per_font: dict[str, dict[str, float]] = {}
        for font in sorted({t.soundfont for t in tracks}):
            pairs = zip(scores[run.name], tracks, strict=True)
            chosen = [score for score, track in pairs if track.soundfont == font]
            per_font[font] = summarise(chosen, run.layout)["sdr"]
        methods[run.name] = {
            "layout": list(run.layout),
            "smoke": run.smoke,
            "realtime_factor": round(audio_s / run.seconds, 2),
            **summary,
            "sdr_per_soundfont": per_font,
            "per_track": {t.name: s for t, s in zip(tracks, scores[run.name], strict=True)},
        }
        columns = (*run.layout, "mean") if run.layout == STEMS else run.layout
        line = _row(run.name, summary, columns)
        if run.smoke:
            smoke.append(f"{_header(columns)}\n{line}\n    ({run.smoke})")
        else:
            lines[run.layout].append(line)
    print("\nBSSEval v4 (museval), median over 1-s windows then over tracks; SDR SIR in dB")
    for layout, (name, summary) in baselines.items():
        columns = (*layout, "mean") if layout == STEMS else layout
        if layout == STEMS or lines[layout]:
            print(f"\n{_header(columns)}\n{_row(name, summary, columns)}")
            print("\n".join(lines[layout]))
    if smoke:
        print("\nsmoke, not a quality measure:\n" + "\n".join(smoke))
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=0, help="the first song's seed")
    parser.add_argument("--fonts", nargs="+", help="SoundFont names (default: every one found)")
    parser.add_argument("--model-dir", type=Path, default=Settings().model_dir)
    parser.add_argument("--models", nargs="+", help="only these models (default: every one)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="one 8-s song, one SoundFont")
    args = parser.parse_args()
    found = find_soundfonts()
    if args.quick:
        args.songs, args.seconds, args.fonts = 1, 8.0, args.fonts or [next(iter(found))]
    fonts = {name: found[name] for name in args.fonts} if args.fonts else found
    print(f"SoundFonts: {', '.join(f'{n} ({p})' for n, p in fonts.items())}", flush=True)
    started = time.perf_counter()
    songs = [Song.draw(seed) for seed in range(args.seed, args.seed + args.songs)]
    tracks = [render_track(song, path, args.seconds) for song in songs for path in fonts.values()]
    audio_s = sum(len(t.mix) for t in tracks) / SAMPLE_RATE
    print(
        f"{len(tracks)} tracks, {audio_s:.0f} s of audio, rendered in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        runs = asyncio.run(separate_all(tracks, args.model_dir, args.models, Path(tmp)))
    scoring = time.perf_counter()
    scores = score_all(tracks, runs, args.workers)
    print(f"scored in {time.perf_counter() - scoring:.1f} s", flush=True)
    methods = report(tracks, runs, scores)
    save(
        "separation_quality_quick" if args.quick else "separation_quality",
        {
            "command": "python -m bench.separation_quality "
            + ("--quick" if args.quick else f"--songs {args.songs} --seconds {args.seconds:g}"),
            "metric": "BSSEval v4 (museval), 1-s windows; median over windows, then tracks",
            "soundfonts": {name: str(path) for name, path in fonts.items()},
            "songs": [
                {
                    "name": s.name,
                    "tempo_bpm": s.tempo_bpm,
                    "programs": [s.bass_program, s.comp_program, s.pad_program, s.lead_program],
                }
                for s in songs
            ],
            "tracks": len(tracks),
            "audio_seconds": round(audio_s, 1),
            "methods": methods,
            "wall_s": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
