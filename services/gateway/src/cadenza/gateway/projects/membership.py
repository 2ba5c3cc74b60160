"""Who is in a project: members, invitations (by account id or email; accepted, declined,
revoked or expired), role changes, removal, leaving and ownership transfer.

Bounds: MEMBERS_PER_PROJECT seats, pending invitations included; one pending invitation
per invitee and project; an invitation lasts INVITATION_TTL_S; a caller's own pending
invitations are listed 100 at most. An admin manages only the roles below admin; the owner
cannot leave or be removed (transfer first).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from cadenza.contracts.projects import (
    InvitationAccepted,
    InvitationDeclined,
    InvitationRevoked,
    MemberInvited,
    MemberRemoved,
    MemberRoleChanged,
    OwnershipTransferred,
    ProjectEvent,
)
from cadenza.gateway.application.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessableError,
)
from cadenza.gateway.projects import access, repository
from cadenza.gateway.projects.repository import Invitation, Project
from cadenza.gateway.projects.roles import Action, may_manage
from cadenza.gateway.projects.schemas import (
    InvitationCreate,
    InvitationView,
    MemberView,
    RoleChange,
)
from cadenza.gateway.services import Services


def invitation_view(found: Invitation) -> InvitationView:
    return InvitationView(
        id=found.id,
        project_id=found.project_id,
        project_name=found.project_name or None,
        account_id=found.account_id,
        email=found.email,
        role=found.role,
        invited_by=found.invited_by,
        status="expired"
        if found.status == "pending" and found.expires_at <= datetime.now(UTC)
        else found.status,
        created_at=found.created_at,
        expires_at=found.expires_at,
        decided_at=found.decided_at,
    )


async def members(services: Services, caller: str, project_id: uuid.UUID) -> list[MemberView]:
    async with services.pool.acquire() as conn:
        await access.readable(conn, caller, project_id)
        found = await repository.members(conn, project_id)
    return [
        MemberView(account_id=m.account_id, email=m.email, role=m.role, joined_at=m.joined_at)
        for m in found
    ]


async def invite(
    services: Services, caller: str, project_id: uuid.UUID, request: InvitationCreate
) -> InvitationView:
    settings = services.settings
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.INVITE)
        _may_grant(project, request.role)
        email = request.email.strip() if request.email else None
        if request.account_id is not None:
            if await repository.account_email(conn, request.account_id) is None:
                raise UnprocessableError.one(
                    "account_id", f"there is no account {request.account_id}"
                )
            if await repository.member_role(conn, project_id, request.account_id):
                raise ConflictError(f"{request.account_id} is already a member of this project")
        elif email is not None and await _member_with_email(conn, project_id, email):
            raise ConflictError(f"{email} is already a member of this project")
        earlier = await repository.pending_invitation_for(
            conn, project_id, request.account_id, email
        )
        if earlier is not None:
            raise ConflictError(
                f"{request.account_id or email} already has an invitation to this project"
                f" ({earlier.id}); revoke it to send another"
            )
        most = settings.members_per_project
        if await repository.seats_taken(conn, project_id) >= most:
            raise ForbiddenError(
                f'project "{project.settings.name}" has {most} members and pending'
                " invitations, the most a project may have; remove a member or revoke an"
                " invitation first"
            )
        invitation_id = uuid.uuid4()
        expires = datetime.now(UTC) + timedelta(seconds=settings.invitation_ttl_s)
        invited = access.event(
            MemberInvited,
            project,
            caller,
            invitation_id=invitation_id,
            account_id=request.account_id,
            email=email,
            role=request.role,
            expires_at=expires,
        )
        await access.record(conn, [invited])
        found = await repository.invitation(conn, invitation_id)
    await access.publish(services, [invited])
    assert found is not None
    return invitation_view(found)


async def _member_with_email(conn: asyncpg.Connection, project_id: uuid.UUID, email: str) -> bool:
    return any(
        m.email is not None and m.email.lower() == email.lower()
        for m in await repository.members(conn, project_id)
    )


def _may_grant(project: Project, role: str) -> None:
    if not may_manage(project.role, role):
        raise ForbiddenError(
            f'you are {project.role} in project "{project.settings.name}": only the owner'
            f" may make someone {role}"
        )


async def project_invitations(
    services: Services, caller: str, project_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[InvitationView], str | None]:
    """Every invitation of the project, oldest first (its managers' view)."""
    project = await access.readable(services.pool, caller, project_id)
    access.require_role(project, Action.INVITE)  # archived or not: reading them is fine
    try:
        found, next_cursor = await repository.invitations_of_project(
            services.pool, project_id, limit, cursor
        )
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    return [invitation_view(i) for i in found], next_cursor


async def revoke(
    services: Services, caller: str, project_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.INVITE)
        found = await repository.invitation(conn, invitation_id, lock=True)
        if found is None or found.project_id != project_id:
            raise NotFoundError(f"invitation {invitation_id} not found")
        if found.status != "pending":
            raise ConflictError(f"invitation {invitation_id} was already {found.status}")
        _may_grant(project, found.role)
        revoked: list[ProjectEvent] = [
            access.event(InvitationRevoked, project, caller, invitation_id=invitation_id)
        ]
        await access.record(conn, revoked)
    await access.publish(services, revoked)


async def mine(services: Services, caller: str) -> list[InvitationView]:
    email = await repository.account_email(services.pool, caller)
    return [
        invitation_view(i) for i in await repository.invitations_for(services.pool, caller, email)
    ]


async def answer(
    services: Services, caller: str, invitation_id: uuid.UUID, *, accept: bool
) -> InvitationView:
    """Accept or decline an invitation addressed to the caller (by id or email); anyone
    else's is "not found"."""
    missing = NotFoundError(f"invitation {invitation_id} not found")
    async with services.pool.acquire() as conn, conn.transaction():
        found = await repository.invitation(conn, invitation_id)
        email = await repository.account_email(conn, caller)
        if found is None or not _addressed_to(found, caller, email):
            raise missing
        # The project's lock first, as every change to it does; then the invitation again.
        project = await repository.lock_project(conn, found.project_id)
        found = await repository.invitation(conn, invitation_id, lock=True)
        assert found is not None
        if found.status != "pending":
            raise ConflictError(f"invitation {invitation_id} was already {found.status}")
        if found.expires_at <= datetime.now(UTC):
            raise ConflictError(f"invitation {invitation_id} has expired; ask for a new one")
        if project.archived:
            raise ConflictError(f'project "{project.settings.name}" is archived')
        if accept and await repository.member_role(conn, project.id, caller):
            raise ConflictError("you are already a member of this project")
        decided: ProjectEvent
        if accept:
            decided = access.event(
                InvitationAccepted, project, caller, invitation_id=invitation_id, role=found.role
            )
        else:
            decided = access.event(InvitationDeclined, project, caller, invitation_id=invitation_id)
        await access.record(conn, [decided])
        after = await repository.invitation(conn, invitation_id)
    await access.publish(services, [decided])
    assert after is not None
    return invitation_view(after)


def _addressed_to(found: Invitation, caller: str, email: str | None) -> bool:
    if found.account_id is not None:
        return found.account_id == caller
    return email is not None and found.email is not None and found.email.lower() == email.lower()


async def change_role(
    services: Services, caller: str, project_id: uuid.UUID, account_id: str, change: RoleChange
) -> MemberView:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.MANAGE_MEMBERS)
        current = await repository.member_role(conn, project_id, account_id)
        if current is None:
            raise NotFoundError(f"{account_id} is not a member of this project")
        if account_id == caller:
            raise ForbiddenError("you cannot change your own role; another manager can")
        _may_manage(project, current, account_id)
        _may_grant(project, change.role)
        changed: list[ProjectEvent] = []
        if current != change.role:
            changed = [
                access.event(
                    MemberRoleChanged, project, caller, account_id=account_id, role=change.role
                )
            ]
            await access.record(conn, changed)
        member = next(
            m for m in await repository.members(conn, project_id) if m.account_id == account_id
        )
    await access.publish(services, changed)
    return MemberView(
        account_id=member.account_id,
        email=member.email,
        role=member.role,
        joined_at=member.joined_at,
    )


def _may_manage(project: Project, role: str, account_id: str) -> None:
    if role == "owner":
        raise ForbiddenError(
            f"{account_id} owns this project: the owner changes only by a transfer"
        )
    if not may_manage(project.role, role):
        raise ForbiddenError(
            f"you are {project.role} in this project: only the owner manages an {role}"
        )


async def remove(services: Services, caller: str, project_id: uuid.UUID, account_id: str) -> None:
    """Remove a member (a manager), or leave (the caller, any role but owner)."""
    leaving = account_id == caller
    async with services.pool.acquire() as conn, conn.transaction():
        action = Action.READ if leaving else Action.MANAGE_MEMBERS
        project = await access.project_for_action(conn, caller, project_id, action)
        current = await repository.member_role(conn, project_id, account_id)
        if current is None:
            raise NotFoundError(f"{account_id} is not a member of this project")
        if leaving and current == "owner":
            raise ConflictError(
                "you own this project: transfer it to another member before you leave"
            )
        if not leaving:
            _may_manage(project, current, account_id)
        removed: list[ProjectEvent] = [
            access.event(
                MemberRemoved,
                project,
                caller,
                account_id=account_id,
                reason="left" if leaving else "removed",
            )
        ]
        await access.record(conn, removed)
    await access.publish(services, removed)


async def transfer(services: Services, caller: str, project_id: uuid.UUID, account_id: str) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        project = await access.project_for_action(conn, caller, project_id, Action.TRANSFER)
        if account_id == caller:
            raise ConflictError("you already own this project")
        if await repository.member_role(conn, project_id, account_id) is None:
            raise UnprocessableError.one(
                "account_id", f"{account_id} is not a member of this project; invite them first"
            )
        transferred: list[ProjectEvent] = [
            access.event(
                OwnershipTransferred, project, caller, from_account=caller, to_account=account_id
            )
        ]
        await access.record(conn, transferred)
    await access.publish(services, transferred)
