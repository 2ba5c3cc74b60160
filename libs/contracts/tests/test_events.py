"""Every event round-trips through JSON, and invalid events are refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from cadenza.contracts import (
    EVENT_TYPES,
    ArtifactRef,
    EffectChain,
    EffectsCompleted,
    EffectsFailed,
    EffectsRequested,
    Event,
    JobCancelled,
    JobProgress,
    JobSubmitted,
    OutputFormat,
    SeparationCompleted,
    SeparationFailed,
    SeparationRequested,
    decode_event,
    nyquist_violations,
)
from cadenza.contracts.catalog import (
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
    SongMetadata,
)
from cadenza.contracts.composition import (
    BlendSource,
    CompositionCompleted,
    CompositionFailed,
    CompositionRequested,
)
from cadenza.contracts.effect_chain import EFFECT_MODELS, EFFECT_TYPES
from cadenza.contracts.jobs import JobDeleted, JobPinned, RetentionRemoved, StageDeadLettered
from cadenza.contracts.model_catalog import (
    ModelPullCompleted,
    ModelPullFailed,
    ModelPullRequested,
)
from cadenza.contracts.pipeline import MasterParams, MasterStep, RenderStep
from cadenza.contracts.render import (
    MasterCompleted,
    MasterFailed,
    MasterRequested,
    MixCompleted,
    MixFailed,
    MixRequested,
    RenderCompleted,
    RenderFailed,
    RenderRequested,
)
from cadenza.contracts.streams import ALL_STREAMS, stream_for_subject

CHAIN = TypeAdapter(EffectChain)
REF = ArtifactRef(
    uri="s3://bucket/local/job/in.wav",
    media_type="audio/wav",
    bytes=1234,
    sha256="a" * 64,
    duration_s=1.5,
    sample_rate=44100,
    channels=2,
)
MIDI = REF.model_copy(update={"media_type": "audio/midi", "sample_rate": None, "channels": None})


def envelope() -> dict[str, Any]:
    return {"job_id": uuid.uuid4(), "owner": "alice", "correlation_id": uuid.uuid4()}


def example(cls: type[Event]) -> Event:
    fields: dict[type[Event], dict[str, Any]] = {
        EffectsRequested: {
            "input": REF,
            "chain": [{"type": "gain", "gain_db": -6}, {"type": "reverb", "room_size": 0.8}],
            "output": OutputFormat(format="flac", bit_depth=16),
        },
        EffectsCompleted: {"stage": "effects", "outputs": {"processed.wav": REF}},
        EffectsFailed: {"stage": "effects", "code": "invalid_input", "reason": "not audio"},
        JobSubmitted: {
            "kind": "effects",
            "input": {"upload_id": "x"},
            "params": {},
            "stages": ["effects"],
        },
        JobProgress: {"stage": "effects", "progress": 0.5, "message": "chunk 3 of 6"},
        JobCancelled: {"reason": "changed my mind"},
        StageDeadLettered: {
            "stage": "effects",
            "code": "dead_letter",
            "reason": "the effects step was delivered 5 times and never finished",
            "attempts": 5,
            "original_subject": "effects.requested",
            "dead_letter_seq": 12,
        },
        JobPinned: {"pinned": True},
        JobDeleted: {},
        RetentionRemoved: {
            "what": "artifacts",
            "names": ["processed.wav"],
            "bytes_freed": 1024,
            "reason": "generated files are kept 24 hours after the job ends",
        },
        SeparationRequested: {"input": REF, "model": "htdemucs", "stems": ("vocals", "drums")},
        SeparationCompleted: {
            "stage": "separation",
            "outputs": {"vocals.wav": REF},
            "details": {"model": "htdemucs", "cache": "hit"},
        },
        SeparationFailed: {"stage": "separation", "code": "gave_up", "reason": "GPU fell over"},
        ModelPullRequested: {"model": "htdemucs_ft"},
        ModelPullCompleted: {
            "stage": "model_pull",
            "outputs": {},
            "details": {"model": "htdemucs_ft", "files": [{"name": "a.th", "sha256": "0" * 64}]},
        },
        ModelPullFailed: {"stage": "model_pull", "code": "invalid_input", "reason": "sha256"},
        CatalogIngestRequested: {
            "metadata": SongMetadata(title="Air", artist="Anna", tags=("Folk", "folk", "air")),
            "midi": REF.model_copy(update={"media_type": "audio/midi"}),
            "midi_filename": "air.mid",
        },
        CatalogSongIngested: {
            "stage": "ingest",
            "song_id": uuid.uuid4(),
            "outputs": {"song.mid": REF},
            "details": {"created": True, "near_duplicate_of": None},
        },
        CatalogIngestFailed: {"stage": "ingest", "code": "invalid_input", "reason": "no notes"},
        CompositionRequested: {
            "sources": [
                BlendSource(song_id=uuid.uuid4(), title=f"Song {i}", midi=MIDI, key="D")
                for i in range(3)
            ],
            "settings": {"length_bars": 16, "seed": 7, "lyrics": "la la la"},
            "slip": [RenderStep(stage="render"), MasterStep(stage="master")],
            "output_prefix": "blend-",
        },
        CompositionCompleted: {"stage": "blend", "outputs": {"blend.mid": MIDI}},
        CompositionFailed: {"stage": "blend", "code": "invalid_input", "reason": "one song"},
        RenderRequested: {"input": MIDI, "params": {"sample_rate": 48000, "stems": False}},
        RenderCompleted: {"stage": "render", "outputs": {"mix.wav": REF}},
        RenderFailed: {"stage": "render", "code": "internal", "reason": "no soundfont"},
        MixRequested: {"inputs": {"drums": REF, "bass": REF}, "params": {"gains_db": {"bass": 3}}},
        MixCompleted: {"stage": "mix", "outputs": {"mix.wav": REF}},
        MixFailed: {"stage": "mix", "code": "invalid_input", "reason": "rates differ"},
        MasterRequested: {"input": REF, "params": MasterParams(preset="broadcast")},
        MasterCompleted: {
            "stage": "master",
            "outputs": {"mastered.wav": REF},
            "details": {"lufs": -23.0, "true_peak_db": -1.2},
        },
        MasterFailed: {"stage": "master", "code": "invalid_input", "reason": "silence"},
    }
    return cls(**envelope(), **fields[cls])


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.subject)
def test_every_event_round_trips_through_json(cls: type[Event]) -> None:
    event = example(cls)
    decoded = decode_event(cls.subject, event.model_dump_json())
    assert type(decoded) is cls
    assert decoded == event
    assert decoded.schema_version == 1
    assert decoded.occurred_at.tzinfo is not None


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.subject)
def test_every_event_subject_lives_in_a_stream(cls: type[Event]) -> None:
    spec = stream_for_subject(cls.subject)
    assert spec in ALL_STREAMS
    prefixes = [subject.removesuffix(">") for subject in spec.subjects]
    assert any(cls.subject.startswith(prefix) for prefix in prefixes)


def test_caused_by_derives_the_same_ids_on_every_redelivery() -> None:
    command = example(EffectsRequested)
    first = EffectsCompleted.caused_by(command, stage="effects", outputs={"a.wav": REF})
    again = EffectsCompleted.caused_by(command, stage="effects", outputs={"a.wav": REF})
    other = EffectsFailed.caused_by(command, stage="effects", code="internal", reason="x")
    assert first.event_id == again.event_id != other.event_id
    assert first.causation_id == command.event_id
    assert (first.job_id, first.owner, first.correlation_id) == (
        command.job_id,
        command.owner,
        command.correlation_id,
    )


def test_consumers_ignore_fields_they_do_not_know() -> None:
    event = example(JobProgress)
    payload = event.model_dump(mode="json") | {"added_in_a_later_version": 1}
    assert JobProgress.model_validate(payload) == event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"owner": "../etc"}, "owner"),
        ({"owner": ""}, "owner"),
        ({"progress": 1.5}, "progress"),
        ({"progress": float("nan")}, "progress"),
        ({"job_id": "not-a-uuid"}, "job_id"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),  # naive timestamps refused
    ],
)
def test_invalid_envelope_or_fields_are_refused(change: dict[str, Any], field: str) -> None:
    payload = example(JobProgress).model_dump(mode="json") | change
    with pytest.raises(ValidationError) as info:
        JobProgress.model_validate(payload)
    assert info.value.errors()[0]["loc"][0] == field


def test_every_plugin_validates_with_its_defaults_and_names_its_type() -> None:
    chain = CHAIN.validate_python([{"type": t} for t in EFFECT_TYPES])
    assert [p.type for p in chain] == list(EFFECT_TYPES)
    assert len(EFFECT_MODELS) == len(EFFECT_TYPES) >= 17


@pytest.mark.parametrize(
    ("plugin", "location"),
    [
        ({"type": "gain", "gain_db": 100}, (0, "gain", "gain_db")),
        ({"type": "reverb", "room_size": 1.5}, (0, "reverb", "room_size")),
        ({"type": "delay", "delay_seconds": -1}, (0, "delay", "delay_seconds")),
        ({"type": "chorus", "rate_hz": 100}, (0, "chorus", "rate_hz")),
        ({"type": "compressor", "ratio": 0.5}, (0, "compressor", "ratio")),
        ({"type": "pitch_shift", "semitones": 73}, (0, "pitch_shift", "semitones")),
        ({"type": "bitcrush", "bit_depth": 33}, (0, "bitcrush", "bit_depth")),
        ({"type": "gain", "gain_db": "loud"}, (0, "gain", "gain_db")),
        ({"type": "gain", "gain": -6}, (0, "gain", "gain")),  # typo: unknown parameter
        ({"type": "flanger"}, (0,)),
        ({"gain_db": 3}, (0,)),
    ],
)
def test_out_of_range_unknown_and_misspelt_parameters_name_the_field(
    plugin: dict[str, Any], location: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as info:
        CHAIN.validate_python([plugin])
    assert info.value.errors()[0]["loc"] == location


def test_a_chain_is_not_empty_and_not_endless() -> None:
    with pytest.raises(ValidationError):
        CHAIN.validate_python([])
    with pytest.raises(ValidationError):
        CHAIN.validate_python([{"type": "gain"}] * 33)


def test_frequencies_must_stay_below_nyquist() -> None:
    chain = CHAIN.validate_python(
        [
            {"type": "lowpass_filter", "cutoff_frequency_hz": 30000},
            {"type": "peak_filter", "cutoff_frequency_hz": 1000},
            {"type": "phaser", "centre_frequency_hz": 23000},
        ]
    )
    problems = nyquist_violations(chain, 44100)
    assert len(problems) == 2
    assert problems[0].startswith("chain.0.cutoff_frequency_hz: 30000 Hz must be below 22050 Hz")
    assert problems[1].startswith("chain.2.centre_frequency_hz")
    assert nyquist_violations(chain, 96000) == []


def test_output_format_rules() -> None:
    assert OutputFormat().media_type == "audio/wav"
    assert OutputFormat(format="mp3").media_type == "audio/mpeg"
    with pytest.raises(ValidationError, match="bit_depth does not apply to mp3"):
        OutputFormat(format="mp3", bit_depth=16)
    with pytest.raises(ValidationError, match="flac supports bit_depth 16 or 24"):
        OutputFormat(format="flac", bit_depth=32)
    problem = OutputFormat(format="mp3").sample_rate_problem(96000)
    assert problem is not None and "96000 Hz" in problem
    assert OutputFormat(format="mp3").sample_rate_problem(44100) is None


def test_requested_effects_name_their_output_file() -> None:
    command = example(EffectsRequested)
    assert isinstance(command, EffectsRequested)
    assert command.output_filename == "processed.flac"
    with pytest.raises(ValidationError):
        EffectsRequested(**{**command.model_dump(), "output_name": "../escape"})
