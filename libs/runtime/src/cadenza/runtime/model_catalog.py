"""The models separation workers can pull, as they advertise them: the shipped registry
plus what an operator added (MODEL_CATALOG_FILE), so the gateway lists and accepts exactly
what a worker can fetch."""

from __future__ import annotations

from cadenza.contracts.model_catalog import CATALOG_BUCKET, CATALOG_TTL_S, KnownModel
from cadenza.runtime.model_registry import Registry


class CatalogRegistry(Registry[KnownModel]):
    bucket = CATALOG_BUCKET
    ttl_s = CATALOG_TTL_S
    item_type = KnownModel
