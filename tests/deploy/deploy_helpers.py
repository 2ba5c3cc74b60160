"""What the deployment-file tests share: the repository root, the services and their settings.

Every environment variable the deployment files set is checked against the services' own
`Settings` classes: the services ignore unknown variables, so a misspelt one would otherwise pass.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .dockerfile_model import image

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    port_var: str
    host_var: str

    @property
    def package(self) -> str:
        return f"cadenza-{self.name}"

    @property
    def module(self) -> str:
        return f"cadenza.{self.name}"

    @property
    def dockerfile(self) -> Path:
        """One Dockerfile for every service: `--build-arg SERVICE=<name>` picks it."""
        return ROOT / "Dockerfile"


SERVICES = {
    s.name: s
    for s in (
        Service("gateway", port=8000, port_var="PORT", host_var="HOST"),
        Service("effects", port=8011, port_var="HTTP_PORT", host_var="HTTP_HOST"),
        Service("separation", port=8012, port_var="HTTP_PORT", host_var="HTTP_HOST"),
        Service("catalog", port=8013, port_var="HTTP_PORT", host_var="HTTP_HOST"),
        Service("render", port=8014, port_var="HTTP_PORT", host_var="HTTP_HOST"),
        Service("composition", port=8015, port_var="HTTP_PORT", host_var="HTTP_HOST"),
    )
}


@cache
def settings_of(service: str) -> dict[str, bool]:
    """The variables a service reads (pydantic-settings: field name, upper case) -> required."""
    module = importlib.import_module(f"{SERVICES[service].module}.settings")
    fields = module.Settings.model_fields
    return {name.upper(): field.is_required() for name, field in fields.items()}


def image_env(service: str) -> dict[str, str]:
    """The environment a service's image sets (the Dockerfile's stages it inherits)."""
    return image(service).env


def required(service: str) -> set[str]:
    return {name for name, is_required in settings_of(service).items() if is_required}


def is_pinned(image: str) -> bool:
    """A digest, or a tag that names a release (a version number, MinIO's RELEASE.<date>)."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(re.match(r"v?\d+\.\d+|RELEASE\.\d{4}-", tag))


def locked_version(package: str) -> str:
    """The version uv.lock records for a third-party package."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    versions = {str(p["version"]) for p in lock["package"] if p["name"] == package}
    assert len(versions) == 1, f"uv.lock has {package} {sorted(versions)}"
    return versions.pop()
