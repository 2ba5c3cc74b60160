"""Object storage: one interface (`ObjectStore`), a local-directory and an S3 backend."""

from cadenza.runtime.settings import StorageSettings
from cadenza.runtime.storage.base import (
    ObjectNotFoundError,
    ObjectStore,
    PendingObject,
    StoredObject,
)
from cadenza.runtime.storage.keys import InvalidKeyError, object_key, validate_key
from cadenza.runtime.storage.local import LocalObjectStore
from cadenza.runtime.storage.s3 import S3ObjectStore


def store_from_settings(settings: StorageSettings) -> ObjectStore:
    if settings.storage_backend == "s3":
        return S3ObjectStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=(
                settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None
            ),
            secret_access_key=(
                settings.s3_secret_access_key.get_secret_value()
                if settings.s3_secret_access_key
                else None
            ),
            create_bucket=settings.s3_create_bucket,
            public_endpoint_url=settings.s3_public_endpoint_url,
        )
    return LocalObjectStore(settings.storage_dir)


__all__ = [
    "InvalidKeyError",
    "LocalObjectStore",
    "ObjectNotFoundError",
    "ObjectStore",
    "PendingObject",
    "S3ObjectStore",
    "StoredObject",
    "object_key",
    "store_from_settings",
    "validate_key",
]
