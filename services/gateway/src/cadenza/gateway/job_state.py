"""A job's state as a pure fold over its events: the projection and the live feed share it.

`reduce` is monotonic: progress never goes back, and the first terminal fact wins. Events
may therefore arrive twice or out of order (they come from several streams) and the
result is the same, which is what makes the projection idempotent and rebuildable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import (
    JobCancelled,
    JobDeleted,
    JobPinned,
    JobProgress,
    JobSubmitted,
    RetentionRemoved,
    StageCompleted,
    StageDeadLettered,
    StageFailed,
)

Status = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True)
class StageState:
    name: str
    status: Status = "queued"
    progress: float = 0.0
    # What the service said about the run when it finished (model, device, cache hit…).
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "progress": self.progress,
            "details": self.details,
        }


@dataclass(frozen=True)
class JobState:
    id: uuid.UUID
    owner: str
    kind: str
    status: Status
    progress: float
    stages: tuple[StageState, ...]
    input: dict[str, Any]
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    finished_at: datetime | None = None
    idempotency_key: str | None = None
    pinned: bool = False
    artifacts_expired_at: datetime | None = None
    # The owner deleted it: reads answer 404, the row stays as a tombstone for its key.
    deleted_at: datetime | None = None
    # Started in a project: its members see it.
    project_id: uuid.UUID | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def new_job(event: JobSubmitted, idempotency_key: str | None = None) -> JobState:
    return JobState(
        id=event.job_id,
        owner=event.owner,
        kind=event.kind,
        status="queued",
        progress=0.0,
        stages=tuple(StageState(name) for name in event.stages),
        input=event.input,
        params=event.params,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        idempotency_key=idempotency_key or event.idempotency_key,
        project_id=event.project_id,
    )


def _overall(stages: tuple[StageState, ...]) -> float:
    if not stages:
        return 0.0
    done = sum(1.0 if s.status == "completed" else s.progress for s in stages)
    return min(done / len(stages), 1.0)


def _with_stage(job: JobState, name: str, **changes: Any) -> tuple[StageState, ...]:
    return tuple(replace(s, **changes) if s.name == name else s for s in job.stages)


def _touch(job: JobState, event: Event, **changes: Any) -> JobState:
    return replace(job, updated_at=max(job.updated_at, event.occurred_at), **changes)


def reduce(job: JobState, event: Event) -> JobState:
    """The job after `event`; the same object when the event changes nothing."""
    if event.job_id != job.id:
        return job
    # Pins and retention apply to finished jobs too (they are about keeping the results).
    if isinstance(event, JobDeleted):
        if job.deleted_at is not None or not job.terminal:
            return job
        return replace(job, artifacts={}, deleted_at=event.occurred_at)
    if isinstance(event, JobPinned):
        return job if job.pinned == event.pinned else replace(job, pinned=event.pinned)
    if isinstance(event, RetentionRemoved):
        if event.what != "artifacts" or job.artifacts_expired_at is not None:
            return job
        return replace(job, artifacts={}, artifacts_expired_at=event.occurred_at)
    if job.terminal:
        return job
    if isinstance(event, JobProgress):
        stage = next((s for s in job.stages if s.name == event.stage), None)
        if stage is None or stage.status in TERMINAL:
            return job
        progress = max(stage.progress, event.progress)
        if progress == stage.progress and stage.status == "running" and job.status == "running":
            return job
        stages = _with_stage(job, stage.name, status="running", progress=progress)
        return _touch(job, event, stages=stages, status="running", progress=_overall(stages))
    if isinstance(event, StageCompleted):
        stages = _with_stage(
            job, event.stage, status="completed", progress=1.0, details=dict(event.details)
        )
        artifacts = {
            **job.artifacts,
            **{name: ref.model_dump(mode="json") for name, ref in event.outputs.items()},
        }
        # Finished when every stage is: the last stage's fact (job_finished) can be folded
        # before an earlier stage's, which another stream's consumer carries; ending the
        # job then would drop the earlier stage's outputs (a terminal job takes no more).
        known = any(s.name == event.stage for s in stages)
        finished = all(s.status == "completed" for s in stages) or (
            event.job_finished and not known
        )
        if not finished:
            # A routing slip handed the job on: the next stage's command is on its way.
            names = [s.name for s in stages]
            if event.stage in names:
                following = names.index(event.stage) + 1
                if following < len(stages) and stages[following].status == "queued":
                    stages = tuple(
                        replace(s, status="running") if i == following else s
                        for i, s in enumerate(stages)
                    )
        return _touch(
            job,
            event,
            stages=stages,
            artifacts=artifacts,
            status="completed" if finished else "running",
            progress=1.0 if finished else _overall(stages),
            finished_at=event.occurred_at if finished else None,
        )
    if isinstance(event, StageDeadLettered) and any(
        s.name == event.stage and s.status == "completed" for s in job.stages
    ):
        return job  # the last attempt finished after all; its outcome stands
    if isinstance(event, StageFailed):
        return _touch(
            job,
            event,
            stages=_with_stage(job, event.stage, status="failed"),
            status="failed",
            error={
                "stage": event.stage,
                "code": event.code,
                "reason": event.reason,
                "attempts": event.attempts,
            },
            finished_at=event.occurred_at,
        )
    if isinstance(event, JobCancelled):
        stages = tuple(
            s if s.status == "completed" else replace(s, status="cancelled") for s in job.stages
        )
        return _touch(
            job,
            event,
            stages=stages,
            status="cancelled",
            error={"stage": None, "code": "cancelled", "reason": event.reason},
            finished_at=event.occurred_at,
        )
    return job
