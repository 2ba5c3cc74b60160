"""Asking the catalog service (request/reply on `catalog.query.*`); its refusals become
domain errors."""

from __future__ import annotations

import logging
from typing import Any

from faststream.nats import NatsBroker
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from cadenza.contracts.catalog import CatalogQuery, QueryReply
from cadenza.gateway.application.errors import (
    DomainError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    UnavailableError,
    UnsupportedError,
)

log = logging.getLogger(__name__)

# The catalog answers in HTTP's words (QueryError.status); each becomes a domain error.
REFUSALS: dict[int, type[DomainError]] = {
    403: ForbiddenError,
    404: NotFoundError,
    415: UnsupportedError,
    422: InvalidError,
}


async def ask(broker: NatsBroker, query: CatalogQuery, *, timeout_s: float = 10.0) -> Any:
    """The query's result as JSON data; a domain error with the catalog's own sentence
    (not found, cannot be analysed…), or UnavailableError when no catalog worker answers."""
    try:
        msg = await broker.connection.request(
            query.subject(), query.model_dump_json().encode(), timeout=timeout_s
        )
    except NoRespondersError as e:
        raise UnavailableError(
            "the catalog service is not running; try again shortly", retry_after_s=5
        ) from e
    except (NatsTimeoutError, TimeoutError) as e:
        raise UnavailableError(
            f"the catalog service did not answer within {timeout_s:g} s; try again",
            retry_after_s=5,
        ) from e
    reply = QueryReply.model_validate_json(msg.data)
    if reply.error is not None:
        raise REFUSALS.get(reply.error.status, UnavailableError)(reply.error.detail)
    return reply.result
