"""Uploads: a file is accepted only if it decodes as audio."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from cadenza.gateway import repository
from cadenza.gateway.deps import (
    PoolDep,
    PrincipalDep,
    ServicesDep,
    SettingsDep,
    StoreDep,
    WriterDep,
)
from cadenza.gateway.file_checks import check_audio
from cadenza.gateway.multipart_upload import UploadRejectedError, receive_file
from cadenza.gateway.views import UploadView
from cadenza.runtime.storage import object_key

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "WAV, FLAC, MP3, OGG or AIFF audio",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload an audio file (multipart field `file`)",
    openapi_extra=UPLOAD_BODY,
    responses={
        413: {"description": "Larger than MAX_UPLOAD_BYTES"},
        415: {"description": "Not multipart, not decodable audio, or past a decoding limit"},
        422: {"description": "No `file` field"},
        429: {"description": "This account already has PROBES_PER_ACCOUNT files being checked"},
    },
)
async def create_upload(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    pool: PoolDep,
    services: ServicesDep,
    owner: WriterDep,
) -> UploadView:
    upload_id = uuid.uuid4()
    key = object_key(owner, "uploads", str(upload_id), "source")
    try:
        async with store.writer(key, "application/octet-stream") as pending:
            received = await receive_file(
                request, pending.path, field="file", limit=settings.max_upload_bytes
            )
            if received.bytes == 0:
                raise HTTPException(422, f"{received.filename} is empty: no audio to work with")
            info = await check_audio(
                services.probes, settings, owner, pending.path, received.filename
            )
            pending.media_type = info.media_type
    except UploadRejectedError as e:
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
    await repository.insert_upload(pool, upload)
    return UploadView.of(upload)


@router.get("/{upload_id}", summary="An upload's metadata")
async def get_upload(upload_id: uuid.UUID, pool: PoolDep, owner: PrincipalDep) -> UploadView:
    upload = await repository.get_upload(pool, owner, upload_id)
    if upload is None:
        raise HTTPException(404, f"upload {upload_id} not found")
    return UploadView.of(upload)


class UploadPin(BaseModel):
    id: uuid.UUID
    pinned: bool


async def _pin_upload(pool: PoolDep, owner: str, upload_id: uuid.UUID, pinned: bool) -> UploadPin:
    status = await pool.execute(
        "UPDATE uploads SET pinned = $3 WHERE id = $1 AND owner = $2", upload_id, owner, pinned
    )
    if not status.endswith(" 1"):
        raise HTTPException(404, f"upload {upload_id} not found")
    return UploadPin(id=upload_id, pinned=pinned)


@router.post(
    "/{upload_id}/pin",
    summary="Keep an upload past the retention age",
    responses={404: {"description": "No such upload for this caller"}},
)
async def pin_upload(upload_id: uuid.UUID, pool: PoolDep, owner: WriterDep) -> UploadPin:
    return await _pin_upload(pool, owner, upload_id, True)


@router.delete(
    "/{upload_id}/pin",
    summary="Let retention remove the upload in time",
    responses={404: {"description": "No such upload for this caller"}},
)
async def unpin_upload(upload_id: uuid.UUID, pool: PoolDep, owner: WriterDep) -> UploadPin:
    return await _pin_upload(pool, owner, upload_id, False)
