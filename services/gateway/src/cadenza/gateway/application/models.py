"""Separation models as a job sees them: what the running workers advertise."""

from __future__ import annotations

from cadenza.contracts.separation import CLASSICAL_INFO, ModelInfo
from cadenza.runtime.model_registry import ModelRegistry


async def available_models(registry: ModelRegistry) -> dict[str, ModelInfo]:
    """What workers advertise; the classical method needs no weights, so it is always there."""
    models = dict(await registry.available())
    models.setdefault(CLASSICAL_INFO.name, CLASSICAL_INFO)
    return models
