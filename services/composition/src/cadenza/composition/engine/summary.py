"""The blend's JSON summary: what was made (key, tempo, form, chords, parts), from what (the
sources and how much each one's models were drawn on), and the originality measurement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pretty_midi

from cadenza.composition.engine.arrangement import Part
from cadenza.composition.engine.compose import Composition
from cadenza.composition.engine.markov import Tally
from cadenza.composition.engine.originality import (
    LIMIT,
    exact_run_in_units,
    pitch_run_in_units,
    shared_run_in_units,
)
from cadenza.composition.engine.sources import SourceMaterial
from cadenza.composition.engine.units import BEATS_PER_BAR

INFLUENCE_METHOD = (
    "Every chord, melodic interval and note duration of the piece is a draw from a model"
    " pooled over the sources. A draw's weight is split between the sources in proportion to"
    " their counts of the drawn token after the context the model used (after backoff to a"
    " shorter context); the part of its probability that came from the creativity's wander"
    " term or from a music-theory rule with no support in any source counts as 'rules'."
    " Figures are each source's share of the source-attributed weight (they sum to 1);"
    " source_share is that weight over all draws. Notes copied into repeated sections and"
    " the cadence's final tonic are not draws."
)


def describe(
    piece: Composition,
    materials: Sequence[SourceMaterial],
    parts: Sequence[Part],
    *,
    title: str,
    tempo_bpm: float,
    style: str,
    creativity: float,
    seed: int,
    lyrics: dict[str, Any] | None,
) -> dict[str, Any]:
    key = piece.key
    bars = len(piece.chords)
    melody = [(n.pitch, n.duration) for n in piece.melody]
    scale = set(key.melody_scale())
    in_scale = sum(1 for p, _ in melody if p % 12 in scale)
    channels = iter(c for c in range(16) if c != 9)
    shared = shared_run_in_units(melody, piece.guard.lines)
    in_pitch = pitch_run_in_units(melody, piece.guard.lines)
    return {
        "engine": "markov",
        "title": title,
        "key": key.tonic_name,
        "mode": key.mode,
        "key_name": key.name,
        "tempo_bpm": tempo_bpm,
        "time_signature": "4/4",
        "bars": bars,
        "duration_s": round(bars * BEATS_PER_BAR * 60.0 / tempo_bpm, 3),
        "style": style,
        "creativity": creativity,
        "seed": seed,
        "sections": [
            {"name": s.name, "start_bar": s.start_bar + 1, "bars": s.bars} for s in piece.sections
        ],
        "chords": [
            {"bar": bar + 1, "symbol": c.symbol(key), "degree": c.degree(key.mode)}
            for bar, c in enumerate(piece.chords)
        ],
        "instruments": {
            p.role: {
                "name": p.name,
                "program": p.program,
                "program_name": "Standard Drum Kit"
                if p.is_drum
                else pretty_midi.program_to_instrument_name(p.program),
                "is_drum": p.is_drum,
                "channel": 10 if p.is_drum else next(channels) + 1,
                "notes": len(p.notes),
            }
            for p in parts
        },
        "melody": {
            "notes": len(melody),
            "lowest": min((p for p, _ in melody), default=None),
            "highest": max((p for p, _ in melody), default=None),
            "in_scale": round(in_scale / len(melody), 4) if melody else 1.0,
            "phrases": len(piece.sung),
        },
        "sources": [
            {
                "title": m.title,
                "key": m.key.name,
                "key_from": m.key_from,
                "tempo_bpm": m.tempo_bpm,
                "tempo_from": m.tempo_from,
                "chords_learnt": len(m.chords),
                "melody_notes_learnt": len(m.melody),
            }
            for m in materials
        ],
        "influence": _influence(piece.tallies, [m.title for m in materials]),
        "originality": {
            "limit": LIMIT,
            "longest_shared_run": shared,
            "longest_pitch_run": in_pitch,
            "longest_exact_run": exact_run_in_units(melody, piece.guard.lines),
            "passed": shared <= LIMIT and in_pitch <= LIMIT,
            "phrases_regenerated": piece.phrases_regenerated,
            "redraws": piece.redraws,
            "notes_changed": piece.notes_changed,
            "compared_against": [m.title for m in materials],
            "method": (
                "runs of consecutive melody notes with equal durations and equal intervals"
                " (transposition-invariant) against each source's top voice and each of its"
                " parts' top voices, transposed into the blend's key; longest_pitch_run"
                " compares the intervals alone (a re-rhythmed quote), longest_exact_run"
                " also requires the same MIDI pitches"
            ),
        },
        "notation": {
            "parts": ["Melody", "Chords", "Bass"],
            "note": "the MusicXML is a lead sheet: chords as one block per bar, no drums",
            "measures": bars,
        },
        "lyrics": lyrics,
    }


def _influence(tallies: dict[str, Tally], titles: Sequence[str]) -> dict[str, Any]:
    per_source: list[dict[str, Any]] = [{"title": t} for t in titles]
    totals = np.zeros(len(titles))
    summary: dict[str, Any] = {"method": INFLUENCE_METHOD, "draws": {}, "source_share": {}}
    for name, tally in tallies.items():
        weight = float(tally.per_source.sum())
        totals += tally.per_source
        summary["draws"][name] = tally.draws
        summary["source_share"][name] = round(weight / tally.draws, 4) if tally.draws else 0.0
        for entry, value in zip(per_source, tally.per_source, strict=True):
            entry[name] = round(float(value) / weight, 4) if weight > 0 else 0.0
    overall = float(totals.sum())
    for entry, value in zip(per_source, totals, strict=True):
        entry["overall"] = round(float(value) / overall, 4) if overall > 0 else 0.0
    summary["per_source"] = per_source
    return summary
