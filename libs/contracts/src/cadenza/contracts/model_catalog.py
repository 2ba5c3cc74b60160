"""Separation models a worker can fetch by name: the registry shipped with Cadenza (its
data is `known_models.json` beside this module), and the command that asks a separation
worker to pull one into its model directory.

An entry lists every file of the model with where it is published, its size and, where a
trustworthy one is known, its full sha256 (README.md says where each came from). A file
is saved in MODEL_DIR under its `name`: Demucs checkpoints keep their published
`<signature>-<checksum>.th` names (demucs's loader needs them), a RoFormer model is
`<model>.ckpt` (the state dict) beside `<model>.yaml` (its published config).
"""

from __future__ import annotations

from importlib import resources
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cadenza.contracts.envelope import Event
from cadenza.contracts.jobs import StageCompleted, StageFailed
from cadenza.contracts.separation import ModelFamily
from cadenza.contracts.stems import StemName

PULL_STAGE = "model_pull"
PULL_JOB_KIND = "model_pull"
# A model name: also the stem of its RoFormer files and a key in the workers' buckets.
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# A file name in MODEL_DIR: no folders, no hidden files, no leading dash.
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Where a file is fetched from: http(s), a host without credentials, no fragment.
URL_PATTERN = r"^https?://[^\s/?#@]+(/[^\s#]*)?$"
# A page to read (a licence, a table of figures).
LINK_PATTERN = r"^https://\S+$"
# The biggest published separation checkpoints are about 1 GB; this leaves room, no more.
MAX_FILE_BYTES = 16 * 1024**3
MAX_FILES = 8
# Suffixes the download itself uses next to a file.
RESERVED_SUFFIXES = (".part", ".lock")
# Key-value bucket: model name → KnownModel JSON, what the separation workers can pull
# (the shipped registry plus an operator's MODEL_CATALOG_FILE), refreshed while they run.
CATALOG_BUCKET = "cadenza-model-catalog"
CATALOG_TTL_S = 300.0


class ModelFile(BaseModel):
    """One file of a model: saved as MODEL_DIR/`name`, fetched from `url` (or a mirror's
    base URL + `name`), `bytes` long, with this `sha256` when one is known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=FILE_NAME_PATTERN)
    url: str = Field(max_length=2000, pattern=URL_PATTERN)
    bytes: int = Field(ge=1, le=MAX_FILE_BYTES)
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)

    @model_validator(mode="after")
    def _not_reserved(self) -> Self:
        if self.name.endswith(RESERVED_SUFFIXES):
            raise ValueError(f"{self.name}: names ending in .part or .lock are the download's")
        return self


class PublishedSdr(BaseModel):
    """Signal-to-distortion ratios (dB) the model's publishers measured, and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    average_db: float | None = Field(default=None, ge=-50, le=50)
    stems_db: dict[StemName, float] = Field(default_factory=dict)
    dataset: str = Field(min_length=1, max_length=200)
    source: str = Field(max_length=2000, pattern=LINK_PATTERN)

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.average_db is None and not self.stems_db:
            raise ValueError("a published SDR needs an average or a stem's figure")
        return self


class KnownModel(BaseModel):
    """A model a separation worker can pull by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=MODEL_NAME_PATTERN)
    family: ModelFamily
    description: str = Field(default="", max_length=500)
    stems: tuple[StemName, ...] = Field(min_length=1)
    sample_rate: int = Field(ge=8000, le=192_000)
    files: tuple[ModelFile, ...] = Field(min_length=1, max_length=MAX_FILES)
    licence: str = Field(min_length=1, max_length=500)
    licence_source: str | None = Field(default=None, max_length=2000, pattern=LINK_PATTERN)
    published_sdr: tuple[PublishedSdr, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def fully_checksummed(self) -> bool:
        """Every file has a full sha256 to verify against."""
        return all(f.sha256 for f in self.files)

    @model_validator(mode="after")
    def _layout(self) -> Self:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: two files have the same name")
        if self.family in ("bs_roformer", "mel_band_roformer"):
            expected = {f"{self.name}.ckpt", f"{self.name}.yaml"}
            if set(names) != expected:
                raise ValueError(
                    f"{self.name}: a RoFormer model is two files, {' and '.join(sorted(expected))}"
                )
        elif self.family == "demucs":
            if not any(n.endswith(".th") for n in names):
                raise ValueError(f"{self.name}: a Demucs model needs a .th checkpoint")
            if any(not n.endswith((".th", ".yaml")) for n in names):
                raise ValueError(f"{self.name}: Demucs files are .th checkpoints and bag .yaml")
        else:
            raise ValueError(f"{self.name}: {self.family} models are not fetched")
        return self


class ModelCatalogFile(BaseModel):
    """The registry's file format (`known_models.json`, and an operator's extra file)."""

    model_config = ConfigDict(extra="forbid")

    models: tuple[KnownModel, ...]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("two models have the same name")
        return self


def parse_catalog(text: str | bytes) -> dict[str, KnownModel]:
    """A registry file's models by name (pydantic's ValidationError when it is not one)."""
    return {m.name: m for m in ModelCatalogFile.model_validate_json(text).models}


def _shipped() -> dict[str, KnownModel]:
    data = resources.files("cadenza.contracts").joinpath("known_models.json").read_text()
    return parse_catalog(data)


# The registry shipped with Cadenza, by name.
KNOWN_MODELS: dict[str, KnownModel] = _shipped()


class ModelPullRequested(Event):
    """Command (admins): a separation worker fetches `model` into its MODEL_DIR, checks
    every file's size and sha256, and advertises the model once it can run it."""

    subject: ClassVar[str] = "separation.pull.requested"

    stage: str = PULL_STAGE
    model: str = Field(pattern=MODEL_NAME_PATTERN)


class ModelPullCompleted(StageCompleted):
    """`details`: the model, each file's sha256 as computed and bytes fetched this time."""

    subject: ClassVar[str] = "separation.pull.completed"


class ModelPullFailed(StageFailed):
    subject: ClassVar[str] = "separation.pull.failed"
