"""Separation models: what the running workers can do."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cadenza.contracts.separation import CLASSICAL_INFO, ModelInfo
from cadenza.gateway.deps import ModelsDep
from cadenza.gateway.job_requests.separation import default_model
from cadenza.runtime.model_registry import ModelRegistry

router = APIRouter(prefix="/api/v1/models", tags=["models"])


class ModelList(BaseModel):
    models: list[ModelInfo]
    default: str


async def available_models(registry: ModelRegistry) -> dict[str, ModelInfo]:
    """What workers advertise; the classical method needs no weights, so it is always there."""
    models = dict(await registry.available())
    models.setdefault(CLASSICAL_INFO.name, CLASSICAL_INFO)
    return models


@router.get("", summary="Separation models the workers can run now")
async def list_models(registry: ModelsDep) -> ModelList:
    models = await available_models(registry)
    return ModelList(
        models=sorted(models.values(), key=lambda m: m.name), default=default_model(models)
    )
