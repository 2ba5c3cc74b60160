"""SoundFonts: what the running render workers can play MIDI with."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cadenza.contracts.render import SoundFontInfo
from cadenza.gateway.deps import SoundFontsDep

router = APIRouter(prefix="/api/v1/soundfonts", tags=["render"])


class SoundFontList(BaseModel):
    soundfonts: list[SoundFontInfo]
    default: str | None


@router.get("", summary="SoundFonts the render workers can use now (names for render params)")
async def list_soundfonts(registry: SoundFontsDep) -> SoundFontList:
    fonts = sorted((await registry.available()).values(), key=lambda f: (not f.default, f.name))
    default = next((f.name for f in fonts if f.default), None)
    return SoundFontList(soundfonts=fonts, default=default)
