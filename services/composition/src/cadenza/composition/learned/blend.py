"""The learned engine's blend: sources in, a piece in their styles out.

Each source is read into the model's encoding (its key moved to C); its style comes from the
catalog's tags, or from its texture when it has none. The blend's style is the mean of the
sources' style embeddings, its metre and key the sources' commonest (or the ones asked
for), its texture and form the majority's (see `form`). Phrases are drawn with the sources'
own bars in the prompt, checked for quotes against the sources and the training corpus, then
arranged (an ensemble for the voices; for a tune, chords and a bass beneath it).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cadenza.composition.engine.blend import BlendParams, BlendResult, SourceSong, title_listing
from cadenza.composition.engine.errors import BlendError
from cadenza.composition.engine.theory import Key, Mode, hinted_key, parse_key
from cadenza.composition.learned import analysis
from cadenza.composition.learned.arrange import arrange, default_ensemble
from cadenza.composition.learned.compose import ComposeReport, LentBars, Prompt, compose
from cadenza.composition.learned.corpus_index import shipped_corpus_index
from cadenza.composition.learned.dataset import style_of_tags
from cadenza.composition.learned.form import (
    REPEAT_SHARE,
    TEXTURE_OF_STYLE,
    plan_form,
    repeated_share,
    texture_of,
)
from cadenza.composition.learned.midi_out import Part, write_midi
from cadenza.composition.learned.quotes import KINDS, LIMIT, QuoteIndex
from cadenza.composition.learned.sampler import Sampler
from cadenza.composition.learned.tokens import (
    STEPS_PER_QUARTER,
    STYLES,
    Note,
    Score,
    bar_steps,
    header,
    is_compound,
    score_from_midi,
    token_id,
    vocabulary,
)
from cadenza.composition.learned.weights import LoadedComposer, WeightsError, shipped_composer
from cadenza.music.midi_file import MidiFileError

MAJOR_FROM_MINOR = {3: 4, 8: 9, 10: 11}  # lowered third, sixth, seventh raised
MINOR_FROM_MAJOR = {4: 3, 9: 8}  # the leading tone stays (harmonic minor)
MAX_BARS = 512
DEFAULT_TEMPO = 100.0  # a source whose file states none
# How far each draw is pushed away from its twin in the nearest other style (sampler).
STYLE_GUIDANCE = 2.0


@dataclass(frozen=True)
class LearnedSource:
    title: str
    score: Score  # in C
    style: str
    style_from: str  # "tags" or "texture"
    tempo_bpm: float
    key: Key


@dataclass(frozen=True)
class LearnedPiece:
    score: Score  # in C
    parts: list[Part]
    midi: bytes
    summary: dict[str, Any]


def read_learned_source(
    index: int, title: str, midi: bytes, key_hint: str | None, mode_hint: Mode | None,
    tempo_hint: float | None, tags: Sequence[str],
) -> LearnedSource:  # fmt: skip
    name = f'source {index} ("{title}")'
    try:
        score = score_from_midi(midi, key=hinted_key(name, key_hint, mode_hint))
    except MidiFileError as e:
        raise BlendError(f"{name} cannot be read: {e}") from e
    if not score.notes:
        raise BlendError(f"{name} has no pitched notes to learn from")
    style = style_of_tags(tags)
    style_from = "tags"
    if style is None:
        style = "chorale" if score.voices >= 3 else "tune"
        style_from = "texture"
    tempo = tempo_hint if tempo_hint is not None else score.tempo_bpm or DEFAULT_TEMPO
    return LearnedSource(title, replace(score, style=style), style, style_from, float(tempo),
                         Key(score.tonic, score.mode))  # fmt: skip


def in_mode(notes: Sequence[Note], source_mode: str, mode: str) -> list[Note]:
    if source_mode == mode:
        return list(notes)
    mapping = MAJOR_FROM_MINOR if mode == "major" else MINOR_FROM_MAJOR
    return [replace(n, pitch=n.pitch + mapping.get(n.pitch % 12, n.pitch % 12) - n.pitch % 12)
            for n in notes]  # fmt: skip


def style_mix(sources: Sequence[LearnedSource]) -> np.ndarray:
    return _mix_of([s.style for s in sources])


def neutral_mix(texture: str, styles: Sequence[str], embedding: np.ndarray) -> np.ndarray | None:
    """The twin that guidance draws away from: the style of the blend's texture, other than
    the sources', nearest to the sources' mix in the model's own style space (`embedding`,
    its token embedding; cosine similarity). For hornpipes that is the reel, for reels the
    hornpipe, for jigs the other tunes: what is pushed is what tells the sources' style from
    the one it is likeliest to be taken for. (Pushing away from all the texture's other
    styles at once spent the push on what the metre already rules out — a jig's 6/8 against
    a hornpipe's 2/4.) None when the texture has no other style (chorales)."""
    others = [s for s in STYLES if TEXTURE_OF_STYLE.get(s, "tune") == texture and s not in styles]
    if not others:
        return None
    mix = _mix_of(styles) @ embedding

    def similarity(style: str) -> float:
        vector = embedding[token_id(f"STYLE:{style}")]
        return float(vector @ mix / max(float(np.linalg.norm(vector) * np.linalg.norm(mix)), 1e-12))

    return _mix_of([max(others, key=similarity)])


def _mix_of(styles: Sequence[str]) -> np.ndarray:
    """Weights over the vocabulary: each style's STYLE token its share of `styles`."""
    mix = np.zeros(len(vocabulary()), dtype=np.float32)
    for style in styles:
        mix[token_id(f"STYLE:{style}")] += 1.0 / len(styles)
    return mix


def compose_learned(
    sources: Sequence[LearnedSource],
    *,
    key: Key,
    tempo_bpm: float,
    bars: int | None,
    seconds: float | None,
    creativity: float,
    seed: int,
    ensemble: str,
    temperature: float | None = None,
    meter: tuple[int, int] | None = None,
    composer: LoadedComposer | None = None,
    corpus: QuoteIndex | bool | None = True,
    on_progress: Callable[[float], None] | None = None,
) -> LearnedPiece:
    """The piece; `corpus=True` checks quotes against the shipped corpus, `False` skips
    that check (tests of small models), an index uses that one."""
    try:
        loaded = composer or shipped_composer()
    except WeightsError as e:
        raise BlendError(f"the learned engine is not available: {e}") from e
    styles = [s.style for s in sources]
    texture = texture_of(styles)
    meters = Counter(s.score.meter for s in sources)
    chosen_meter = meter or max(meters, key=lambda m: (meters[m], -_first(sources, m)))
    steps = bar_steps(chosen_meter)
    if bars is None:
        quarters = steps / STEPS_PER_QUARTER
        bars = max(1, round((seconds or 0.0) * tempo_bpm / 60.0 / quarters))
        if bars > MAX_BARS:
            raise BlendError(
                f"{seconds:.0f} seconds at {tempo_bpm:g} BPM in {chosen_meter[0]}/"
                f"{chosen_meter[1]} is {bars} bars; the limit is {MAX_BARS}"
            )
    voices = 1 if texture == "tune" else 4
    strain = 8 if texture == "tune" else 4
    repeats = statistics.mean(repeated_share(s.score, strain) for s in sources) >= REPEAT_SHARE
    plan = plan_form(texture, bars, repeats)
    dominant = Counter(styles).most_common(1)[0][0]
    prompt = Prompt(
        header=header(dominant, chosen_meter, key.mode, voices),
        source_bars=[lent_bars(s, key.mode, chosen_meter, voices) for s in sources],
    )
    sampler = Sampler(
        loaded.model, style_mix=style_mix(sources),
        temperature=temperature if temperature is not None else 0.75 + 0.5 * creativity,
        top_p=0.9 + 0.08 * creativity, rng=np.random.default_rng(seed), step=loaded.step,
        guidance=STYLE_GUIDANCE, neutral_mix=neutral_mix(texture, styles, loaded.style_space),
    )  # fmt: skip
    sources_index = _sources_index(sources, key.mode)
    corpus_index = shipped_corpus_index() if corpus is True else (corpus or None)
    notes, report = compose(
        sampler, prompt, plan, meter_steps=steps, voices=voices, mode=key.mode,
        sources_index=sources_index,
        corpus_index=corpus_index, on_phrase=on_progress,
    )  # fmt: skip
    score = Score(dominant, chosen_meter, key.mode, voices, tuple(notes), tonic=key.tonic)
    chosen_ensemble = default_ensemble(texture) if ensemble == "auto" else ensemble
    parts = arrange(score, plan, chosen_ensemble)
    midi = write_midi(parts, chosen_meter, tempo_bpm, key.tonic, key)
    summary = _summary(
        score, parts, bars=bars, plan_description=plan.describe(), texture=texture, sources=sources,
        key=key, tempo_bpm=tempo_bpm, creativity=creativity, seed=seed,
        ensemble=chosen_ensemble, sampler_temperature=sampler.temperature, report=report,
        loaded=loaded,
        sources_index=sources_index, corpus_index=corpus_index,
    )  # fmt: skip
    return LearnedPiece(score, parts, midi, summary)


def _first(sources: Sequence[LearnedSource], meter: tuple[int, int]) -> int:
    return next(i for i, s in enumerate(sources) if s.score.meter == meter)


def same_bar(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether bars of metre `a` can stand for bars of `b`: as long, and both simple or both
    compound (6/8 against 3/4 is a different dance)."""
    return bar_steps(a) == bar_steps(b) and is_compound(a) == is_compound(b)


def lent_bars(
    source: LearnedSource, mode: str, meter: tuple[int, int], voices: int
) -> LentBars | None:
    """The source's bars as prompt tokens, in the blend's mode; none when its bar differs
    from the blend's (its style still conditions the blend). A 4/4 source lends its bars to a
    2/2 blend as they are (the same bar, the same sixteenths); 6/8 and 3/4 share a length but
    not a pulse, so they do not. A chorale prompting a tune lends its soprano; a tune
    prompting a chorale is its soprano."""
    if not same_bar(source.score.meter, meter):
        return None
    notes = in_mode(source.score.notes, source.score.mode, mode)
    notes = [n for n in notes if n.voice < voices or (voices == 1 and n.voice == 0)]
    notes = [replace(n, voice=0) if voices == 1 else n for n in notes]
    steps = bar_steps(meter)
    by_bar: dict[int, list[Note]] = {}
    for n in notes:
        by_bar.setdefault(n.start // steps, []).append(n)
    return LentBars(by_bar, source.score.bars, steps)


def _sources_index(sources: Sequence[LearnedSource], mode: str) -> QuoteIndex:
    lines, labels = [], []
    for s in sources:
        for variant in {s.score.mode, mode}:
            notes = in_mode(s.score.notes, s.score.mode, variant)
            for v in range(s.score.voices):
                lines.append([(n.pitch, n.duration) for n in sorted(notes) if n.voice == v])
                labels.append(f"{s.title} (voice {v + 1})")
    return QuoteIndex(lines, labels)


def _summary(
    score: Score,
    parts: list[Part],
    *,
    bars: int,
    plan_description: list[dict[str, object]],
    texture: str,
    sources: Sequence[LearnedSource],
    key: Key,
    tempo_bpm: float,
    creativity: float,
    seed: int,
    ensemble: str,
    sampler_temperature: float,
    report: ComposeReport,
    loaded: LoadedComposer,
    sources_index: QuoteIndex,
    corpus_index: QuoteIndex | None,
) -> dict[str, Any]:
    quarters = bars * score.bar_steps / STEPS_PER_QUARTER
    lines = analysis.voice_lines(score)
    originality: dict[str, Any] = {"limit": LIMIT}
    passed = True
    for kind in KINDS:
        against: dict[str, Any] = {}
        for name, index in (("sources", sources_index), ("corpus", corpus_index)):
            if index is None:
                continue
            runs = [
                index.longest([(n.pitch, n.duration) for n in line], kind) for line in lines if line
            ]
            longest = max(runs, key=lambda q: (q.exact, q.notes)) if runs else None
            if longest is not None:
                against[name] = longest.as_dict()
                passed &= not (longest.exact and longest.notes > LIMIT)
        originality[kind] = against
    originality["passed"] = passed
    top, bottom = (lines[0], lines[-1]) if len(lines) > 1 else (lines[0], [])
    bass_part = next((p for p in parts if p.role == "bass"), None)
    if bass_part is not None:
        bottom = sorted(bass_part.notes)
    measures = {
        "in_key_rate": round(analysis.in_key_rate(score), 4),
        "outer_voice_parallels_per_100_notes": round(
            analysis.per_hundred_notes(analysis.parallel_perfects(top, bottom), score), 3
        ) if bottom else 0.0,
        "ends_on_tonic": analysis.ends_on_tonic(score),
        "bass_leaps_over_a_sixth": analysis.bass_leaps(bottom) if bottom else 0,
    }  # fmt: skip
    if score.voices > 1:
        measures["chord_changes_per_bar"] = round(analysis.chord_changes_per_bar(score), 3)
    return {
        "engine": "learned",
        "model": {"sha256": loaded.sha256, "parameters": loaded.model.parameter_count()},
        "key": key.tonic_name,
        "mode": key.mode,
        "key_name": key.name,
        "tempo_bpm": tempo_bpm,
        "time_signature": f"{score.meter[0]}/{score.meter[1]}",
        "bars": bars,
        "duration_s": round(quarters * 60.0 / tempo_bpm, 3),
        "texture": texture,
        "ensemble": ensemble,
        "creativity": creativity,
        "temperature": round(sampler_temperature, 4),
        "seed": seed,
        "style_mix": dict(Counter(s.style for s in sources)),
        "sections": plan_description,
        "instruments": {
            p.role: {"name": p.name, "program": p.program, "notes": len(p.notes)} for p in parts
        },
        "drawing": {
            "phrases": report.phrases,
            "draws": report.draws,
            "redrawn_for": report.redrawn_for,
            "notes_moved": report.notes_moved,
            "parallels_mended": report.parallels_mended,
        },
        "measures": measures,
        "originality": originality,
        "sources": [
            {
                "title": s.title,
                "style": s.style,
                "style_from": s.style_from,
                "key": s.key.name,
                "time_signature": f"{s.score.meter[0]}/{s.score.meter[1]}",
                "voices": s.score.voices,
                "bars": s.score.bars,
            }
            for s in sources
        ],
    }


def musicxml_of(midi: bytes, title: str) -> bytes:
    """MusicXML of the blend's MIDI, through music21 (the grid is exact, so nothing is
    guessed but the spelling of accidentals, which follows the key signature)."""
    from music21 import converter, metadata
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    parsed: Any = converter.parseData(midi, format="midi")
    parsed.metadata = metadata.Metadata(title=title)
    return bytes(GeneralObjectExporter(parsed).parse())


def blend_learned(
    sources: Sequence[SourceSong], params: BlendParams, progress: Callable[[float], None]
) -> BlendResult:
    """`engine.blend` for the learned engine (parameters already checked there)."""
    learned = [
        read_learned_source(i + 1, s.title, s.midi, s.key, s.mode, s.tempo_bpm, s.tags)
        for i, s in enumerate(sources)
    ]
    progress(0.1)
    key = parse_key(params.key)[0] if params.key is not None else _commonest_key(learned)
    tempo = (
        round(float(params.tempo_bpm), 3)
        if params.tempo_bpm is not None
        else round(float(np.clip(np.median([s.tempo_bpm for s in learned]), 60.0, 180.0)), 3)
    )
    piece = compose_learned(
        learned, key=key, tempo_bpm=tempo, bars=params.length_bars,
        seconds=params.length_seconds if params.length_bars is None else None,
        creativity=params.creativity, temperature=params.temperature, seed=params.seed,
        ensemble=params.ensemble,
        on_progress=lambda fraction: progress(0.1 + 0.7 * fraction),
    )  # fmt: skip
    title = "Blend of " + title_listing([s.title for s in learned])
    musicxml = musicxml_of(piece.midi, title)
    progress(1.0)
    return BlendResult(
        midi=piece.midi, musicxml=musicxml, summary={"title": title, **piece.summary}
    )


def _commonest_key(sources: Sequence[LearnedSource]) -> Key:
    counts = Counter((s.key.tonic, s.key.mode) for s in sources)
    top = max(counts.values())
    tonic, mode = next((s.key.tonic, s.key.mode) for s in sources
                       if counts[(s.key.tonic, s.key.mode)] == top)  # fmt: skip
    return Key(tonic, mode)
