"""Typed events: the only language spoken between Cadenza services."""

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.audio_format import MEDIA_TYPES, OutputFormat
from cadenza.contracts.catalog import (
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
    SongMetadata,
)
from cadenza.contracts.effect_chain import Effect, EffectChain, nyquist_violations
from cadenza.contracts.effects import EffectsCompleted, EffectsFailed, EffectsRequested
from cadenza.contracts.envelope import Event, derive_id
from cadenza.contracts.jobs import (
    JobCancelled,
    JobProgress,
    JobSubmitted,
    StageCompleted,
    StageFailed,
)
from cadenza.contracts.registry import BY_SUBJECT, EVENT_TYPES, decode_event
from cadenza.contracts.separation import (
    CLASSICAL_MODEL,
    STEM_NAMES,
    ModelInfo,
    SeparationCompleted,
    SeparationFailed,
    SeparationRequested,
)

__all__ = [
    "BY_SUBJECT",
    "CLASSICAL_MODEL",
    "EVENT_TYPES",
    "MEDIA_TYPES",
    "STEM_NAMES",
    "ArtifactRef",
    "CatalogIngestFailed",
    "CatalogIngestRequested",
    "CatalogSongIngested",
    "Effect",
    "EffectChain",
    "EffectsCompleted",
    "EffectsFailed",
    "EffectsRequested",
    "Event",
    "JobCancelled",
    "JobProgress",
    "JobSubmitted",
    "ModelInfo",
    "OutputFormat",
    "SeparationCompleted",
    "SeparationFailed",
    "SeparationRequested",
    "SongMetadata",
    "StageCompleted",
    "StageFailed",
    "decode_event",
    "derive_id",
    "nyquist_violations",
]
