"""Asking the catalog service (request/reply on `catalog.query.*`); its errors become HTTP."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException
from faststream.nats import NatsBroker
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from cadenza.contracts.catalog import CatalogQuery, QueryReply

log = logging.getLogger(__name__)


async def ask(broker: NatsBroker, query: CatalogQuery, *, timeout_s: float = 10.0) -> Any:
    """The query's result as JSON data; HTTPException with the catalog's own sentence
    (404, 422…) or 503 when no catalog worker answers."""
    try:
        msg = await broker.connection.request(
            query.subject(), query.model_dump_json().encode(), timeout=timeout_s
        )
    except NoRespondersError as e:
        raise HTTPException(503, "the catalog service is not running; try again shortly") from e
    except (NatsTimeoutError, TimeoutError) as e:
        raise HTTPException(
            503, f"the catalog service did not answer within {timeout_s:g} s; try again"
        ) from e
    reply = QueryReply.model_validate_json(msg.data)
    if reply.error is not None:
        raise HTTPException(reply.error.status, reply.error.detail)
    return reply.result
