"""Who reads the bus, declared once: the services subscribe from these declarations and the
AsyncAPI document (`cadenza.runtime.asyncapi`) is built from them. tests/bus checks that each
service's broker subscribes exactly as declared here.

Plain data, like `streams`. Durable names matter beyond the code (KEDA scales workers on
their consumers' lag, see k8s/): renaming one is a deployment change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cadenza.contracts import catalog, composition, effects, model_catalog, render, separation
from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.registry import EVENT_TYPES
from cadenza.contracts.streams import ALL_STREAMS, StreamSpec, stream_for_subject

C = TypeVar("C", bound=Event)
D = TypeVar("D", bound=StageCompleted)
F = TypeVar("F", bound=StageFailed)


@dataclass(frozen=True)
class CommandConsumer(Generic[C, D, F]):
    """A worker's durable pull consumer of one command, and the facts the worker answers with
    (`cadenza.runtime.commands.subscribe_consumer` types the work to return `completed`)."""

    service: str
    command: type[C]
    completed: type[D]
    failed: type[F]
    # The stage its metrics are labelled with.
    stage: str
    durable: str
    # The subscription's name in the workers' logs and in the AsyncAPI document.
    title: str
    description: str

    @property
    def stream(self) -> StreamSpec:
        return stream_for_subject(self.command.subject)


EFFECTS_CONSUMER = CommandConsumer(
    service="effects",
    command=effects.EffectsRequested,
    completed=effects.EffectsCompleted,
    failed=effects.EffectsFailed,
    stage=effects.STAGE,
    durable="effects",
    title="apply-effects",
    description="Applies an effect chain to one audio artifact",
)
SEPARATION_CONSUMER = CommandConsumer(
    service="separation",
    command=separation.SeparationRequested,
    completed=separation.SeparationCompleted,
    failed=separation.SeparationFailed,
    stage=separation.STAGE,
    durable="separation",
    title="separate",
    description="Splits one audio artifact into stems",
)
# A separation worker's second command (admins): fetch a known model into MODEL_DIR.
MODEL_PULL_CONSUMER = CommandConsumer(
    service="separation",
    command=model_catalog.ModelPullRequested,
    completed=model_catalog.ModelPullCompleted,
    failed=model_catalog.ModelPullFailed,
    stage=model_catalog.PULL_STAGE,
    durable="separation-pull",
    title="pull-model",
    description="Fetches a known separation model into the worker's model directory",
)
CATALOG_INGEST_CONSUMER = CommandConsumer(
    service="catalog",
    command=catalog.CatalogIngestRequested,
    completed=catalog.CatalogSongIngested,
    failed=catalog.CatalogIngestFailed,
    stage=catalog.STAGE,
    durable="catalog-ingest",
    title="ingest-song",
    description="Analyses a song's MIDI and/or audio and adds it to the catalog",
)
COMPOSITION_CONSUMER = CommandConsumer(
    service="composition",
    command=composition.CompositionRequested,
    completed=composition.CompositionCompleted,
    failed=composition.CompositionFailed,
    stage=composition.STAGE,
    durable="composition",
    title="blend-songs",
    description="Blends 2–5 catalog songs into a new piece (MIDI, MusicXML, summary)",
)
RENDER_CONSUMER = CommandConsumer(
    service="render",
    command=render.RenderRequested,
    completed=render.RenderCompleted,
    failed=render.RenderFailed,
    stage=render.RENDER_STAGE,
    durable="render",
    title="render-midi",
    description="Renders MIDI to a stereo mix and one stem per track with FluidSynth",
)
MIX_CONSUMER = CommandConsumer(
    service="render",
    command=render.MixRequested,
    completed=render.MixCompleted,
    failed=render.MixFailed,
    stage=render.MIX_STAGE,
    durable="render-mix",
    title="mix-stems",
    description="Mixes stems (gain, pan) into one stereo file",
)
MASTER_CONSUMER = CommandConsumer(
    service="render",
    command=render.MasterRequested,
    completed=render.MasterCompleted,
    failed=render.MasterFailed,
    stage=render.MASTER_STAGE,
    durable="render-master",
    title="master-audio",
    description="EQ, compression, loudness normalisation (BS.1770) and a true-peak ceiling",
)
COMMAND_CONSUMERS: tuple[CommandConsumer[Any, Any, Any], ...] = (
    EFFECTS_CONSUMER,
    SEPARATION_CONSUMER,
    MODEL_PULL_CONSUMER,
    CATALOG_INGEST_CONSUMER,
    COMPOSITION_CONSUMER,
    RENDER_CONSUMER,
    MIX_CONSUMER,
    MASTER_CONSUMER,
)

PROJECTION_DURABLE_PREFIX = "gateway-projection-"


@dataclass(frozen=True)
class ProjectionConsumer:
    """The gateway's durable pull consumer of one subject filter of a stream: every event
    there feeds the jobs projection. Its replicas share it, so each event is applied once."""

    stream: StreamSpec
    filter_subject: str
    durable: str

    @property
    def title(self) -> str:
        return f"project-{self.durable.removeprefix(PROJECTION_DURABLE_PREFIX)}"


def _projection_consumers() -> tuple[ProjectionConsumer, ...]:
    # One durable consumer per subject filter: two subscriptions sharing a durable name
    # would fight over its filter.
    return tuple(
        ProjectionConsumer(
            stream=spec,
            filter_subject=pattern,
            durable=f"{PROJECTION_DURABLE_PREFIX}{spec.name.lower()}"
            + (f"-{index}" if index else ""),
        )
        for spec in ALL_STREAMS
        for index, pattern in enumerate(spec.subjects)
    )


PROJECTION_CONSUMERS = _projection_consumers()

# The gateway's live feed, core NATS subscriptions in every replica (each hears every fact):
# `job.>` carries progress, submissions and cancellations; then every other fact (whatever is
# not a command), such as `render.master.completed` and the catalog's ingestion facts.
LIVE_SUBJECTS = (
    "job.>",
    *sorted(
        t.subject
        for t in EVENT_TYPES
        if not t.subject.endswith(".requested") and not t.subject.startswith("job.")
    ),
)


def live_title(subject: str) -> str:
    """The name of the live feed's subscription to `subject`."""
    return f"live-{subject}"
