"""Separation models: what the running workers can do, what can be fetched, and fetching
one (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from cadenza.contracts.model_catalog import KnownModel
from cadenza.contracts.separation import ModelInfo
from cadenza.gateway.application.models import available_models
from cadenza.gateway.deps import AdminDep, ModelsDep, ServicesDep
from cadenza.gateway.job_requests.separation import default_model
from cadenza.gateway.model_pulls import catalog_registry, pullable, request_pull
from cadenza.gateway.views import JobView
from cadenza.runtime.model_catalog import CatalogRegistry

router = APIRouter(prefix="/api/v1/models", tags=["models"])


async def get_catalog(conn: HTTPConnection, services: ServicesDep) -> CatalogRegistry:
    return catalog_registry(conn, services)


CatalogDep = Annotated[CatalogRegistry, Depends(get_catalog)]


class PullableModel(KnownModel):
    """A model the separation workers can fetch (`POST /api/v1/models/{name}/pull`)."""

    size: int = Field(description="Bytes of all its files")
    available: bool = Field(description="Whether a running worker can use it now")


class ModelList(BaseModel):
    models: list[ModelInfo] = Field(description="What the running workers can run now")
    default: str
    pullable: list[PullableModel] = Field(
        default_factory=list,
        description="Known models the workers can fetch, with licence and published SDR",
    )


@router.get("", summary="Separation models the workers can run now, and those they can fetch")
async def list_models(registry: ModelsDep, catalog: CatalogDep) -> ModelList:
    models = await available_models(registry)
    known = await pullable(catalog)
    return ModelList(
        models=sorted(models.values(), key=lambda m: m.name),
        default=default_model(models),
        pullable=[
            PullableModel(**m.model_dump(), size=m.bytes, available=m.name in models)
            for m in sorted(known.values(), key=lambda m: m.name)
        ],
    )


@router.post(
    "/{name}/pull",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Have a separation worker fetch a known model into its MODEL_DIR (admins); "
    "follow the job it returns",
    responses={
        403: {"description": "The caller is not an admin"},
        422: {"description": "No known model has that name; the sentence lists them"},
    },
)
async def pull_model(
    name: Annotated[str, Path(max_length=200)],
    admin: AdminDep,
    services: ServicesDep,
    catalog: CatalogDep,
) -> JobView:
    return JobView.of(await request_pull(services, catalog, admin.id, name))
