"""The webhooks' use cases: make, list, read, remove, rotate a secret, read the delivery log.

Owner-scoped like jobs: another account's webhook is "not found". Bounds: a few webhooks per
account (WEBHOOK_MAX_PER_ACCOUNT), a URL of at most 2048 characters whose host resolves
within WEBHOOK_RESOLVE_TIMEOUT_S, pages of at most 100 deliveries.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from cadenza.gateway import repository as jobs_repository
from cadenza.gateway.application.errors import ForbiddenError, NotFoundError, UnprocessableError
from cadenza.gateway.services import Services
from cadenza.gateway.webhooks import repository
from cadenza.gateway.webhooks.repository import Delivery, Subscription
from cadenza.gateway.webhooks.schemas import (
    DeliveryView,
    WebhookCreate,
    WebhookCreated,
    WebhookSecret,
    WebhookView,
)
from cadenza.gateway.webhooks.signing import new_secret
from cadenza.gateway.webhooks.targets import TargetRefusedError, check_target


def view(subscription: Subscription) -> WebhookView:
    expires = subscription.previous_expires_at
    return WebhookView(
        id=subscription.id,
        url=subscription.url,
        event_types=list(subscription.event_types),
        job_id=subscription.job_id,
        description=subscription.description,
        created_at=subscription.created_at,
        previous_secret_expires_at=expires if expires and expires > datetime.now(UTC) else None,
    )


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        job_id=delivery.job_id,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


async def create(services: Services, owner: str, request: WebhookCreate) -> WebhookCreated:
    settings = services.settings
    try:
        await check_target(
            request.url,
            allow_private=settings.webhook_allow_private_targets,
            resolve_timeout_s=settings.webhook_resolve_timeout_s,
        )
    except TargetRefusedError as e:
        raise UnprocessableError.one("url", f"the url {e}") from None
    job_id = request.job_id
    # Webhooks follow the caller's own jobs (a project member reads others' jobs, but their
    # facts go to their owner's webhooks).
    job = await jobs_repository.get_job(services.pool, owner, job_id) if job_id else None
    if job_id is not None and (job is None or job.owner != owner):
        raise UnprocessableError.one("job_id", f"you have no job {job_id}")
    subscription = Subscription(
        id=uuid.uuid4(),
        owner=owner,
        url=request.url,
        event_types=tuple(request.event_types),
        job_id=request.job_id,
        description=request.description,
        secret=new_secret(),
        previous_secret=None,
        previous_expires_at=None,
        created_at=datetime.now(UTC),
    )
    most = settings.webhook_max_per_account
    async with services.pool.acquire() as conn, conn.transaction():
        if await repository.count_for(conn, owner) >= most:
            raise ForbiddenError(
                f"you have {most} webhooks, the most one account may have; remove one first"
            )
        await repository.insert(conn, subscription)
    return WebhookCreated(**view(subscription).model_dump(), secret=subscription.secret)


async def page(
    services: Services, owner: str, limit: int, cursor: str | None
) -> tuple[list[WebhookView], str | None]:
    """Oldest first: a page and the next page's cursor (None at the end)."""
    try:
        found, next_cursor = await repository.list_for(services.pool, owner, limit, cursor)
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    return [view(s) for s in found], next_cursor


async def read(services: Services, owner: str, webhook_id: uuid.UUID) -> Subscription:
    found = await repository.get(services.pool, owner, webhook_id)
    if found is None:
        raise NotFoundError(f"webhook {webhook_id} not found")
    return found


async def remove(services: Services, owner: str, webhook_id: uuid.UUID) -> None:
    if not await repository.delete(services.pool, owner, webhook_id):
        raise NotFoundError(f"webhook {webhook_id} not found")


async def rotate_secret(services: Services, owner: str, webhook_id: uuid.UUID) -> WebhookSecret:
    grace_s = services.settings.webhook_secret_grace_s
    rotated = await repository.rotate(services.pool, owner, webhook_id, new_secret(), grace_s)
    if rotated is None or rotated.previous_expires_at is None:
        raise NotFoundError(f"webhook {webhook_id} not found")
    return WebhookSecret(
        id=rotated.id,
        secret=rotated.secret,
        previous_secret_expires_at=rotated.previous_expires_at,
    )


async def deliveries(
    services: Services, owner: str, webhook_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[DeliveryView], str | None]:
    """The webhook's delivery log, newest first: a page and the next page's cursor."""
    subscription = await read(services, owner, webhook_id)
    try:
        found, next_cursor = await repository.deliveries(
            services.pool, subscription.id, limit, cursor
        )
    except ValueError as e:
        raise UnprocessableError.one("cursor", "not a cursor this API issued") from e
    return [delivery_view(d) for d in found], next_cursor
