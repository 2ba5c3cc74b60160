"""The upload use case: receive a file, check it is audio within the limits and the owner's
storage quota, store it and record it (an application module: no HTTP types but errors)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from fastapi import HTTPException
from starlette.requests import Request

from cadenza.gateway import repository
from cadenza.gateway.file_checks import check_audio
from cadenza.gateway.multipart_upload import UploadRejectedError, receive_file
from cadenza.gateway.quotas import QuotaExceededError, Quotas
from cadenza.gateway.services import Services
from cadenza.runtime.storage import object_key

# Multipart framing on top of the file: what a Content-Length may exceed the file by.
FRAMING_BYTES = 64 * 1024


async def receive_upload(services: Services, request: Request, owner: str) -> repository.Upload:
    """The stored, recorded upload; HTTPException (413, 415, 422, 429) or
    QuotaExceededError (403) with a sentence otherwise. A refused file is not kept."""
    settings, store, pool = services.settings, services.store, services.pool
    # Checked before a byte is read, and again under the account's lock when it is recorded.
    usage = await services.quotas.usage(pool, owner)
    limit = settings.max_upload_bytes
    if (remaining := usage.remaining_bytes) is not None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit():
            Quotas.check_fits(usage, int(declared) - FRAMING_BYTES)
        limit = min(limit, remaining)
    upload_id = uuid.uuid4()
    key = object_key(owner, "uploads", str(upload_id), "source")
    try:
        async with store.writer(key, "application/octet-stream") as pending:
            received = await receive_file(request, pending.path, field="file", limit=limit)
            if received.bytes == 0:
                raise HTTPException(422, f"{received.filename} is empty: no audio to work with")
            info = await check_audio(
                services.probes, settings, owner, pending.path, received.filename
            )
            pending.media_type = info.media_type
    except UploadRejectedError as e:
        if e.status == 413 and limit < settings.max_upload_bytes:
            Quotas.check_fits(usage, limit + 1)  # the quota, not the upload limit: say so
        raise HTTPException(e.status, e.detail) from e
    stored = pending.result()
    upload = repository.Upload(
        id=upload_id,
        owner=owner,
        filename=received.filename,
        media_type=info.media_type,
        format=info.format,
        bytes=stored.bytes,
        sha256=stored.sha256,
        duration_s=info.duration_s,
        sample_rate=info.sample_rate,
        channels=info.channels,
        uri=stored.uri,
        created_at=datetime.now(UTC),
    )
    try:
        await repository.insert_upload(
            pool, upload, admit=partial(services.quotas.admit_file, owner=owner, size=stored.bytes)
        )
    except QuotaExceededError:
        await store.delete(key)  # another request took the room meanwhile
        raise
    return upload
