"""Uploads: a file is accepted only if it decodes as audio."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from cadenza.gateway.api.params import binary, multipart_form
from cadenza.gateway.application import uploads
from cadenza.gateway.deps import PrincipalDep, ServicesDep, StoreDep, WriterDep
from cadenza.gateway.downloads import DOWNLOAD_RESPONSES, send_object
from cadenza.gateway.views import UploadView

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such upload for this caller"}
}

UPLOAD_BODY = multipart_form(
    {"file": binary("WAV, FLAC, MP3, OGG or AIFF audio")}, required=["file"]
)


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
async def create_upload(
    request: Request,
    response: Response,
    services: ServicesDep,
    owner: WriterDep,
    project_id: Annotated[
        uuid.UUID | None,
        Query(description="Into this project: its members see it (you start jobs there)"),
    ] = None,
) -> UploadView:
    upload = await uploads.receive_upload(services, request, owner, project_id)
    response.headers["Location"] = f"/api/v1/uploads/{upload.id}"
    return UploadView.of(upload)


@router.get("/{upload_id}", summary="An upload's metadata", responses=NOT_FOUND)
async def get_upload(
    upload_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> UploadView:
    return UploadView.of(await uploads.read(services, owner, upload_id))


# GET for the bytes, HEAD for their size and type (the studio's mixer compares a separation's
# stems with the track they came from). Bounded as an artifact's download: streamed in
# chunks or redirected to a signed URL, one byte range at most.
UPLOAD_DOWNLOAD: dict[str, Any] = {
    "summary": "Download an upload's file as it was sent (Range requests supported)",
    "response_class": Response,
    "responses": {**NOT_FOUND, **DOWNLOAD_RESPONSES},
}


@router.get("/{upload_id}/content", **UPLOAD_DOWNLOAD)
@router.head("/{upload_id}/content", **UPLOAD_DOWNLOAD)
async def download_upload(
    upload_id: uuid.UUID,
    request: Request,
    services: ServicesDep,
    store: StoreDep,
    owner: PrincipalDep,
) -> Response:
    upload = await uploads.read(services, owner, upload_id)
    return await send_object(
        request,
        store,
        uri=upload.uri,
        sha256=upload.sha256,
        media_type=upload.media_type,
        filename=upload.filename,
        gone=f"upload {upload_id} is no longer stored",
    )


class UploadPin(BaseModel):
    id: uuid.UUID
    pinned: bool


@router.post(
    "/{upload_id}/pin", summary="Keep an upload past the retention age", responses=NOT_FOUND
)
async def pin_upload(upload_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> UploadPin:
    await uploads.pin(services, owner, upload_id, True)
    return UploadPin(id=upload_id, pinned=True)


@router.delete(
    "/{upload_id}/pin", summary="Let retention remove the upload in time", responses=NOT_FOUND
)
async def unpin_upload(upload_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> UploadPin:
    await uploads.pin(services, owner, upload_id, False)
    return UploadPin(id=upload_id, pinned=False)
