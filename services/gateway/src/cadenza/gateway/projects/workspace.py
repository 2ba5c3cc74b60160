"""A project's own use cases: create, list, read, change its settings, archive, restore,
and read its activity. Bounds: PROJECTS_PER_ACCOUNT owned by one account (archived ones
count); pages of at most 100."""

from __future__ import annotations

import uuid

from cadenza.contracts.projects import (
    ProjectArchived,
    ProjectCreated,
    ProjectEvent,
    ProjectRestored,
    ProjectUpdated,
)
from cadenza.gateway import shared_mix, shared_mix_repository
from cadenza.gateway.application.errors import ConflictError, ForbiddenError, UnprocessableError
from cadenza.gateway.cursors import offset_cursor, offset_position
from cadenza.gateway.projects import access, repository
from cadenza.gateway.projects.repository import Project
from cadenza.gateway.projects.roles import Action
from cadenza.gateway.projects.schemas import (
    ActivityEntry,
    ProjectCreate,
    ProjectPatch,
    ProjectView,
)
from cadenza.gateway.services import Services


def view(project: Project) -> ProjectView:
    return ProjectView(
        id=project.id,
        **project.settings.model_dump(),
        owner_id=project.owner_id,
        your_role=project.role,
        members=project.members,
        archived=project.archived,
        archived_at=project.archived_at,
        version=project.version,
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


async def create(services: Services, caller: str, request: ProjectCreate) -> ProjectView:
    most = services.settings.projects_per_account
    project_id = uuid.uuid4()
    created = ProjectCreated(
        project_id=project_id,
        actor=caller,
        sequence=1,
        correlation_id=project_id,
        settings=request,
    )
    async with services.pool.acquire() as conn, conn.transaction():
        await repository.lock_account_projects(conn, caller)
        if await repository.owned_count(conn, caller) >= most:
            raise ForbiddenError(
                f"you own {most} projects, the most one account may own; transfer or archive"
                " one you no longer need (archived projects still count)"
            )
        await access.record(conn, [created])
        project = await repository.project_for(conn, caller, project_id)
    await access.publish(services, [created])
    assert project is not None
    return view(project)


async def page(
    services: Services, caller: str, limit: int, cursor: str | None, *, archived: bool
) -> tuple[list[ProjectView], str | None]:
    try:
        found, next_cursor = await repository.projects_of(
            services.pool, caller, limit, cursor, archived=archived
        )
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    return [view(p) for p in found], next_cursor


async def read(services: Services, caller: str, project_id: uuid.UUID) -> Project:
    return await access.readable(services.pool, caller, project_id)


async def shared_mix_of(
    services: Services, caller: str, project_id: uuid.UUID
) -> tuple[int, dict[str, shared_mix.TrackMix]]:
    """The shared mix as it is now: its sequence number and each track's settings."""
    await access.readable(services.pool, caller, project_id)
    seq, state = await shared_mix_repository.read_state(services.pool, project_id)
    return seq, shared_mix.as_json(state)


async def update(
    services: Services, caller: str, project_id: uuid.UUID, patch: ProjectPatch
) -> ProjectView:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.UPDATE)
        settings = patch.applied_to(project.settings)
        changed: list[ProjectEvent] = []
        if settings != project.settings:
            changed = [access.event(ProjectUpdated, project, caller, settings=settings)]
            await access.record(conn, changed)
        after = await repository.project_for(conn, caller, project_id)
    await access.publish(services, changed)
    assert after is not None
    return view(after)


async def set_archived(
    services: Services, caller: str, project_id: uuid.UUID, archived: bool
) -> ProjectView:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.ARCHIVE)
        if project.archived == archived:
            state = "archived" if archived else "not archived"
            raise ConflictError(f'project "{project.settings.name}" is already {state}')
        kind = ProjectArchived if archived else ProjectRestored
        changed: list[ProjectEvent] = [access.event(kind, project, caller)]
        await access.record(conn, changed)
        after = await repository.project_for(conn, caller, project_id)
    await access.publish(services, changed)
    assert after is not None
    return view(after)


async def activity(
    services: Services, caller: str, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[ActivityEntry], str | None]:
    """Newest first: what happened in the project, who did it and when."""
    await read(services, caller, project_id)
    before = offset_position(cursor, limit=2**31 - 1) if cursor else None
    found = await repository.activity(services.pool, project_id, limit, before)
    entries = [
        ActivityEntry(
            sequence=a.sequence,
            type=a.subject,
            actor=a.actor,
            at=a.occurred_at,
            data={k: v for k, v in a.payload.items() if k not in ENVELOPE_FIELDS},
        )
        for a in found
    ]
    more = len(found) == limit and found[-1].sequence > 1
    return entries, offset_cursor(found[-1].sequence) if more else None


ENVELOPE_FIELDS = frozenset(
    {
        "event_id",
        "correlation_id",
        "causation_id",
        "occurred_at",
        "schema_version",
        "project_id",
        "actor",
        "sequence",
    }
)
