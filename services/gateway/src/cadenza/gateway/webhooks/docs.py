"""The webhooks in the OpenAPI document: one operation per event type in its `webhooks`
section (OpenAPI 3.1), the request each receiver gets, with its headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header, Response

from cadenza.gateway.webhooks.schemas import EVENT_MEANINGS, EventType, WebhookEvent

HEADERS = """Headers (Standard Webhooks): `webhook-id` (the delivery's id, the same on every \
retry: deduplicate on it), `webhook-timestamp` (Unix seconds of this attempt), \
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` \
keyed by the secret's bytes after `whsec_`; after a rotation two, space-separated). Answer \
2xx within WEBHOOK_TIMEOUT_S; anything else (a redirect too) is retried with back-off."""


def install_webhook_docs(app: FastAPI) -> None:
    for event_type, meaning in EVENT_MEANINGS.items():
        _declare(app, event_type, meaning)


def _declare(app: FastAPI, event_type: EventType, meaning: str) -> None:
    async def receive(
        body: WebhookEvent,
        webhook_id: Annotated[str, Header(alias="webhook-id")],
        webhook_timestamp: Annotated[str, Header(alias="webhook-timestamp")],
        webhook_signature: Annotated[str, Header(alias="webhook-signature")],
    ) -> None:
        """Never called: it documents what a receiver gets."""

    app.webhooks.post(
        event_type,
        summary=f"`{event_type}`, POSTed to your webhook's URL",
        description=f"{meaning}\n\n{HEADERS}",
        operation_id=f"webhook_{event_type.replace('.', '_')}",
        tags=["webhooks"],
        status_code=200,
        response_class=Response,
        response_description="Any 2xx: delivered",
        responses={
            "default": {
                "description": "Anything else (a redirect too, or no answer within "
                "WEBHOOK_TIMEOUT_S): sent again later, with back-off"
            }
        },
    )(receive)
