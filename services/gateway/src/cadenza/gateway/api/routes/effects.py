"""The effect catalogue: every effect a chain may hold, its parameters' defaults, bounds and
units, from the contract itself (the studio builds its editor from this answer)."""

from __future__ import annotations

from fastapi import APIRouter

from cadenza.contracts.effect_catalogue import EffectCatalogue, effect_catalogue

router = APIRouter(prefix="/api/v1/effects", tags=["effects"])


# Public, like the OpenAPI document it restates: no input, and one answer of a few kilobytes,
# built once per process.
@router.get("", summary="Every effect an effects chain may hold, with its parameters")
async def list_effects() -> EffectCatalogue:
    return effect_catalogue()
