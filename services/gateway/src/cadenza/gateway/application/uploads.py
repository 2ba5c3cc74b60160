"""Uploads: receive a file, check it is audio within the limits and the owner's storage
quota, store it and record it; read one; keep it past retention (pin)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from functools import partial

from fastapi import HTTPException
from starlette.requests import Request

from cadenza.gateway import repository
from cadenza.gateway.application.errors import NotFoundError
from cadenza.gateway.file_checks import check_audio
from cadenza.gateway.multipart_upload import UploadRejectedError, receive_form
from cadenza.gateway.projects import access as project_access
from cadenza.gateway.quotas import QuotaExceededError, Quotas
from cadenza.gateway.services import Services
from cadenza.runtime.storage import object_key

# Multipart framing on top of the file: what a Content-Length may exceed the file by.
FRAMING_BYTES = 64 * 1024


async def receive_upload(
    services: Services, request: Request, owner: str, project_id: uuid.UUID | None = None
) -> repository.Upload:
    """The stored, recorded upload; HTTPException (413, 415, 422, 429) or
    QuotaExceededError (403) with a sentence otherwise. A refused file is not kept. Into a
    project, the caller's role there must start jobs (checked before a byte is read)."""
    if project_id is not None:
        await project_access.may_start_jobs(services.pool, owner, project_id)
    upload, _ = await receive_upload_form(services, request, owner, project_id=project_id)
    return upload


async def receive_upload_form(
    services: Services,
    request: Request,
    owner: str,
    text_fields: frozenset[str] = frozenset(),
    *,
    project_id: uuid.UUID | None = None,
) -> tuple[repository.Upload, dict[str, str]]:
    """As `receive_upload`, with the form's text fields named in `text_fields` (at most
    64 KiB together) beside the file."""
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
            form = await receive_form(
                request, {"file": pending.path}, limit=limit, text_fields=text_fields
            )
            if (received := form.files.get("file")) is None:
                raise UploadRejectedError(
                    422, "no file in the form: send it in a field named 'file' with a filename"
                )
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
        project_id=project_id,
    )
    try:
        await repository.insert_upload(
            pool, upload, admit=partial(services.quotas.admit_file, owner=owner, size=stored.bytes)
        )
    except QuotaExceededError:
        await store.delete(key)  # another request took the room meanwhile
        raise
    return upload, form.fields


async def read(services: Services, owner: str, upload_id: uuid.UUID) -> repository.Upload:
    upload = await repository.get_upload(services.pool, owner, upload_id)
    if upload is None:
        raise NotFoundError(f"upload {upload_id} not found")
    return upload


async def pin(services: Services, owner: str, upload_id: uuid.UUID, pinned: bool) -> None:
    """Keep an upload past the retention age (or let retention have it)."""
    if not await repository.set_upload_pinned(services.pool, owner, upload_id, pinned):
        raise NotFoundError(f"upload {upload_id} not found")


async def discard(services: Services, upload: repository.Upload) -> None:
    """Undo a stored upload whose request was then refused: nothing is left half-made."""
    await repository.delete_upload(services.pool, upload)
    with contextlib.suppress(Exception):  # a file left behind is an orphan retention removes
        await services.store.delete(services.store.key_for(upload.uri))
