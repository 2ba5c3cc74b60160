"""Webhooks: subscribe a URL to job events, list, read, remove, rotate the secret, and read
the delivery log (adapters over `cadenza.gateway.webhooks.subscriptions`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from cadenza.gateway.deps import PrincipalDep, ServicesDep, WriterDep
from cadenza.gateway.pagination import next_link
from cadenza.gateway.webhooks import subscriptions
from cadenza.gateway.webhooks.schemas import (
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookSecret,
    WebhookView,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such webhook for this caller"}
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to job events (the signing secret is shown this once)",
    responses={
        403: {"description": "A reviewer, or the account has the most webhooks allowed"},
        422: {
            "description": "Invalid request, a refused URL (private address), or a job_id "
            "that is not one of yours"
        },
    },
)
async def create_webhook(
    body: WebhookCreate, response: Response, services: ServicesDep, owner: WriterDep
) -> WebhookCreated:
    created = await subscriptions.create(services, owner, body)
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    response.headers["Cache-Control"] = "no-store"  # it carries the secret
    return created


@router.get("", summary="Your webhooks, oldest first (without their secrets)")
async def list_webhooks(
    request: Request,
    response: Response,
    services: ServicesDep,
    owner: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> WebhookPage:
    found, next_cursor = await subscriptions.page(services, owner, limit, cursor)
    return WebhookPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )


@router.get("/{webhook_id}", summary="One webhook (without its secret)", responses=NOT_FOUND)
async def get_webhook(
    webhook_id: uuid.UUID, services: ServicesDep, owner: PrincipalDep
) -> WebhookView:
    return subscriptions.view(await subscriptions.read(services, owner, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a webhook, its pending deliveries and its log",
    responses=NOT_FOUND,
)
async def delete_webhook(webhook_id: uuid.UUID, services: ServicesDep, owner: WriterDep) -> None:
    await subscriptions.remove(services, owner, webhook_id)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="A new signing secret (the old one also signs for WEBHOOK_SECRET_GRACE_S)",
    responses=NOT_FOUND,
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, response: Response, services: ServicesDep, owner: WriterDep
) -> WebhookSecret:
    rotated = await subscriptions.rotate_secret(services, owner, webhook_id)
    response.headers["Cache-Control"] = "no-store"  # it carries the secret
    return rotated


@router.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's delivery log, newest first",
    responses=NOT_FOUND,
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    request: Request,
    response: Response,
    services: ServicesDep,
    owner: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeliveryPage:
    found, next_cursor = await subscriptions.deliveries(services, owner, webhook_id, limit, cursor)
    return DeliveryPage(
        items=found, next_cursor=next_cursor, next=next_link(request, response, next_cursor)
    )
