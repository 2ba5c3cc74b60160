"""Dependencies for route handlers, as `Annotated` aliases.

All `async def`: FastAPI runs plain `def` dependencies in a thread pool, a thread hop
per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from cadenza.gateway.auth.principal import Authenticator, AuthError, Principal, client_address
from cadenza.gateway.rate_limit import retry_after
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings
from cadenza.runtime.model_registry import ModelRegistry, SoundFontRegistry
from cadenza.runtime.storage import ObjectStore


async def get_services(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_pool(services: ServicesDep) -> asyncpg.Pool:
    return services.pool


async def get_store(services: ServicesDep) -> ObjectStore:
    return services.store


async def get_models(services: ServicesDep) -> ModelRegistry:
    return services.models


async def get_soundfonts(services: ServicesDep) -> SoundFontRegistry:
    return services.soundfonts


async def get_authenticator(services: ServicesDep) -> Authenticator:
    return services.auth


async def get_caller(conn: HTTPConnection, services: ServicesDep) -> Principal:
    """The authenticated caller (401 without valid credentials), within its rate limit."""
    try:
        caller = await services.auth.authenticate(conn)
    except AuthError as e:
        # Wrong credentials count against the address: guessing keys is slow.
        wait = services.auth.failure_limiter.take(client_address(conn))
        _refuse_if_limited(wait, "too many requests with wrong credentials from this address")
        raise HTTPException(401, str(e), headers={"WWW-Authenticate": "Bearer"}) from None
    _refuse_if_limited(services.auth.limiter.take(caller.id), "too many requests")
    return caller


CallerDep = Annotated[Principal, Depends(get_caller)]


async def get_principal(caller: CallerDep) -> str:
    """The id that owns what the caller reads and creates."""
    return caller.id


async def get_writer(caller: CallerDep) -> str:
    """The caller's id, if its role may create and change things (403 for reviewers)."""
    if not caller.can_write:
        raise HTTPException(403, f"the {caller.role} role can read but not create or change")
    return caller.id


async def get_admin(caller: CallerDep) -> Principal:
    if not caller.is_admin:
        raise HTTPException(403, "this needs the admin or owner role")
    return caller


async def limit_sign_in(conn: HTTPConnection, services: ServicesDep) -> None:
    """register/login/refresh attempts per client address (guessing passwords is slow)."""
    wait = services.auth.sign_in_limiter.take(client_address(conn))
    _refuse_if_limited(wait, "too many sign-in attempts from this address")


def _refuse_if_limited(wait_s: float, what: str) -> None:
    """429 with Retry-After when a rate limiter says to wait."""
    if wait_s:
        after = retry_after(wait_s)
        raise HTTPException(429, f"{what}; try again in {after} s", headers={"Retry-After": after})


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
PrincipalDep = Annotated[str, Depends(get_principal)]
WriterDep = Annotated[str, Depends(get_writer)]
AdminDep = Annotated[Principal, Depends(get_admin)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
ModelsDep = Annotated[ModelRegistry, Depends(get_models)]
SoundFontsDep = Annotated[SoundFontRegistry, Depends(get_soundfonts)]
