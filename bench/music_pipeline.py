"""The music services through the platform (gateway → bus → worker → storage → fact, timed
from submit to `job.completed` on the WebSocket):

- render speed: a 3-minute, 8-track General MIDI piece added to the catalog, rendered by
  the render service, against `fluidsynth -ni -F out.wav -r 44100 SOUNDFONT piece.mid`
  on the same file and SoundFont, interleaved in the same run, medians. The like-for-like
  figure is the mix-only render (`stems: false`: one file, as the CLI writes); the default
  render (mix + one stem per track + effects return + stems.zip) is reported beside it.
  Targets: ≥ 30× realtime and ≤ 1.2× the CLI's wall time.
- blend time: 3 catalog songs (music21 corpus) → a 2-minute piece.
- the full-song pipeline (blend → render → master) end to end, 2-minute piece.

    .venv/bin/python -m bench.music_pipeline [--repeat 3] [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import open_ws, running_platform, save, submit_and_wait
from bench.render_speed import render_cli_rtf
from cadenza.devstack.platform import Platform
from cadenza.render.engine import DEFAULT_SOUNDFONT
from cadenza.render.engine.demo_midi import write_demo_midi

SEED_SONGS = 12


def add_song(api: httpx.Client, midi: Path, title: str) -> str:
    response = api.post(
        "/api/v1/songs",
        params={"wait": "120"},
        files={"midi": (midi.name, midi.read_bytes(), "audio/midi")},
        data={"title": title, "artist": "Cadenza Bench"},
    )
    response.raise_for_status()
    return str(response.json()["song"]["id"])


def blend_sources(api: httpx.Client) -> list[str]:
    """Two chorales and a folk tune with a title of its own, as ids."""
    found = {
        tag: [h["song"] for h in api.get("/api/v1/songs", params={"tags": tag}).json()["items"]]
        for tag in ("chorale", "folk")
    }
    titles = [s["title"] for songs in found.values() for s in songs]
    folk = [s for s in found["folk"] if titles.count(s["title"]) == 1]
    return [found["chorale"][0]["id"], found["chorale"][1]["id"], folk[0]["id"]]


async def run_job(platform: Platform, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Seconds from submit to completion, and the finished job as the API shows it."""
    async with httpx.AsyncClient(base_url=platform.url, timeout=60) as client:
        ws = await open_ws(platform)
        try:
            seconds, event = await submit_and_wait(client, ws, body)
        finally:
            await ws.close()
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{event['job_id']}")).json()
    return seconds, job


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None:
        raise SystemExit("the fluidsynth command line is not installed (Debian: fluidsynth)")
    with (
        tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp,
        running_platform(Path(tmp), WORKERS="catalog,composition,render") as platform,
    ):
        root = Path(tmp)
        midi = write_demo_midi(root / "piece.mid", args.seconds)
        assert platform.seed_catalog(SEED_SONGS).wait(600) == 0
        with httpx.Client(base_url=platform.url, timeout=120) as api:
            song_id = add_song(api, midi, f"Bench Piece {time.time_ns()}")
            sources = blend_sources(api)

        def render_body(stems: bool) -> dict[str, Any]:
            return {
                "kind": "render",
                "input": {"song_id": song_id},
                "params": {"stems": stems, "output": {"format": "wav", "bit_depth": 24}},
            }

        cli: list[dict[str, float]] = []
        mix_only: list[float] = []
        with_stems: list[float] = []
        audio_s = 0.0
        for _ in range(args.repeat):  # interleaved, so machine noise hits them alike
            cli.append(render_cli_rtf(midi, root / "cli.wav", soundfont=DEFAULT_SOUNDFONT))
            seconds, job = asyncio.run(run_job(platform, render_body(False)))
            mix_only.append(seconds)
            audio_s = float(job["stages"][0]["details"]["duration_s"])
            seconds, job = asyncio.run(run_job(platform, render_body(True)))
            with_stems.append(seconds)
            stem_count = len(job["artifacts"]) - 2  # less the mix and the zip

        blend_body = {
            "kind": "blend",
            "params": {"songs": sources, "length_seconds": 120, "seed": 1},
        }
        blends = []
        blend_details: dict[str, Any] = {}
        for i in range(args.repeat):
            blend_body["params"]["seed"] = i + 1  # type: ignore[index]
            seconds, job = asyncio.run(run_job(platform, blend_body))
            blends.append(seconds)
            blend_details = job["stages"][0]["details"]

        full_song: list[float] = []
        lufs: list[float] = []
        for i in range(args.repeat):
            body = {
                "kind": "pipeline",
                "preset": "full-song",
                "params": {"songs": sources, "length_seconds": 120, "seed": 10 + i},
            }
            seconds, job = asyncio.run(run_job(platform, body))
            full_song.append(seconds)
            lufs.append(float(job["stages"][-1]["details"]["lufs"]))

    cli_wall = median([r["wall_s"] for r in cli])
    result: dict[str, Any] = {
        "piece_seconds": args.seconds,
        "soundfont": DEFAULT_SOUNDFONT.name,
        "repeat": args.repeat,
        "render": {
            "audio_s": round(audio_s, 2),
            "cli_wall_median_s": round(cli_wall, 3),
            "cli_rtf": round(median([r["rtf"] for r in cli]), 1),
            "service_mix_only_wall_median_s": round(median(mix_only), 3),
            "service_mix_only_rtf": round(audio_s / median(mix_only), 1),
            "service_mix_only_ratio_over_cli": round(median(mix_only) / cli_wall, 3),
            "service_with_stems_wall_median_s": round(median(with_stems), 3),
            "service_with_stems_rtf": round(audio_s / median(with_stems), 1),
            "service_with_stems_ratio_over_cli": round(median(with_stems) / cli_wall, 3),
            "stem_files": stem_count,
            "runs": {
                "cli": [round(r["wall_s"], 3) for r in cli],
                "mix_only": [round(s, 3) for s in mix_only],
                "with_stems": [round(s, 3) for s in with_stems],
            },
            "targets": {"rtf_min": 30, "ratio_over_cli_max": 1.2},
        },
        "blend_3_songs_2_minutes": {
            "wall_median_s": round(median(blends), 3),
            "runs": [round(s, 3) for s in blends],
            "bars": blend_details.get("bars"),
            "duration_s": blend_details.get("duration_s"),
            "longest_shared_run": blend_details.get("originality", {}).get("longest_shared_run"),
        },
        "full_song_pipeline_2_minutes": {
            "wall_median_s": round(median(full_song), 3),
            "runs": [round(s, 3) for s in full_song],
            "lufs": lufs,
        },
    }
    save("music_pipeline", result)
    print(json.dumps(result["render"], indent=2))


if __name__ == "__main__":
    main()
