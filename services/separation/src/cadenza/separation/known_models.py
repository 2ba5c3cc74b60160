"""The models this worker can pull: the registry shipped with Cadenza
(`cadenza.contracts.model_catalog.KNOWN_MODELS`) plus those of MODEL_CATALOG_FILE, a JSON
file in the same format where an operator lists private models (one with a shipped
model's name replaces it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from cadenza.contracts.model_catalog import KNOWN_MODELS, KnownModel, parse_catalog

MAX_CATALOG_BYTES = 1 << 20


class CatalogFileError(ValueError):
    """MODEL_CATALOG_FILE cannot be used; the message says why."""


def load_catalog(extra: Path | None = None) -> dict[str, KnownModel]:
    models = dict(KNOWN_MODELS)
    if extra is None:
        return models
    try:
        size = extra.stat().st_size
        if size > MAX_CATALOG_BYTES:
            raise CatalogFileError(f"{extra} is over {MAX_CATALOG_BYTES >> 10} KiB")
        text = extra.read_bytes()
    except OSError as e:
        raise CatalogFileError(f"cannot read the model catalog {extra}: {e.strerror}") from e
    try:
        models.update(parse_catalog(text))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogFileError(
            f"{extra} is not a model catalog ({where}: {first['msg']}; "
            f"{e.error_count()} problem(s) in all)"
        ) from e
    return models


def unknown_model(name: str, known: dict[str, KnownModel]) -> str:
    """The sentence for a name the catalog lacks."""
    return f"no known model {name[:64]!r}; known models: {', '.join(sorted(known))}"
