"""What the API answers, as typed objects. Each keeps the whole JSON in `raw`, so fields the
client does not know yet are still there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cadenza.client.vocabulary import TERMINAL_STATUSES

TERMINAL = TERMINAL_STATUSES


@dataclass(frozen=True)
class Upload:
    id: str
    filename: str
    media_type: str
    bytes: int
    sha256: str
    duration_s: float
    sample_rate: int
    channels: int
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Upload:
        return cls(
            id=data["id"],
            filename=data["filename"],
            media_type=data["media_type"],
            bytes=data["bytes"],
            sha256=data["sha256"],
            duration_s=data["duration_s"],
            sample_rate=data["sample_rate"],
            channels=data["channels"],
            raw=data,
        )


@dataclass(frozen=True)
class Stage:
    name: str
    status: str
    progress: float
    details: dict[str, Any]


@dataclass(frozen=True)
class Artifact:
    name: str
    media_type: str
    bytes: int
    sha256: str
    url: str
    duration_s: float | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["name"],
            media_type=data["media_type"],
            bytes=data["bytes"],
            sha256=data["sha256"],
            url=data["url"],
            duration_s=data.get("duration_s"),
        )


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: str
    progress: float
    stages: list[Stage]
    artifacts: list[Artifact]
    error: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def artifact(self, name: str) -> Artifact:
        for artifact in self.artifacts:
            if artifact.name == name:
                return artifact
        names = ", ".join(a.name for a in self.artifacts) or "none"
        raise KeyError(f"job {self.id} has no artifact {name!r} (it has: {names})")

    @classmethod
    def of(cls, data: dict[str, Any]) -> Job:
        return cls(
            id=data["id"],
            kind=data["kind"],
            status=data["status"],
            progress=data["progress"],
            stages=[
                Stage(s["name"], s["status"], s["progress"], s.get("details") or {})
                for s in data.get("stages", [])
            ],
            artifacts=[Artifact.of(a) for a in data.get("artifacts", [])],
            error=data.get("error"),
            raw=data,
        )


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


@dataclass(frozen=True)
class Song:
    id: str
    title: str
    artist: str | None
    tempo_bpm: float | None
    key: str | None
    mode: str | None
    # How well it matched the search, or how similar it is (search and similar only).
    score: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any], score: float | None = None) -> Song:
        return cls(
            id=data["id"],
            title=data["title"],
            artist=data.get("artist"),
            tempo_bpm=data.get("tempo_bpm"),
            key=data.get("key"),
            mode=data.get("mode"),
            score=score,
            raw=data,
        )


@dataclass(frozen=True)
class RecordedEvent:
    subject: str
    occurred_at: str
    event: dict[str, Any]


@dataclass(frozen=True)
class SeparationModel:
    """A model the running separation workers can use now."""

    name: str
    family: str
    stems: list[str]
    description: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> SeparationModel:
        return cls(
            name=data["name"],
            family=data.get("family", ""),
            stems=list(data.get("stems", [])),
            description=data.get("description", ""),
            raw=data,
        )


@dataclass(frozen=True)
class PullableModel:
    """A known model the workers can fetch (admins: `pull_model`): its size in bytes,
    licence, the SDR its publishers measured, and whether a worker can use it now."""

    name: str
    family: str
    stems: list[str]
    size: int
    licence: str
    published_sdr: list[dict[str, Any]]
    available: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> PullableModel:
        return cls(
            name=data["name"],
            family=data.get("family", ""),
            stems=list(data.get("stems", [])),
            size=data.get("size", 0),
            licence=data.get("licence", ""),
            published_sdr=list(data.get("published_sdr", [])),
            available=bool(data.get("available")),
            raw=data,
        )


@dataclass(frozen=True)
class ModelList:
    models: list[SeparationModel]
    default: str
    pullable: list[PullableModel]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> ModelList:
        return cls(
            models=[SeparationModel.of(m) for m in data.get("models", [])],
            default=data.get("default", ""),
            pullable=[PullableModel.of(m) for m in data.get("pullable", [])],
            raw=data,
        )
