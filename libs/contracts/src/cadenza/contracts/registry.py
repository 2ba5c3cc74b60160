"""Subject → event class, for code that reads events it did not subscribe to by type."""

from __future__ import annotations

from cadenza.contracts.catalog import (
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
)
from cadenza.contracts.composition import (
    CompositionCompleted,
    CompositionFailed,
    CompositionRequested,
)
from cadenza.contracts.effects import EffectsCompleted, EffectsFailed, EffectsRequested
from cadenza.contracts.envelope import Envelope, Event
from cadenza.contracts.jobs import (
    JobCancelled,
    JobDeleted,
    JobPinned,
    JobProgress,
    JobSubmitted,
    RetentionRemoved,
    StageDeadLettered,
)
from cadenza.contracts.model_catalog import (
    ModelPullCompleted,
    ModelPullFailed,
    ModelPullRequested,
)
from cadenza.contracts.projects import PROJECT_BY_SUBJECT
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
from cadenza.contracts.separation import (
    SeparationCompleted,
    SeparationFailed,
    SeparationRequested,
)

EVENT_TYPES: tuple[type[Event], ...] = (
    EffectsRequested,
    EffectsCompleted,
    EffectsFailed,
    SeparationRequested,
    SeparationCompleted,
    SeparationFailed,
    ModelPullRequested,
    ModelPullCompleted,
    ModelPullFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
    CatalogIngestFailed,
    CompositionRequested,
    CompositionCompleted,
    CompositionFailed,
    RenderRequested,
    RenderCompleted,
    RenderFailed,
    MixRequested,
    MixCompleted,
    MixFailed,
    MasterRequested,
    MasterCompleted,
    MasterFailed,
    JobSubmitted,
    JobProgress,
    JobCancelled,
    StageDeadLettered,
    JobPinned,
    JobDeleted,
    RetentionRemoved,
)

BY_SUBJECT: dict[str, type[Event]] = {cls.subject: cls for cls in EVENT_TYPES}


def decode_event(subject: str, payload: bytes | str) -> Event:
    """Parse a bus message into its typed event; KeyError for a subject we do not know."""
    return BY_SUBJECT[subject].model_validate_json(payload)


# Every message the outbox may hold: a job's events and a project's.
ANY_BY_SUBJECT: dict[str, type[Envelope]] = {**BY_SUBJECT, **PROJECT_BY_SUBJECT}
