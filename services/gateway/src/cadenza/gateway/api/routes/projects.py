"""Projects: shared workspaces with per-project roles, their members, invitations and
activity (adapters over `cadenza.gateway.projects.workspace` and `.membership`).
A project you are not a member of is "not found", exactly as an unknown id."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, WebSocket, status

from cadenza.contracts.envelope import OWNER_PATTERN
from cadenza.gateway.api.params import job_location
from cadenza.gateway.deps import PrincipalDep, ServicesDep, WriterDep
from cadenza.gateway.pagination import next_link
from cadenza.gateway.projects import feedback, membership, mix_jobs, workspace
from cadenza.gateway.projects.room_socket import serve_project_socket
from cadenza.gateway.projects.schemas import (
    ActivityPage,
    ApprovalCreate,
    ApprovalPage,
    ApprovalView,
    CommentCreate,
    CommentPage,
    CommentView,
    InvitationCreate,
    InvitationList,
    InvitationPage,
    InvitationView,
    MemberList,
    MemberView,
    MixJobCreate,
    OwnershipTransfer,
    ProjectCreate,
    ProjectPage,
    ProjectPatch,
    ProjectView,
    RoleChange,
    SharedMixView,
)
from cadenza.gateway.views import JobView

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
invitations = APIRouter(prefix="/api/v1/invitations", tags=["projects"])
sockets = APIRouter(tags=["projects"])

AccountId = Annotated[str, Path(pattern=OWNER_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=200)]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such project for this caller (not a member)"}
}
MANAGED: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    403: {"description": "Your role in the project does not allow this"},
    409: {"description": "The project is archived, or the change conflicts with its state"},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a project (you are its owner)",
    responses={403: {"description": "A read-only account, or it owns the most projects"}},
)
async def create_project(
    body: ProjectCreate, response: Response, services: ServicesDep, caller: WriterDep
) -> ProjectView:
    created = await workspace.create(services, caller, body)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return created


@router.get("", summary="The projects you are a member of, oldest first")
async def list_projects(
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 20,
    cursor: Cursor = None,
    archived: Annotated[bool, Query(description="Archived projects instead")] = False,
) -> ProjectPage:
    found, next_cursor = await workspace.page(services, caller, limit, cursor, archived=archived)
    return ProjectPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )


@router.get("/{project_id}", summary="One project, with your role in it", responses=NOT_FOUND)
async def get_project(
    project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> ProjectView:
    return workspace.view(await workspace.read(services, caller, project_id))


@router.patch("/{project_id}", summary="Change a project's settings", responses=MANAGED)
async def update_project(
    project_id: uuid.UUID, body: ProjectPatch, services: ServicesDep, caller: PrincipalDep
) -> ProjectView:
    return await workspace.update(services, caller, project_id, body)


@router.post(
    "/{project_id}/archive",
    summary="Archive a project: read-only until restored",
    responses=MANAGED,
)
async def archive_project(
    project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> ProjectView:
    return await workspace.set_archived(services, caller, project_id, True)


@router.post("/{project_id}/restore", summary="Restore an archived project", responses=MANAGED)
async def restore_project(
    project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> ProjectView:
    return await workspace.set_archived(services, caller, project_id, False)


@router.get(
    "/{project_id}/activity",
    summary="What happened in the project, newest first",
    responses=NOT_FOUND,
)
async def project_activity(
    project_id: uuid.UUID,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ActivityPage:
    found, next_cursor = await workspace.activity(services, caller, project_id, limit, cursor)
    return ActivityPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )


@router.get("/{project_id}/members", summary="A project's members", responses=NOT_FOUND)
async def list_members(
    project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> MemberList:
    return MemberList(items=await membership.members(services, caller, project_id))


@router.patch(
    "/{project_id}/members/{account_id}", summary="Change a member's role", responses=MANAGED
)
async def change_member_role(
    project_id: uuid.UUID,
    account_id: AccountId,
    body: RoleChange,
    services: ServicesDep,
    caller: PrincipalDep,
) -> MemberView:
    return await membership.change_role(services, caller, project_id, account_id, body)


@router.delete(
    "/{project_id}/members/{account_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member (or yourself: leave)",
    responses=MANAGED,
)
async def remove_member(
    project_id: uuid.UUID, account_id: AccountId, services: ServicesDep, caller: PrincipalDep
) -> None:
    await membership.remove(services, caller, project_id, account_id)


@router.post(
    "/{project_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave a project (its owner transfers it first)",
    responses=MANAGED,
)
async def leave_project(project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep) -> None:
    await membership.remove(services, caller, project_id, caller)


@router.post(
    "/{project_id}/transfer",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Make another member the owner (you stay on as an admin)",
    responses=MANAGED,
)
async def transfer_project(
    project_id: uuid.UUID, body: OwnershipTransfer, services: ServicesDep, caller: PrincipalDep
) -> None:
    await membership.transfer(services, caller, project_id, body.account_id)


@router.post(
    "/{project_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    summary="Invite an account (by id) or an email address to the project",
    responses=MANAGED,
)
async def invite_member(
    project_id: uuid.UUID,
    body: InvitationCreate,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
) -> InvitationView:
    created = await membership.invite(services, caller, project_id, body)
    response.headers["Location"] = f"{invitations.prefix}/{created.id}"
    return created


@router.get(
    "/{project_id}/invitations",
    summary="The project's invitations, oldest first (owner and admins)",
    responses=MANAGED,
)
async def list_project_invitations(
    project_id: uuid.UUID,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> InvitationPage:
    found, next_cursor = await membership.project_invitations(
        services, caller, project_id, limit, cursor
    )
    return InvitationPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )


@router.delete(
    "/{project_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a pending invitation",
    responses=MANAGED,
)
async def revoke_invitation(
    project_id: uuid.UUID, invitation_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> None:
    await membership.revoke(services, caller, project_id, invitation_id)


@router.post(
    "/{project_id}/comments",
    status_code=status.HTTP_201_CREATED,
    summary="Comment (or reply) on the project, a track, an artifact or a time range",
    responses=MANAGED,
)
async def add_comment(
    project_id: uuid.UUID,
    body: CommentCreate,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
) -> CommentView:
    created = await feedback.add_comment(services, caller, project_id, body)
    response.headers["Location"] = f"{router.prefix}/{project_id}/comments/{created.id}"
    return created


@router.get(
    "/{project_id}/comments", summary="The project's comments, oldest first", responses=NOT_FOUND
)
async def list_comments(
    project_id: uuid.UUID,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CommentPage:
    found, next_cursor = await feedback.comments(services, caller, project_id, limit, cursor)
    return CommentPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )


@router.post(
    "/{project_id}/comments/{comment_id}/resolve",
    summary="Resolve a comment (its author, the owner or an admin)",
    responses=MANAGED,
)
async def resolve_comment(
    project_id: uuid.UUID, comment_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> CommentView:
    return await feedback.set_resolved(services, caller, project_id, comment_id, True)


@router.post(
    "/{project_id}/comments/{comment_id}/reopen",
    summary="Reopen a resolved comment",
    responses=MANAGED,
)
async def reopen_comment(
    project_id: uuid.UUID, comment_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> CommentView:
    return await feedback.set_resolved(services, caller, project_id, comment_id, False)


@router.post(
    "/{project_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    summary="Approve, or request changes to, the current version of a job's artifact",
    responses=MANAGED,
)
async def record_approval(
    project_id: uuid.UUID,
    body: ApprovalCreate,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
) -> ApprovalView:
    created = await feedback.record_decision(services, caller, project_id, body)
    response.headers["Location"] = f"{router.prefix}/{project_id}/approvals"
    return created


@router.get(
    "/{project_id}/approvals",
    summary="Reviewers' decisions, newest first, and each artifact version's latest",
    responses=NOT_FOUND,
)
async def list_approvals(
    project_id: uuid.UUID,
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: PrincipalDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ApprovalPage:
    found, state, next_cursor = await feedback.decisions(
        services, caller, project_id, limit, cursor
    )
    return ApprovalPage(
        items=found,
        review_state=state,
        next_cursor=next_cursor,
        next=next_link(request, response, next_cursor),
    )


@router.get(
    "/{project_id}/mix",
    summary="The project's shared mix as it is now (edited live over the project's socket)",
    responses=NOT_FOUND,
)
async def get_shared_mix(
    project_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> SharedMixView:
    seq, tracks = await workspace.shared_mix_of(services, caller, project_id)
    return SharedMixView.model_validate({"seq": seq, "tracks": tracks})


@router.post(
    "/{project_id}/mix/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mix a project job's stems as the shared mix sets them (and master it)",
    responses={**MANAGED, 422: {"description": "No such job in the project, or no stems"}},
)
async def start_mix_job(
    project_id: uuid.UUID,
    body: MixJobCreate,
    response: Response,
    services: ServicesDep,
    caller: WriterDep,
) -> JobView:
    job = await mix_jobs.start(services, caller, project_id, body)
    response.headers["Location"] = job_location(job.id)
    return JobView.of(job)


@invitations.get("", summary="Your pending invitations (to your account or your email)")
async def my_invitations(services: ServicesDep, caller: PrincipalDep) -> InvitationList:
    return InvitationList(items=await membership.mine(services, caller))


@invitations.post(
    "/{invitation_id}/accept",
    summary="Accept an invitation: you join the project with its role",
    responses={
        404: {"description": "No such invitation for you"},
        409: {"description": "Already answered, revoked or expired"},
    },
)
async def accept_invitation(
    invitation_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> InvitationView:
    return await membership.answer(services, caller, invitation_id, accept=True)


@invitations.post(
    "/{invitation_id}/decline",
    summary="Decline an invitation",
    responses={
        404: {"description": "No such invitation for you"},
        409: {"description": "Already answered, revoked or expired"},
    },
)
async def decline_invitation(
    invitation_id: uuid.UUID, services: ServicesDep, caller: PrincipalDep
) -> InvitationView:
    return await membership.answer(services, caller, invitation_id, accept=False)


@sockets.websocket("/api/v1/projects/{project_id}/ws")
async def project_room(websocket: WebSocket, project_id: uuid.UUID, services: ServicesDep) -> None:
    """A member's live connection to the project: presence, activity and every change as
    it happens (cadenza.gateway.projects.room_socket says what goes each way)."""
    await serve_project_socket(websocket, services, services.rooms, project_id)
