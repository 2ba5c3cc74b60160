"""A project's events folded into the projects tables, each once (keyed by event id).

The use cases fold what they decide in the transaction that decides it (and stage it in the
outbox for the bus); `cadenza-replay rebuild` folds the PROJECTS stream into an empty
database the same way, so both give the same rows. Every time written comes from the event.
"""

from __future__ import annotations

import asyncpg
from prometheus_client import Counter

from cadenza.contracts.projects import (
    ApprovalRecorded,
    CommentAdded,
    CommentReopened,
    CommentResolved,
    InvitationAccepted,
    InvitationDeclined,
    InvitationRevoked,
    MemberInvited,
    MemberRemoved,
    MemberRoleChanged,
    OwnershipTransferred,
    ProjectArchived,
    ProjectCreated,
    ProjectEvent,
    ProjectRestored,
    ProjectUpdated,
)
from cadenza.gateway.projects import repository
from cadenza.gateway.projects.repository import Approval, Comment, Invitation

FOLDED = Counter(
    "cadenza_project_events_total",
    "Project events folded in, by subject and result",
    ["subject", "result"],
)


async def fold(conn: asyncpg.Connection, event: ProjectEvent) -> bool:
    """Inside the caller's transaction; False when the event was already folded in."""
    if not await repository.record_event(conn, event):
        FOLDED.labels(event.subject, "duplicate").inc()
        return False
    await _apply(conn, event)
    await repository.set_version(conn, event.project_id, event.sequence)
    FOLDED.labels(event.subject, "applied").inc()
    return True


async def _apply(conn: asyncpg.Connection, event: ProjectEvent) -> None:
    at, project = event.occurred_at, event.project_id
    match event:
        case ProjectCreated():
            await repository.insert_project(conn, project, event.actor, event.settings, at)
        case ProjectUpdated():
            await repository.update_settings(conn, project, event.settings, at)
        case ProjectArchived():
            await repository.set_archived(conn, project, at, at)
        case ProjectRestored():
            await repository.set_archived(conn, project, None, at)
        case MemberInvited():
            invitation = Invitation(
                id=event.invitation_id,
                project_id=project,
                account_id=event.account_id,
                email=event.email,
                role=event.role,
                invited_by=event.actor,
                status="pending",
                created_at=at,
                expires_at=event.expires_at,
                decided_at=None,
            )
            await repository.insert_invitation(conn, invitation)
        case InvitationAccepted():
            await repository.decide_invitation(conn, event.invitation_id, "accepted", at)
            await repository.upsert_member(conn, project, event.actor, event.role, at)
        case InvitationDeclined():
            await repository.decide_invitation(conn, event.invitation_id, "declined", at)
        case InvitationRevoked():
            await repository.decide_invitation(conn, event.invitation_id, "revoked", at)
        case MemberRoleChanged():
            await repository.upsert_member(conn, project, event.account_id, event.role, at)
        case MemberRemoved():
            await repository.remove_member(conn, project, event.account_id)
        case CommentAdded():
            anchor = (
                event.anchor.model_dump(mode="json", exclude_none=True) if event.anchor else None
            )
            await repository.insert_comment(
                conn,
                Comment(
                    id=event.comment_id,
                    project_id=project,
                    author=event.actor,
                    body=event.body,
                    anchor=anchor,
                    parent_id=event.parent_id,
                    resolved_at=None,
                    resolved_by=None,
                    created_at=at,
                ),
            )
        case CommentResolved():
            await repository.set_resolved(conn, event.comment_id, event.actor, at)
        case CommentReopened():
            await repository.set_resolved(conn, event.comment_id, None, None)
        case ApprovalRecorded():
            await repository.insert_approval(
                conn,
                Approval(
                    id=event.approval_id,
                    project_id=project,
                    job_id=event.job_id,
                    artifact=event.artifact,
                    sha256=event.sha256,
                    decision=event.decision,
                    reviewer=event.actor,
                    note=event.note,
                    created_at=at,
                ),
            )
        case OwnershipTransferred():
            await repository.transfer_owner(conn, project, event.from_account, event.to_account, at)
