"""Rendering a 3-minute General MIDI piece (8 tracks with drums, ~5,200 notes, pedal,
expression, pitch bends) with the render engine in-process (the default: mix + dry
stems + effects return; mix only; mix + wet stems, a reverb/chorus unit per part)
against `fluidsynth -ni -F out.wav -r 44100 SOUNDFONT piece.mid` on the same file and
SoundFont, interleaved in the same run, medians. Targets: the engine renders ≥ 30×
realtime and takes ≤ 1.2× the CLI's wall time. (The CLI writes 16-bit WAV and renders
a longer tail; the engine writes 24-bit WAV, one file per stem.)

    .venv/bin/python -m bench.render_speed [--seconds 180] [--repeat 3] [--soundfont PATH]

`render_engine_rtf` is the engine figure on its own, for a through-the-service
comparison to call.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import soundfile as sf

from bench.common import save
from cadenza.render.engine import DEFAULT_SOUNDFONT, render_midi
from cadenza.render.engine.demo_midi import write_demo_midi


def render_engine_rtf(
    midi_path: Path,
    out_dir: Path,
    *,
    soundfont: Path = DEFAULT_SOUNDFONT,
    stems: bool = True,
    stem_effects: bool = False,
) -> dict[str, float]:
    """Render with the engine (24-bit WAV mix, and stems + effects return if `stems`):
    audio seconds, wall seconds and their ratio, the realtime factor."""
    started = time.perf_counter()
    result = render_midi(
        midi_path, out_dir, soundfont=soundfont, stems=stems, stem_effects=stem_effects
    )
    wall = time.perf_counter() - started
    return {"audio_s": result.duration_s, "wall_s": wall, "rtf": result.duration_s / wall}


def render_cli_rtf(midi_path: Path, out_wav: Path, *, soundfont: Path) -> dict[str, float]:
    """The same with FluidSynth's command line (16-bit WAV, its default)."""
    started = time.perf_counter()
    subprocess.run(
        ["fluidsynth", "-ni", "-F", str(out_wav), "-r", "44100", str(soundfont), str(midi_path)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    audio = float(sf.info(str(out_wav)).duration)
    return {"audio_s": audio, "wall_s": wall, "rtf": audio / wall}


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT)
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None:
        raise SystemExit("the fluidsynth command line is not installed (Debian: fluidsynth)")
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        midi = write_demo_midi(root / "piece.mid", args.seconds)
        runs: dict[str, list[dict[str, float]]] = {
            "cli": [],
            "engine_stems": [],
            "engine_mix": [],
            "engine_wet_stems": [],
        }
        # Interleave them so machine noise hits them alike.
        for i in range(args.repeat):
            runs["cli"].append(render_cli_rtf(midi, root / "cli.wav", soundfont=args.soundfont))
            runs["engine_stems"].append(
                render_engine_rtf(midi, root / f"stems{i}", soundfont=args.soundfont)
            )
            runs["engine_mix"].append(
                render_engine_rtf(midi, root / f"mix{i}", soundfont=args.soundfont, stems=False)
            )
            runs["engine_wet_stems"].append(
                render_engine_rtf(
                    midi, root / f"wet{i}", soundfont=args.soundfont, stem_effects=True
                )
            )
            for folder in ("stems", "mix", "wet"):
                shutil.rmtree(root / f"{folder}{i}")
    cli_wall = _median(runs["cli"], "wall_s")
    cli_rtf = _median(runs["cli"], "rtf")
    result: dict[str, Any] = {
        "piece_seconds": args.seconds,
        "soundfont": args.soundfont.name,
        "tracks": 8,
        "cli_audio_s": round(runs["cli"][0]["audio_s"], 2),
        "cli_wall_median_s": round(cli_wall, 3),
        "cli_rtf": round(cli_rtf, 1),
    }
    for name in ("engine_stems", "engine_mix", "engine_wet_stems"):
        wall = _median(runs[name], "wall_s")
        rtf = _median(runs[name], "rtf")
        result |= {
            f"{name}_audio_s": round(runs[name][0]["audio_s"], 2),
            f"{name}_wall_median_s": round(wall, 3),
            f"{name}_rtf": round(rtf, 1),
            f"{name}_wall_ratio_over_cli": round(wall / cli_wall, 3),
            f"{name}_rtf_ratio_over_cli": round(rtf / cli_rtf, 3),
        }
    result["runs"] = {name: [round(r["wall_s"], 3) for r in rs] for name, rs in runs.items()}
    result["targets"] = {"engine_rtf_min": 30, "wall_ratio_over_cli_max": 1.2}
    save("render_speed", result)


if __name__ == "__main__":
    main()
