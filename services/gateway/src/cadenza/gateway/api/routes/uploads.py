"""Uploads: a file is accepted only if it decodes as audio."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from cadenza.gateway import repository
from cadenza.gateway.deps import (
    PoolDep,
    PrincipalDep,
    ServicesDep,
    WriterDep,
)
from cadenza.gateway.upload_files import receive_upload
from cadenza.gateway.views import UploadView

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
        403: {"description": "It does not fit in the account's storage quota"},
        413: {"description": "Larger than MAX_UPLOAD_BYTES"},
        415: {"description": "Not multipart, not decodable audio, or past a decoding limit"},
        422: {"description": "No `file` field"},
        429: {"description": "This account already has PROBES_PER_ACCOUNT files being checked"},
    },
)
async def create_upload(request: Request, services: ServicesDep, owner: WriterDep) -> UploadView:
    return UploadView.of(await receive_upload(services, request, owner))


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
