"""Administration (roles admin and owner): accounts and their roles."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from cadenza.contracts.credentials import CredentialsRevoked
from cadenza.gateway.auth import accounts
from cadenza.gateway.auth.views import UserPage, UserView
from cadenza.gateway.cursors import offset_cursor, offset_position
from cadenza.gateway.deps import AdminDep, PoolDep, ServicesDep
from cadenza.gateway.pagination import next_link
from cadenza.gateway.settings import Role

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"description": "The caller is not an admin"}}


class UserChange(BaseModel):
    # Unknown members are refused (422), as the schema says (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None


@router.get("/users", summary="Every account", responses=FORBIDDEN)
async def list_users(
    request: Request,
    response: Response,
    admin: AdminDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> UserPage:
    offset = offset_position(cursor, limit=1_000_000_000)
    users, total = await accounts.list_users(pool, limit, offset)
    next_cursor = offset_cursor(offset + limit) if offset + limit < total else None
    return UserPage(
        items=[UserView.of(u) for u in users],
        total=total,
        next_cursor=next_cursor,
        next=next_link(request, response, next_cursor),
    )


@router.patch(
    "/users/{user_id}",
    summary="Change an account's role, or disable it (its tokens and keys stop working, and "
    "its open WebSockets close)",
    responses={404: {"description": "No such account"}, **FORBIDDEN},
)
async def change_user(
    user_id: uuid.UUID, body: UserChange, admin: AdminDep, pool: PoolDep, services: ServicesDep
) -> UserView:
    target = await accounts.get_user(pool, user_id)
    if target is None:
        raise HTTPException(404, f"user {user_id} not found")
    touches_owner = target.role == "owner" or body.role == "owner"
    if touches_owner and admin.role != "owner":
        raise HTTPException(403, "only an owner can grant or change the owner role")
    if str(user_id) == admin.id and (body.disabled or (body.role and body.role != admin.role)):
        raise HTTPException(422, "you cannot disable yourself or change your own role")
    user = await accounts.update_user(pool, user_id, body.role, body.disabled)
    if user is None:
        raise HTTPException(404, f"user {user_id} not found")
    if user.disabled and not target.disabled:
        reason = "the account was disabled by an admin"
    elif user.role != target.role:
        reason = f"your role changed to {user.role}; reconnect"
    else:
        return UserView.of(user)
    # Open sockets carry the old permissions: they end, and reconnect with the new ones.
    await services.sockets.announce(CredentialsRevoked(user_id=str(user_id), reason=reason))
    return UserView.of(user)


@router.post(
    "/retention/run",
    summary="Run a retention sweep now; how many of each kind it removed",
    responses=FORBIDDEN,
)
async def run_retention(admin: AdminDep, services: ServicesDep) -> dict[str, int]:
    return await services.retention.sweep()
