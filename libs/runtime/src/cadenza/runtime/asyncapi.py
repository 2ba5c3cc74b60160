"""The AsyncAPI document of the bus: every event with its payload schema, who publishes it
and who consumes it, generated with FastStream.

It is built from what the services run on: the event classes (schemas and docstrings), the
streams, the consumers the workers and the gateway subscribe as (`cadenza.contracts.consumers`)
and the routing slips. Only which events the gateway and the catalog's bulk importer publish
is written out here, as their code does it. The broker below only describes: it never
connects. `make docs` writes the document to docs/asyncapi.json (a test keeps that copy
current) and the gateway serves it at `GET /api/v1/asyncapi`.
"""

from __future__ import annotations

import functools
import inspect
import json
import operator
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from faststream.nats import JStream, NatsBroker
from faststream.specification import AsyncAPI

from cadenza.contracts.catalog import (
    QUERY_PREFIX,
    CatalogIngestFailed,
    CatalogIngestRequested,
    CatalogSongIngested,
)
from cadenza.contracts.consumers import (
    COMMAND_CONSUMERS,
    LIVE_SUBJECTS,
    PROJECTION_CONSUMERS,
    live_title,
)
from cadenza.contracts.credentials import REVOKED_SUBJECT
from cadenza.contracts.envelope import SCHEMA_VERSION, Event
from cadenza.contracts.jobs import (
    JobCancelled,
    JobDeleted,
    JobPinned,
    JobProgress,
    JobSubmitted,
    RetentionRemoved,
    StageDeadLettered,
)
from cadenza.contracts.live import OPEN_QUEUE as LIVE_QUEUE
from cadenza.contracts.live import OPEN_SUBJECT as LIVE_OPEN
from cadenza.contracts.pipeline import kinds_after
from cadenza.contracts.projects import PROJECT_EVENT_TYPES, ProjectEvent
from cadenza.contracts.registry import EVENT_TYPES
from cadenza.contracts.routing import KIND_COMMANDS
from cadenza.contracts.streams import (
    ALL_STREAMS,
    OPERATIONS_STREAMS,
    WORKSPACE_STREAMS,
    StreamSpec,
    stream_for_subject,
    subject_matches,
)
from cadenza.runtime.bus import MSG_ID_HEADER

TITLE = "Cadenza events"
# The address docker compose and Kubernetes give NATS; each deployment sets its own NATS_URL.
SERVER_URL = "nats://nats:4222"
GATEWAY = "gateway"
BULK_IMPORTER = "cadenza-catalog import/seed"


@dataclass(frozen=True)
class Subscription:
    """One subscription on the bus: a receive operation of the document."""

    title: str
    subject: str
    who: str
    what: str
    # Where JetStream keeps its place; None for a core NATS subscription.
    durable: str | None
    stream: StreamSpec | None
    how: str

    @property
    def events(self) -> tuple[type[Event], ...]:
        return tuple(e for e in EVENT_TYPES if subject_matches(self.subject, e.subject))


def _pull_consumer(durable: str, stream: StreamSpec, shared_by: str) -> str:
    return f"durable pull consumer `{durable}` on stream `{stream.name}`, shared by {shared_by}"


def subscriptions() -> tuple[Subscription, ...]:
    """Every subscription to events, in a stable order: workers, gateway, bulk importer."""
    workers = (
        Subscription(
            title=c.title,
            subject=c.command.subject,
            who=c.service,
            what=f"{c.description}; answers `{c.completed.subject}` or `{c.failed.subject}`",
            durable=c.durable,
            stream=c.stream,
            how=_pull_consumer(c.durable, c.stream, f"every {c.service} worker"),
        )
        for c in COMMAND_CONSUMERS
    )
    projection = (
        Subscription(
            title=p.title,
            subject=p.filter_subject,
            who=GATEWAY,
            what="Applies each event to the jobs projection (PostgreSQL), then queues the webhook "
            "deliveries it makes (see the overview, Webhooks)",
            durable=p.durable,
            stream=p.stream,
            how=_pull_consumer(p.durable, p.stream, "its replicas"),
        )
        for p in PROJECTION_CONSUMERS
    )
    live = (
        Subscription(
            title=live_title(subject),
            subject=subject,
            who=GATEWAY,
            what="Feeds the live job updates of `WS /api/v1/ws`",
            durable=None,
            stream=None,
            how="core NATS subscription in every replica",
        )
        for subject in LIVE_SUBJECTS
    )
    bulk_import = (
        Subscription(
            title=f"bulk-import-{event.subject}",
            subject=event.subject,
            who=BULK_IMPORTER,
            what="Waits for the outcome of each song it submitted",
            durable=None,
            stream=None,
            how="core NATS subscription while it runs",
        )
        for event in (CatalogSongIngested, CatalogIngestFailed)
    )
    return (*workers, *projection, *live, *bulk_import)


def publishers() -> dict[str, tuple[str, ...]]:
    """Subject → who publishes it and when, in a stable order."""
    found: dict[str, list[str]] = {event.subject: [] for event in EVENT_TYPES}

    def add(event: type[Event], who: str, when: str) -> None:
        line = f"{who}: {when}"
        if line not in found[event.subject]:
            found[event.subject].append(line)

    add(JobSubmitted, GATEWAY, "when it accepts a job (through its transactional outbox)")
    for consumer in COMMAND_CONSUMERS:
        add(consumer.command, GATEWAY, "the first stage of a job it accepts")
    add(JobCancelled, GATEWAY, "`POST /api/v1/jobs/{job_id}/cancel`")
    add(JobDeleted, GATEWAY, "`DELETE /api/v1/jobs/{job_id}` (a finished job)")
    add(JobPinned, GATEWAY, "`POST` and `DELETE /api/v1/jobs/{job_id}/pin`")
    add(RetentionRemoved, GATEWAY, "its retention sweep")
    add(StageDeadLettered, GATEWAY, "its dead-letter keeper, on a max-deliveries advisory")
    for event in (JobSubmitted, CatalogIngestRequested):
        add(event, BULK_IMPORTER, "one ingest job per song")
    kinds = {command: kind for kind, command in KIND_COMMANDS.items()}
    for consumer in COMMAND_CONSUMERS:
        add(JobProgress, consumer.service, "while a stage runs")
        add(consumer.completed, consumer.service, f"when `{consumer.title}` succeeds")
        add(consumer.failed, consumer.service, f"when `{consumer.title}` fails")
        kind = kinds.get(consumer.command)
        for then in kinds_after(kind) if kind else ():
            when = f"the step after `{kind}` in a routing slip"
            add(KIND_COMMANDS[then], consumer.service, when)
    return {subject: tuple(lines) for subject, lines in found.items()}


# Which request makes each of a project's events.
PROJECT_ROUTES: dict[str, str] = {
    "project.created": "`POST /api/v1/projects`",
    "project.updated": "`PATCH /api/v1/projects/{project_id}`",
    "project.archived": "`POST /api/v1/projects/{project_id}/archive`",
    "project.restored": "`POST /api/v1/projects/{project_id}/restore`",
    "project.invitation.sent": "`POST /api/v1/projects/{project_id}/invitations`",
    "project.invitation.accepted": "`POST /api/v1/invitations/{invitation_id}/accept`",
    "project.invitation.declined": "`POST /api/v1/invitations/{invitation_id}/decline`",
    "project.invitation.revoked": "`DELETE /api/v1/projects/{project_id}/invitations/{id}`",
    "project.member.role_changed": "`PATCH /api/v1/projects/{project_id}/members/{account_id}`",
    "project.member.removed": "`DELETE …/members/{account_id}` or `POST …/leave`",
    "project.ownership.transferred": "`POST /api/v1/projects/{project_id}/transfer`",
    "project.comment.added": "`POST /api/v1/projects/{project_id}/comments`",
    "project.comment.resolved": "`POST …/comments/{comment_id}/resolve`",
    "project.comment.reopened": "`POST …/comments/{comment_id}/reopen`",
    "project.approval.recorded": "`POST /api/v1/projects/{project_id}/approvals`",
}


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _retention(spec: StreamSpec) -> str:
    kept = f"kept {spec.max_age_s / 86400:g} days" if spec.max_age_s else "kept for good"
    return (
        f"`{spec.name}` ({', '.join(f'`{s}`' for s in spec.subjects)}): {spec.description}; "
        f"{kept}, duplicate window {spec.duplicate_window_s:g} s"
    )


def overview() -> str:
    envelope = ", ".join(f"`{name}`" for name in Event.model_fields)
    project_envelope = ", ".join(f"`{name}`" for name in ProjectEvent.model_fields)
    return f"""Every event on Cadenza's NATS JetStream bus. Commands (`<domain>.requested`) \
are each taken by one worker's durable pull consumer; facts (`<domain>.completed`, \
`<domain>.failed`, `job.*`) say what happened. Each event's channel is named by its subject \
and says who publishes and who consumes it; the other channels are the subscriptions.

Every event is a JSON object: the envelope ({envelope}) and its own fields. It is published \
with the header `{MSG_ID_HEADER}` set to `event_id`, so JetStream drops a copy published again \
within the stream's duplicate window. Consumers ignore fields they do not know; \
`schema_version` (now {SCHEMA_VERSION}) changes only for breaking changes.

Streams (file storage, limits retention):
{_bullets(_retention(spec) for spec in ALL_STREAMS)}

Projects (workspaces) have events of their own (`project.*`), with the envelope \
({project_envelope}): the gateway decides each change to a project (who may do what) and \
publishes what it decided, numbered per project by `sequence`; no worker consumes them, and \
`cadenza-replay rebuild` folds them, in that order, into the projects' tables:
{_bullets(_retention(spec) for spec in WORKSPACE_STREAMS)}

For operations, not events:
{_bullets(_retention(spec) for spec in OPERATIONS_STREAMS)}

Catalog queries (`{QUERY_PREFIX}.*`) are core NATS request/reply, not events; they are not \
listed here. Nor are live effects sessions (`{LIVE_OPEN}` request/reply in the queue group \
`{LIVE_QUEUE}`, then raw audio blocks on `live.session.<id>.in` and `.out`): core NATS, \
described in `cadenza.contracts.live` and README.md, "Live effects". Nor is \
`{REVOKED_SUBJECT}`, on which gateway replicas tell each other which credentials ended \
(`cadenza.contracts.credentials`), so each closes the sockets opened with them.

Webhooks: the gateway also calls back over HTTP. The projection's consumers, once a job \
fact is applied, turn it into deliveries for the accounts' webhooks \
(`POST /api/v1/webhooks`: a URL and the job event types `job.progress`, \
`job.stage_completed`, `job.completed`, `job.failed`, `job.cancelled`), stored before the \
fact is acknowledged, and the gateway POSTs each one \
with Standard Webhooks headers (`webhook-id`, the same on every retry; `webhook-timestamp`; \
`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), retrying with back-off. \
The payload's schema is the OpenAPI document's `webhooks` section (`GET /openapi.json`).

Generated from the code (`cadenza.runtime.asyncapi`): `make docs` writes docs/asyncapi.json, \
and the gateway serves it at `GET /api/v1/asyncapi`."""


def _docstring(event: type[Event]) -> str:
    # A fact without a docstring of its own reads its base's (`StageCompleted`, …).
    return inspect.getdoc(event) or event.__name__


def _event_description(
    event: type[Event], published_by: tuple[str, ...], consumed_by: Iterable[Subscription]
) -> str:
    consumers = [f"`{s.title}`: {s.who}, {s.how}" for s in consumed_by]
    return (
        f"{_docstring(event)}\n\nStream: `{stream_for_subject(event.subject).name}`."
        f"\n\nPublished by:\n{_bullets(published_by)}"
        f"\n\nConsumed by:\n{_bullets(consumers)}"
    )


def _receiver(events: tuple[type[Event], ...]) -> Callable[..., Awaitable[None]]:
    async def receive(event: Event) -> None:
        """Never called: this broker only describes."""

    # FastStream takes the payload schema from the handler's annotation.
    receive.__annotations__ = {"event": functools.reduce(operator.or_, events), "return": None}
    return receive


def describe_bus() -> NatsBroker:
    """A broker declaring every event (a publisher each) and every subscription to them."""
    broker = NatsBroker(
        SERVER_URL,
        description="NATS with JetStream; each deployment sets its address in `NATS_URL`",
    )
    everyone = subscriptions()
    published_by = publishers()
    for event in EVENT_TYPES:
        consumers = [s for s in everyone if subject_matches(s.subject, event.subject)]
        broker.publisher(
            event.subject,
            title=event.subject,
            description=_event_description(event, published_by[event.subject], consumers),
            schema=event,
        )
    for project_event in PROJECT_EVENT_TYPES:
        broker.publisher(
            project_event.subject,
            title=project_event.subject,
            description=f"{inspect.getdoc(project_event) or project_event.__name__}"
            f"\n\nStream: `{stream_for_subject(project_event.subject).name}`."
            f"\n\nPublished by:\n- {GATEWAY}: {PROJECT_ROUTES[project_event.subject]}"
            "\n\nConsumed by: none (folded by the gateway as it decides, and by"
            " `cadenza-replay rebuild`).",
            schema=project_event,
        )
    for subscription in everyone:
        stream = subscription.stream
        broker.subscriber(
            subscription.subject,
            stream=JStream(stream.name, declare=False) if stream else None,
            durable=subscription.durable,
            pull_sub=stream is not None,
            title=subscription.title,
            description=f"{subscription.what}.\n\n{subscription.who}: {subscription.how}.",
        )(_receiver(subscription.events))
    return broker


def asyncapi_document() -> str:
    """The document as JSON, byte for byte the same on every run (docs/asyncapi.json)."""
    specification = AsyncAPI(
        describe_bus(),
        title=TITLE,
        version=str(SCHEMA_VERSION),
        description=overview(),
        schema_version="3.0.0",
    ).to_specification()
    return json.dumps(specification.to_jsonable(), indent=2, sort_keys=True) + "\n"
