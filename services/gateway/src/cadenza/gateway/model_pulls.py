"""Models an admin can have the separation workers fetch: what is pullable (the shipped
registry and what the workers advertise they can pull), and the pull job, a one-stage job
whose command a separation worker answers (`cadenza.separation.model_pulls`)."""

from __future__ import annotations

import logging
import uuid

from starlette.requests import HTTPConnection

from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.contracts.model_catalog import (
    KNOWN_MODELS,
    PULL_JOB_KIND,
    PULL_STAGE,
    KnownModel,
    ModelPullRequested,
)
from cadenza.gateway.errors import UnprocessableError
from cadenza.gateway.job_state import JobState
from cadenza.gateway.services import Services
from cadenza.runtime.logging import job_context
from cadenza.runtime.model_catalog import CatalogRegistry

log = logging.getLogger(__name__)


def catalog_registry(conn: HTTPConnection, services: Services) -> CatalogRegistry:
    """The app's reader of the workers' catalogs (made on first use, then kept)."""
    registry: CatalogRegistry | None = getattr(conn.app.state, "model_catalog", None)
    if registry is None:
        registry = CatalogRegistry(services.models.js)
        conn.app.state.model_catalog = registry
    return registry


async def pullable(registry: CatalogRegistry) -> dict[str, KnownModel]:
    """The shipped registry, and what running workers can pull (theirs win: an operator's
    MODEL_CATALOG_FILE may replace an entry)."""
    return {**KNOWN_MODELS, **await registry.available()}


async def request_pull(
    services: Services, registry: CatalogRegistry, owner: str, name: str
) -> JobState:
    """Accept a pull of `name` as a job of `owner` (an admin); 422 for an unknown name."""
    known = await pullable(registry)
    if name not in known:
        raise UnprocessableError.one(
            "name", f"no known model {name[:64]!r}; known models: {', '.join(sorted(known))}"
        )
    job_id = uuid.uuid4()
    submitted = JobSubmitted(
        event_id=derive_id(job_id, JobSubmitted.subject),
        job_id=job_id,
        owner=owner,
        correlation_id=uuid.uuid4(),
        kind=PULL_JOB_KIND,
        input={},
        params={"model": name},
        stages=[PULL_STAGE],
    )
    command = ModelPullRequested.caused_by(submitted, model=name)
    with job_context(job_id=job_id, correlation_id=submitted.correlation_id):
        job = await services.projection.accept(submitted, [command], None)
        assert job is not None
        log.info("accepted a pull of model %s for %s", name, owner)
        # Committed with the job: the outbox relay publishes it if NATS does not confirm now.
        await services.outbox.publish_staged([submitted, command])
    return job
