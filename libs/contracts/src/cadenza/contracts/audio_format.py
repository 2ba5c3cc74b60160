"""How a job's audio output is encoded."""

from __future__ import annotations

import copy
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

AudioFormatName = Literal["wav", "flac", "mp3", "ogg"]

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "aiff": "audio/aiff",
}

# MP3 (MPEG-1/2 layer III) only defines these rates.
MP3_SAMPLE_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
# What each encoder takes (libsndfile's FLAC refuses more; libvorbis crashes the process
# above 200 kHz, so the limit must be checked before the encoder is opened).
MAX_SAMPLE_RATES = {"flac": 655_350, "ogg": 200_000}
MAX_CHANNELS = {"flac": 8, "mp3": 2, "ogg": 255, "wav": 1024}
# wav and flac are written with 24 bits per sample unless a bit depth is asked for.
DEFAULT_BIT_DEPTH = 24

# _bit_depth_fits_format as JSON Schema, for the models that carry format and bit_depth.
BIT_DEPTH_FITS_FORMAT: dict[str, Any] = {
    "allOf": [
        {
            "if": {"required": ["format"], "properties": {"format": {"enum": ["mp3", "ogg"]}}},
            "then": {"properties": {"bit_depth": {"type": "null"}}},
        },
        {
            "if": {"required": ["format"], "properties": {"format": {"const": "flac"}}},
            "then": {"properties": {"bit_depth": {"not": {"const": 32}}}},
        },
    ]
}


class OutputFormat(BaseModel):
    """Container and encoding of an audio artifact.

    `bit_depth` applies to wav (16, 24, or 32 = 32-bit float) and flac (16 or 24);
    `quality` applies to mp3 and ogg (0 = smallest file, 1 = best quality).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra=lambda schema: schema.update(copy.deepcopy(BIT_DEPTH_FITS_FORMAT)),
    )

    format: AudioFormatName = "wav"
    bit_depth: Literal[16, 24, 32] | None = None
    quality: float = Field(0.8, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _bit_depth_fits_format(self) -> Self:
        if self.bit_depth is not None:
            if self.format in ("mp3", "ogg"):
                raise ValueError(f"bit_depth does not apply to {self.format}; use quality")
            if self.format == "flac" and self.bit_depth == 32:
                raise ValueError("flac supports bit_depth 16 or 24")
        return self

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        return self.format

    @property
    def bytes_per_sample(self) -> int:
        """What one sample takes written (lossy formats: an upper bound, well under a byte
        per sample at any quality)."""
        if self.format in ("mp3", "ogg"):
            return 1
        return (self.bit_depth or DEFAULT_BIT_DEPTH) // 8

    def sample_rate_problem(self, sample_rate: int, channels: int | None = None) -> str | None:
        """Why this format cannot hold audio of this rate (and channel count), or None."""
        if self.format == "mp3" and sample_rate not in MP3_SAMPLE_RATES:
            return (
                f"mp3 cannot store {sample_rate} Hz audio (MP3 supports "
                f"{', '.join(str(r) for r in sorted(MP3_SAMPLE_RATES))} Hz); "
                "choose wav, flac or ogg"
            )
        top = MAX_SAMPLE_RATES.get(self.format)
        if top is not None and sample_rate > top:
            return (
                f"{self.format} cannot store {sample_rate} Hz audio (at most {top} Hz); choose wav"
            )
        most = MAX_CHANNELS[self.format]
        if channels is not None and channels > most:
            return f"{self.format} cannot store {channels} channels (at most {most}); choose wav"
        return None
