"""References to audio and other artifacts in object storage (audio never rides on the bus)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Artifact and file names: a plain name with an extension, never a path.
ARTIFACT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9]{1,8})?$"


class ArtifactRef(BaseModel):
    """Where an artifact lives and what it is. `uri` is storage-specific (s3://, file://)."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    uri: str = Field(min_length=1, max_length=2048)
    media_type: str = Field(min_length=1, max_length=127)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)
    duration_s: float | None = Field(default=None, ge=0)
    sample_rate: int | None = Field(default=None, gt=0)
    channels: int | None = Field(default=None, gt=0)
