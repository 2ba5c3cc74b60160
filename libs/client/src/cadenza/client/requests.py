"""The bodies of POST /api/v1/jobs, one builder per kind (README.md, "API", lists every field).
Parameters left as None are left out, so the server's defaults apply."""

from __future__ import annotations

from typing import Any

Body = dict[str, Any]
Effect = dict[str, Any]


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _output(format: str | None, bit_depth: int | None, quality: float | None) -> dict[str, Any]:
    return _params(format=format, bit_depth=bit_depth, quality=quality)


def effects_job(
    upload_id: str,
    chain: list[Effect],
    *,
    format: str | None = None,
    bit_depth: int | None = None,
    quality: float | None = None,
) -> Body:
    return {
        "kind": "effects",
        "input": {"upload_id": upload_id},
        "params": {"chain": chain, **_output(format, bit_depth, quality)},
    }


def separation_job(
    upload_id: str,
    *,
    model: str | None = None,
    stems: list[str] | None = None,
    format: str | None = None,
    bit_depth: int | None = None,
    quality: float | None = None,
    shifts: int | None = None,
    overlap: float | None = None,
    seed: int | None = None,
) -> Body:
    """`model` may name an ensemble (`ensemble:htdemucs_ft+bs_roformer_vocals`)."""
    how = _params(model=model, stems=stems, shifts=shifts, overlap=overlap, seed=seed)
    return {
        "kind": "separation",
        "input": {"upload_id": upload_id},
        "params": {**how, **_output(format, bit_depth, quality)},
    }


def master_job(
    source: dict[str, str],
    *,
    preset: str | None = None,
    target_lufs: float | None = None,
    true_peak_db: float | None = None,
    format: str | None = None,
) -> Body:
    """`source` is {"upload_id": …} or {"job_id": …, "artifact": …}."""
    params = _params(preset=preset, target_lufs=target_lufs, true_peak_db=true_peak_db)
    if format is not None:
        params["output"] = {"format": format}
    return {"kind": "master", "input": source, "params": params}


def blend_job(
    songs: list[str],
    *,
    length_bars: int | None = None,
    tempo_bpm: float | None = None,
    key: str | None = None,
    style: str | None = None,
    creativity: float | None = None,
    seed: int | None = None,
    lyrics: str | None = None,
    engine: str | None = None,
    ensemble: str | None = None,
    temperature: float | None = None,
) -> Body:
    """`songs`: catalog ids or "Title - Artist" strings, 2 to 5."""
    return {
        "kind": "blend",
        "params": {
            "songs": songs,
            **_params(
                length_bars=length_bars,
                tempo_bpm=tempo_bpm,
                key=key,
                style=style,
                creativity=creativity,
                seed=seed,
                lyrics=lyrics,
                engine=engine,
                ensemble=ensemble,
                temperature=temperature,
            ),
        },
    }


def render_job(
    source: dict[str, str],
    *,
    soundfont: str | None = None,
    sample_rate: int | None = None,
    stems: bool | None = None,
    preview_seconds: float | None = None,
    format: str | None = None,
) -> Body:
    """MIDI to audio. `source` is {"song_id": …} (a catalog song) or {"job_id": …,
    "artifact": "blend.mid"}; `preview_seconds` (5–120) needs `stems=False`."""
    params = _params(
        soundfont=soundfont, sample_rate=sample_rate, stems=stems, preview_seconds=preview_seconds
    )
    if format is not None:
        params["output"] = {"format": format}
    return {"kind": "render", "input": source, "params": params}


def song_source(song_id: str) -> dict[str, str]:
    return {"song_id": song_id}


def upload_source(upload_id: str) -> dict[str, str]:
    return {"upload_id": upload_id}


def artifact_source(job_id: str, artifact: str) -> dict[str, str]:
    return {"job_id": job_id, "artifact": artifact}
