"""Comments and approvals in a project: what members say about its tracks and artifacts,
and reviewers' decisions on artifact versions.

Every member comments and replies (threads one level deep) and reads them; a comment is
resolved or reopened by its author or a manager (owner, admin); owners and reviewers record
decisions ("approved" or "changes_requested") on an artifact of one of the project's jobs,
about its current version (sha256). Bounds: a comment or a note of at most 2000 characters,
COMMENTS_PER_PROJECT comments and APPROVALS_PER_PROJECT decisions per project, pages of 100.
"""

from __future__ import annotations

import uuid

from cadenza.contracts.projects import (
    ApprovalRecorded,
    CommentAdded,
    CommentReopened,
    CommentResolved,
    ProjectEvent,
)
from cadenza.gateway import repository as jobs_repository
from cadenza.gateway.application.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from cadenza.gateway.projects import access, repository
from cadenza.gateway.projects.repository import Approval, Comment
from cadenza.gateway.projects.roles import Action
from cadenza.gateway.projects.schemas import (
    ApprovalCreate,
    ApprovalView,
    CommentCreate,
    CommentView,
)
from cadenza.gateway.services import Services


def comment_view(found: Comment) -> CommentView:
    return CommentView(
        id=found.id,
        project_id=found.project_id,
        author=found.author,
        body=found.body,
        anchor=found.anchor,
        parent_id=found.parent_id,
        resolved=found.resolved_at is not None,
        resolved_by=found.resolved_by,
        resolved_at=found.resolved_at,
        created_at=found.created_at,
    )


def approval_view(found: Approval) -> ApprovalView:
    return ApprovalView(
        id=found.id,
        project_id=found.project_id,
        job_id=found.job_id,
        artifact=found.artifact,
        sha256=found.sha256,
        decision=found.decision,
        reviewer=found.reviewer,
        note=found.note,
        created_at=found.created_at,
    )


async def add_comment(
    services: Services, caller: str, project_id: uuid.UUID, request: CommentCreate
) -> CommentView:
    most = services.settings.comments_per_project
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.COMMENT)
        if request.parent_id is not None:
            parent = await repository.comment(conn, project_id, request.parent_id)
            if parent is None:
                raise UnprocessableError.one(
                    "parent_id", f"project has no comment {request.parent_id}"
                )
            if parent.parent_id is not None:
                raise UnprocessableError.one(
                    "parent_id", "that is a reply: reply to the comment it answers"
                )
        if await repository.count_comments(conn, project_id) >= most:
            raise ForbiddenError(
                f'project "{project.settings.name}" has {most} comments, the most a'
                " project may hold"
            )
        comment_id = uuid.uuid4()
        added: list[ProjectEvent] = [
            access.event(
                CommentAdded,
                project,
                caller,
                comment_id=comment_id,
                body=request.body,
                anchor=request.anchor,
                parent_id=request.parent_id,
            )
        ]
        await access.record(conn, added)
        found = await repository.comment(conn, project_id, comment_id)
    await access.publish(services, added)
    assert found is not None
    return comment_view(found)


async def comments(
    services: Services, caller: str, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[CommentView], str | None]:
    await access.readable(services.pool, caller, project_id)
    try:
        found, next_cursor = await repository.comments(services.pool, project_id, limit, cursor)
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    return [comment_view(c) for c in found], next_cursor


async def set_resolved(
    services: Services, caller: str, project_id: uuid.UUID, comment_id: uuid.UUID, resolved: bool
) -> CommentView:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.COMMENT)
        found = await repository.comment(conn, project_id, comment_id)
        if found is None:
            raise NotFoundError(f"comment {comment_id} not found")
        if found.author != caller and project.role not in ("owner", "admin"):
            raise ForbiddenError(
                "only the comment's author, the project's owner or an admin resolves or reopens it"
            )
        if (found.resolved_at is not None) == resolved:
            raise ConflictError(
                f"comment {comment_id} is already {'resolved' if resolved else 'open'}"
            )
        kind = CommentResolved if resolved else CommentReopened
        changed: list[ProjectEvent] = [access.event(kind, project, caller, comment_id=comment_id)]
        await access.record(conn, changed)
        after = await repository.comment(conn, project_id, comment_id)
    await access.publish(services, changed)
    assert after is not None
    return comment_view(after)


async def record_decision(
    services: Services, caller: str, project_id: uuid.UUID, request: ApprovalCreate
) -> ApprovalView:
    most = services.settings.approvals_per_project
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.APPROVE)
        job = await jobs_repository.get_job(services.pool, caller, request.job_id)
        if job is None or job.project_id != project_id:
            raise UnprocessableError.one("job_id", f"project has no job {request.job_id}")
        ref = job.artifacts.get(request.artifact)
        if ref is None:
            raise UnprocessableError.one(
                "artifact", f"job {request.job_id} has no artifact named {request.artifact!r}"
            )
        if await repository.count_approvals(conn, project_id) >= most:
            raise ForbiddenError(
                f'project "{project.settings.name}" has {most} decisions, the most a'
                " project may hold"
            )
        approval_id = uuid.uuid4()
        decided: list[ProjectEvent] = [
            access.event(
                ApprovalRecorded,
                project,
                caller,
                approval_id=approval_id,
                job_id=request.job_id,
                artifact=request.artifact,
                sha256=ref["sha256"],
                decision=request.decision,
                note=request.note,
            )
        ]
        await access.record(conn, decided)
        found = await repository.approval(conn, approval_id)
    await access.publish(services, decided)
    assert found is not None
    return approval_view(found)


async def decisions(
    services: Services, caller: str, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[ApprovalView], list[ApprovalView], str | None]:
    """Every decision, newest first, and each artifact version's latest (the review state)."""
    await access.readable(services.pool, caller, project_id)
    try:
        found, next_cursor = await repository.approvals(services.pool, project_id, limit, cursor)
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    state = await repository.review_state(services.pool, project_id)
    return [approval_view(a) for a in found], [approval_view(a) for a in state], next_cursor
