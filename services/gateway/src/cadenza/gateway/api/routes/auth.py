"""Accounts: register, sign in (access + refresh tokens), refresh, sign out, API keys."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cadenza.contracts.credentials import CredentialsRevoked
from cadenza.gateway.application.errors import UnprocessableError
from cadenza.gateway.auth import accounts, passwords, tokens
from cadenza.gateway.auth.principal import Authenticator
from cadenza.gateway.auth.views import ApiKeyPage, ApiKeyView, NewApiKey, UserView
from cadenza.gateway.cursors import offset_cursor, offset_position
from cadenza.gateway.deps import (
    AuthenticatorDep,
    CallerDep,
    PoolDep,
    ServicesDep,
    SettingsDep,
    limit_sign_in,
)
from cadenza.gateway.pagination import next_link
from cadenza.gateway.rate_limit import retry_after

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# ASCII space only: Python's Unicode `\s` (NEL, NBSP, …) is not a JSON Schema validator's.
SPACE = " \t\n\r\f\v"
_S = r" \t\n\r\f\v"  # the same, as a regular expression writes it
EMAIL = re.compile(rf"^[^@{_S}]{{1,64}}@[^@{_S}]+\.[^@{_S}.]{{2,}}$")
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, wrong or revoked credentials"}
}
SignInLimit = Depends(limit_sign_in)


# EMAIL as the schema states it: the surrounding space the validator strips, and no NUL.
# Space is spelled out: `\s` means more in Python than in a JSON Schema (ECMA) validator.
EMAIL_SCHEMA = rf"^[{_S}]*[^@{_S}\x00]{{1,64}}@[^@{_S}\x00]+\.[^@{_S}.\x00]{{2,}}[{_S}]*$"


class Credentials(BaseModel):
    # Unknown members are refused (422), as the schema says (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        max_length=254, examples=["ada@example.com"], json_schema_extra={"pattern": EMAIL_SCHEMA}
    )
    password: str = Field(max_length=passwords.MAX_LENGTH)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip(SPACE)
        if not EMAIL.match(value):
            raise ValueError(f"{value[:80]!r} is not an email address")
        return value


class Registration(Credentials):
    """A new account's credentials; the password's length is checked with a sentence
    (passwords.password_problem), stated here for the schema."""

    password: str = Field(
        max_length=passwords.MAX_LENGTH, json_schema_extra={"minLength": passwords.MIN_LENGTH}
    )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the scheme, not a secret)
    expires_in: int = Field(description="Seconds the access token stays valid")
    user: UserView


class RefreshRequest(BaseModel):
    # Unknown members are refused (422), as the schema says (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(max_length=4096)


class LogoutRequest(BaseModel):
    # Unknown members are refused (422), as the schema says (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(None, max_length=4096)


class StorageUse(BaseModel):
    stored_bytes: int = Field(description="Files kept: uploads, job outputs, songs' files")
    reserved_bytes: int = Field(description="What queued and running jobs are expected to write")
    quota_bytes: int | None = Field(description="The account's storage quota (null: none)")
    remaining_bytes: int | None


class JobsUse(BaseModel):
    active: int = Field(description="Jobs queued or running")
    max_active: int | None = Field(description="At most this many at once (null: no limit)")


class Limits(BaseModel):
    max_upload_bytes: int
    max_job_output_bytes: int
    max_job_memory_bytes: int
    max_cpu_per_audio_second: float
    probes_per_account: int
    live_sessions: int


class Me(BaseModel):
    id: str
    role: str
    via: str
    email: str | None = None
    storage: StorageUse
    jobs: JobsUse
    limits: Limits


class ApiKeyRequest(BaseModel):
    # Unknown members are refused (422), as the schema says (additionalProperties: false).
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["laptop CLI"])


def _pair(
    auth: Authenticator, user: accounts.User, session_id: uuid.UUID, refresh_id: uuid.UUID
) -> TokenPair:
    settings = auth.settings
    access, _ = tokens.issue(
        auth.secret, "access", user.id, session_id, settings.access_token_ttl_s
    )
    refresh, _ = tokens.issue(
        auth.secret, "refresh", user.id, session_id, settings.refresh_token_ttl_s, refresh_id
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_s,
        user=UserView.of(user),
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account (role producer)",
    dependencies=[SignInLimit],
    responses={
        403: {"description": "Registration is closed on this server"},
        409: {"description": "An account with this email exists"},
    },
)
async def register(body: Registration, pool: PoolDep, settings: SettingsDep) -> UserView:
    if settings.registration == "closed":
        raise HTTPException(403, "registration is closed on this server; ask an admin")
    if problem := passwords.password_problem(body.password):
        raise UnprocessableError.one("password", problem)
    password_hash = await passwords.hash_password(body.password)
    try:
        user = await accounts.create_user(pool, body.email, password_hash, "producer")
    except accounts.EmailTakenError:
        raise HTTPException(409, f"an account with email {body.email} already exists") from None
    return UserView.of(user)


@router.post(
    "/login",
    summary="Sign in: an access token and a refresh token",
    dependencies=[SignInLimit],
    responses={
        **UNAUTHORIZED,
        429: {"description": "Too many attempts from this address, or for this account"},
    },
)
async def login(body: Credentials, pool: PoolDep, auth: AuthenticatorDep) -> TokenPair:
    settings = auth.settings
    if wait := await accounts.sign_in_wait(pool, body.email):
        after = retry_after(wait)
        raise HTTPException(
            429,
            f"too many failed sign-ins for this account; try again in {after} s",
            headers={"Retry-After": after},
        )
    found = await accounts.credentials_for(pool, body.email)
    user, stored = found if found else (None, None)
    if not await passwords.verify_password(stored, body.password) or user is None:
        await accounts.record_failed_sign_in(
            pool, body.email, settings.sign_in_free_attempts, settings.sign_in_max_backoff_s
        )
        raise HTTPException(401, "wrong email or password")
    if user.disabled:
        raise HTTPException(401, "this account is disabled; ask an admin")
    await accounts.clear_failed_sign_ins(pool, user.id)
    refresh_id = uuid.uuid4()
    session_id = await accounts.start_session(
        pool, user.id, auth.settings.refresh_token_ttl_s, refresh_id
    )
    return _pair(auth, user, session_id, refresh_id)


@router.post(
    "/refresh",
    summary="Trade a refresh token for a new pair (each refresh token works once)",
    dependencies=[SignInLimit],
    responses=UNAUTHORIZED,
)
async def refresh(
    body: RefreshRequest, pool: PoolDep, auth: AuthenticatorDep, services: ServicesDep
) -> TokenPair:
    try:
        claims = tokens.read(auth.secret, body.refresh_token, "refresh")
    except tokens.TokenError as e:
        raise HTTPException(401, str(e)) from None
    if await accounts.session_account(pool, claims.session_id) is None:
        raise HTTPException(401, "the session has ended (signed out, revoked or expired)")
    new_id = uuid.uuid4()
    outcome = await accounts.rotate_refresh(pool, claims.session_id, claims.token_id, new_id)
    if outcome == "reused":
        await services.sockets.announce(
            CredentialsRevoked(
                user_id=str(claims.user_id),
                session_id=claims.session_id,
                reason="the session was revoked: its refresh token was used twice",
            )
        )
        raise HTTPException(
            401,
            "this refresh token was already used, so it may have been copied; "
            "the session is revoked, sign in again",
        )
    user = await accounts.get_user(pool, claims.user_id)
    if outcome == "unknown" or user is None:
        raise HTTPException(401, "the refresh token is not valid")
    return _pair(auth, user, claims.session_id, new_id)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: the session's access and refresh tokens stop working",
    responses=UNAUTHORIZED,
)
async def logout(
    caller: CallerDep,
    pool: PoolDep,
    auth: AuthenticatorDep,
    services: ServicesDep,
    body: LogoutRequest | None = None,
) -> Response:
    session_id = caller.session_id
    if session_id is None and body and body.refresh_token:
        try:
            session_id = tokens.read(auth.secret, body.refresh_token, "refresh").session_id
        except tokens.TokenError as e:
            raise HTTPException(401, str(e)) from None
    if session_id is None:
        raise HTTPException(
            400, "nothing to sign out of: call with an access token, or send its refresh_token"
        )
    await accounts.revoke_session(pool, session_id, "signed out")
    await services.sockets.announce(
        CredentialsRevoked(user_id=caller.id, session_id=session_id, reason="signed out")
    )
    return Response(status_code=204)


@router.get(
    "/me",
    summary="Who this request acts as, what it stores and runs, and its limits",
    responses=UNAUTHORIZED,
)
async def me(caller: CallerDep, pool: PoolDep, services: ServicesDep) -> Me:
    email = None
    if caller.via != "dev":
        user = await accounts.get_user(pool, uuid.UUID(caller.id))
        email = user.email if user else None
    usage = await services.quotas.usage(pool, caller.id)
    settings = services.settings
    return Me(
        id=caller.id,
        role=caller.role,
        via=caller.via,
        email=email,
        storage=StorageUse(
            stored_bytes=usage.stored_bytes,
            reserved_bytes=usage.reserved_bytes,
            quota_bytes=usage.storage_quota_bytes or None,
            remaining_bytes=usage.remaining_bytes,
        ),
        jobs=JobsUse(active=usage.active_jobs, max_active=usage.max_active_jobs or None),
        limits=Limits(
            max_upload_bytes=settings.max_upload_bytes,
            max_job_output_bytes=settings.max_job_output_bytes,
            max_job_memory_bytes=settings.max_job_memory_bytes,
            max_cpu_per_audio_second=settings.max_cpu_per_audio_second,
            probes_per_account=settings.probes_per_account,
            live_sessions=settings.live_sessions_per_principal,
        ),
    )


def _account_id(caller_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(caller_id)
    except ValueError:
        raise HTTPException(
            403, "API keys belong to accounts; sign in (development mode has no account)"
        ) from None


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for scripts and the CLI (the key is shown once)",
    responses={**UNAUTHORIZED, 409: {"description": "The account has the most keys it may"}},
)
async def create_api_key(
    body: ApiKeyRequest, response: Response, caller: CallerDep, pool: PoolDep
) -> NewApiKey:
    created = await accounts.create_api_key(pool, _account_id(caller.id), body.name)
    if created is None:
        raise HTTPException(
            409,
            f"an account has at most {accounts.MAX_API_KEYS} live API keys; revoke one first",
        )
    key, text = created
    response.headers["Location"] = f"/api/v1/auth/api-keys/{key.id}"
    return NewApiKey(**ApiKeyView.of(key).model_dump(), key=text)


@router.get("/api-keys", summary="The caller's API keys (without the keys)", responses=UNAUTHORIZED)
async def list_api_keys(
    request: Request,
    response: Response,
    caller: CallerDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=accounts.MAX_API_KEYS)] = accounts.MAX_API_KEYS,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ApiKeyPage:
    offset = offset_position(cursor)
    keys = await accounts.list_api_keys(pool, _account_id(caller.id), limit + 1, offset)
    next_cursor = offset_cursor(offset + limit) if len(keys) > limit else None
    return ApiKeyPage(
        items=[ApiKeyView.of(k) for k in keys[:limit]],
        next_cursor=next_cursor,
        next=next_link(request, response, next_cursor),
    )


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses={404: {"description": "No such key for this caller"}, **UNAUTHORIZED},
)
async def revoke_api_key(
    key_id: uuid.UUID, caller: CallerDep, pool: PoolDep, services: ServicesDep
) -> Response:
    if not await accounts.revoke_api_key(pool, _account_id(caller.id), key_id):
        raise HTTPException(404, f"API key {key_id} not found")
    await services.sockets.announce(
        CredentialsRevoked(user_id=caller.id, key_id=key_id, reason="the API key was revoked")
    )
    return Response(status_code=204)
