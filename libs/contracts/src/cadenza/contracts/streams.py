"""JetStream stream definitions: the same in tests, development and production.

Plain data (this package depends on pydantic only); cadenza.runtime turns them into
nats-py configs and creates or updates them on start.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

WEEK_S = 7 * 24 * 3600


class StreamSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    subjects: tuple[str, ...]
    description: str
    # Limits retention, long enough to replay a week of events.
    max_age_s: float = WEEK_S
    duplicate_window_s: float = 300.0
    max_msg_size: int = 1024 * 1024
    replicas: int = Field(default=1, ge=1, le=5)


EFFECTS = StreamSpec(
    name="EFFECTS",
    subjects=("effects.>",),
    description="Effects commands and facts",
)
SEPARATION = StreamSpec(
    name="SEPARATION",
    subjects=("separation.>",),
    description="Separation commands and facts",
)
COMPOSITION = StreamSpec(
    name="COMPOSITION",
    subjects=("composition.>",),
    description="Composition (blend) commands and facts",
)
# Render, mix and master: one service, one stream.
RENDER = StreamSpec(
    name="RENDER",
    subjects=("render.>",),
    description="Render, mix and master commands and facts",
)
# Only ingestion: catalog queries (`catalog.query.*`) are request/reply and must never be
# captured by a stream (JetStream would answer them with a PubAck).
CATALOG = StreamSpec(
    name="CATALOG",
    subjects=("catalog.ingest.>", "catalog.song.>"),
    description="Catalog ingestion commands and facts",
)
JOBS = StreamSpec(
    name="JOBS",
    subjects=("job.>",),
    description="Job-wide facts: progress and cancellation",
)

ALL_STREAMS: tuple[StreamSpec, ...] = (EFFECTS, SEPARATION, COMPOSITION, RENDER, CATALOG, JOBS)

# Projects (workspaces): membership, settings, invitations. Not a job's: no worker consumes
# it and the jobs projection does not read it; the gateway folds it into the projects tables.
PROJECTS = StreamSpec(
    name="PROJECTS",
    subjects=("project.>",),
    description="Projects: settings, members, invitations, ownership",
    # A project's whole history rebuilds it: kept as long as projects are.
    max_age_s=0,
)
WORKSPACE_STREAMS: tuple[StreamSpec, ...] = (PROJECTS,)

# The server's notices that a consumer delivered a message its maximum number of times,
# kept so the dead-letter keeper sees every one even if it was down when it was sent.
MAX_DELIVERIES_ADVISORIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"
ADVISORIES = StreamSpec(
    name="ADVISORIES",
    subjects=(MAX_DELIVERIES_ADVISORIES,),
    description="JetStream max-deliveries advisories, for the dead-letter keeper",
)
# Commands no worker could finish, copied with where they came from (headers).
DEAD_LETTERS = StreamSpec(
    name="DEADLETTERS",
    subjects=("deadletter.>",),
    description="Commands that reached their delivery limit, kept for inspection and replay",
    max_age_s=4 * WEEK_S,
)
OPERATIONS_STREAMS: tuple[StreamSpec, ...] = (ADVISORIES, DEAD_LETTERS)


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether NATS delivers `subject` to a subscription on `pattern` (`*` and `>` wildcards)."""
    tokens = subject.split(".")
    parts = pattern.split(".")
    if parts[-1] == ">":
        prefix = parts[:-1]
        return len(tokens) > len(prefix) and all(
            p in ("*", t) for p, t in zip(prefix, tokens, strict=False)
        )
    return len(parts) == len(tokens) and all(
        p in ("*", t) for p, t in zip(parts, tokens, strict=True)
    )


def stream_for_subject(subject: str) -> StreamSpec:
    for spec in (*ALL_STREAMS, *WORKSPACE_STREAMS):
        if any(subject_matches(pattern, subject) for pattern in spec.subjects):
            return spec
    raise KeyError(f"no stream captures subject {subject!r}")


# Key-value bucket: job id → reason, for every cancelled job (kept as long as the streams).
CANCELLATIONS_BUCKET = "cadenza-cancellations"
# Key-value bucket: model name → ModelInfo JSON, refreshed by the workers that can run it.
MODELS_BUCKET = "cadenza-models"
MODELS_TTL_S = 300.0
# Key-value bucket: SoundFont name → SoundFontInfo JSON, refreshed by render workers.
SOUNDFONTS_BUCKET = "cadenza-soundfonts"
SOUNDFONTS_TTL_S = 300.0
