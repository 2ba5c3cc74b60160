"""A project as the caller may use it, and the changes decided on it.

Every use case on a project starts with `project_for_action` inside its transaction (the
project's row locked, so changes to one project are decided one after the other), and ends
with `record`: the events folded into the tables and staged in the outbox in the same
transaction; `publish` sends them once it has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import asyncpg

from cadenza.contracts.projects import PROJECT_ROLES, ProjectEvent
from cadenza.gateway import outbox
from cadenza.gateway.application.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from cadenza.gateway.projects import projection, repository
from cadenza.gateway.projects.repository import Project
from cadenza.gateway.projects.roles import ALLOWED, WHILE_ARCHIVED, Action, allows
from cadenza.gateway.services import Services

E = TypeVar("E", bound=ProjectEvent)


def not_found(project_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"project {project_id} not found")


async def project_for_action(
    conn: asyncpg.Connection, caller: str, project_id: uuid.UUID, action: Action
) -> Project:
    """The project, locked, if `caller` is a member whose role allows `action` and the
    project's state does too: else 404 (not a member: as for an unknown id), 403 (the role)
    or 409 (archived)."""
    project = await repository.project_for(conn, caller, project_id, lock=True)
    if project is None:
        raise not_found(project_id)
    check(project, action)
    return project


async def readable(
    pool: asyncpg.Pool | asyncpg.Connection, caller: str, project_id: uuid.UUID
) -> Project:
    """The project as `caller` (a member) sees it; 404, as for an unknown id, otherwise."""
    project = await repository.project_for(pool, caller, project_id)
    if project is None:
        raise not_found(project_id)
    return project


async def member_of(
    pool: asyncpg.Pool | asyncpg.Connection, caller: str, project_id: uuid.UUID
) -> Project:
    """A project named in a request's field (a job's `project_id`): 422 naming the field
    when the caller is not a member, exactly as for a project that does not exist."""
    project = await repository.project_for(pool, caller, project_id)
    if project is None:
        raise UnprocessableError.one("project_id", f"you are in no project {project_id}")
    return project


async def may_start_jobs(
    pool: asyncpg.Pool | asyncpg.Connection, caller: str, project_id: uuid.UUID
) -> Project:
    """The project, if the caller's role there starts (and cancels, pins, deletes) jobs."""
    project = await member_of(pool, caller, project_id)
    check(project, Action.START_JOBS)
    return project


def check(project: Project, action: Action) -> None:
    """403 unless the reader's role allows `action`; 409 if the project is archived and
    `action` changes it."""
    require_role(project, action)
    name = project.settings.name
    if project.archived and action not in WHILE_ARCHIVED:
        raise ConflictError(f'project "{name}" is archived: restore it before you {action.value}')


def require_role(project: Project, action: Action) -> None:
    role = project.role
    if role is None or not allows(role, action):
        allowed = [f"{r}s" for r in PROJECT_ROLES if r in ALLOWED[action]]
        who = (
            " or ".join(allowed)
            if len(allowed) < 3
            else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        )
        raise ForbiddenError(
            f'you are {_a(role or "non-member")} in project "{project.settings.name}":'
            f" only {who} may {action.value}"
        )


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def event(cls: type[E], project: Project, caller: str, **fields: Any) -> E:
    """The project's next event."""
    return cls(
        project_id=project.id,
        actor=caller,
        sequence=project.version + 1,
        correlation_id=project.id,
        **fields,
    )


async def record(conn: asyncpg.Connection, events: Sequence[ProjectEvent]) -> None:
    for decided in events:
        await projection.fold(conn, decided)
    await outbox.stage(conn, events)


async def publish(services: Services, events: Sequence[ProjectEvent]) -> None:
    """After the commit: on the bus now, or by the outbox relay if NATS does not confirm."""
    await services.outbox.publish_staged(events)
