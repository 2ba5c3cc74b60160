"""What clients send to POST /api/v1/jobs, and how a request becomes its first events."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field

from cadenza.contracts.envelope import Event, derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.gateway.job_requests.blend import BlendJobRequest
from cadenza.gateway.job_requests.common import Context, Problem
from cadenza.gateway.job_requests.effects import EffectsJobRequest
from cadenza.gateway.job_requests.pipeline import PipelineJobRequest
from cadenza.gateway.job_requests.render import MasterJobRequest, RenderJobRequest
from cadenza.gateway.job_requests.separation import SeparationJobRequest

# Job ids from an Idempotency-Key are uuid5(owner/key) in this namespace.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1d55-3bfa-4f0c-9d7e-0a6f7f0c2a11")

AnyJobRequest = (
    EffectsJobRequest
    | SeparationJobRequest
    | BlendJobRequest
    | RenderJobRequest
    | MasterJobRequest
    | PipelineJobRequest
)
JobRequest = Annotated[AnyJobRequest, Field(discriminator="kind")]
JOB_KINDS: tuple[str, ...] = ("effects", "separation", "blend", "render", "master", "pipeline")


def plan_job(request: AnyJobRequest, context: Context) -> tuple[JobSubmitted, list[Event]]:
    """The job's first fact and the commands that start its work."""
    submitted = JobSubmitted(
        event_id=derive_id(context.job_id, JobSubmitted.subject),
        job_id=context.job_id,
        owner=context.owner,
        correlation_id=context.correlation_id,
        kind=request.kind,
        input=request.input.model_dump(mode="json") if request.input is not None else {},
        params=_dumped(request.resolved_params(context)),
        stages=list(request.stages),
        project_id=request.project_id,
    )
    return submitted, request.commands(submitted, context)


def _dumped(params: Any) -> dict[str, Any]:
    if isinstance(params, BaseModel):
        return params.model_dump(mode="json", exclude_none=True)
    return dict(params)


__all__ = [
    "IDEMPOTENCY_NAMESPACE",
    "JOB_KINDS",
    "AnyJobRequest",
    "BlendJobRequest",
    "Context",
    "EffectsJobRequest",
    "JobRequest",
    "MasterJobRequest",
    "PipelineJobRequest",
    "Problem",
    "RenderJobRequest",
    "SeparationJobRequest",
    "plan_job",
]
