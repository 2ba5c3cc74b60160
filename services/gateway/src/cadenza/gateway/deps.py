"""Dependencies for route handlers, as `Annotated` aliases.

All `async def`: FastAPI runs plain `def` dependencies in a thread pool, a thread hop
per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends
from starlette.requests import HTTPConnection

from cadenza.gateway.live import LiveHub
from cadenza.gateway.projection import Projection
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings
from cadenza.runtime.bus import Bus
from cadenza.runtime.cancellation import Cancellations
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


async def get_bus(services: ServicesDep) -> Bus:
    return services.bus


async def get_projection(services: ServicesDep) -> Projection:
    return services.projection


async def get_hub(services: ServicesDep) -> LiveHub:
    return services.hub


async def get_cancellations(services: ServicesDep) -> Cancellations:
    return services.cancellations


async def get_models(services: ServicesDep) -> ModelRegistry:
    return services.models


async def get_soundfonts(services: ServicesDep) -> SoundFontRegistry:
    return services.soundfonts


async def get_principal(settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """The caller. One local principal until authentication is built (see README)."""
    return settings.default_owner


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
BusDep = Annotated[Bus, Depends(get_bus)]
ProjectionDep = Annotated[Projection, Depends(get_projection)]
HubDep = Annotated[LiveHub, Depends(get_hub)]
CancellationsDep = Annotated[Cancellations, Depends(get_cancellations)]
PrincipalDep = Annotated[str, Depends(get_principal)]
ModelsDep = Annotated[ModelRegistry, Depends(get_models)]
SoundFontsDep = Annotated[SoundFontRegistry, Depends(get_soundfonts)]
