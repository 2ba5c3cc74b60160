"""The dead-letter keeper: when a consumer has delivered a command its maximum number of
times without an outcome (every attempt crashed its worker or timed out), JetStream sends a
max-deliveries advisory, which the ADVISORIES stream keeps. For each one the keeper copies
the command into the DEADLETTERS stream (with where it came from) and fails its job with
a reason, so nobody waits for a job that will never finish.

A worker that survives its errors never gets here: on its last delivery it publishes the
`<domain>.failed` fact itself (see worker.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from cadenza.contracts.jobs import StageDeadLettered
from cadenza.contracts.registry import decode_event
from cadenza.contracts.streams import DEAD_LETTERS
from cadenza.runtime.bus import MSG_ID_HEADER

log = logging.getLogger(__name__)

ORIGIN_HEADERS = ("Cadenza-Stream", "Cadenza-Sequence", "Cadenza-Subject", "Cadenza-Consumer")


@dataclass(frozen=True)
class Advisory:
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int

    @classmethod
    def parse(cls, payload: bytes) -> Advisory:
        data: dict[str, Any] = json.loads(payload)
        return cls(
            str(data["stream"]),
            str(data["consumer"]),
            int(data["stream_seq"]),
            int(data.get("deliveries", 0)),
        )


async def keep_dead_letter(js: JetStreamContext, advisory: Advisory) -> StageDeadLettered | None:
    """Copy the command to DEADLETTERS (once: the copy's Nats-Msg-Id is its origin) and
    return the failure to publish for its job, or None when there is no job to fail."""
    try:
        original = await js.get_msg(advisory.stream, advisory.stream_seq)
    except NotFoundError:
        log.warning(
            "dead letter %s #%d is gone from its stream (expired?)",
            advisory.stream,
            advisory.stream_seq,
        )
        return None
    assert original.subject is not None
    headers = {
        MSG_ID_HEADER: f"dead-letter:{advisory.stream}:{advisory.stream_seq}",
        "Cadenza-Stream": advisory.stream,
        "Cadenza-Sequence": str(advisory.stream_seq),
        "Cadenza-Subject": original.subject,
        "Cadenza-Consumer": advisory.consumer,
        "Cadenza-Deliveries": str(advisory.deliveries),
    }
    ack = await js.publish(
        f"deadletter.{advisory.stream.lower()}.{advisory.consumer}",
        original.data or b"",
        headers=headers,
        stream=DEAD_LETTERS.name,
    )
    log.error(
        "%s #%d (%s) reached %d deliveries without an outcome; kept as dead letter %d",
        advisory.stream,
        advisory.stream_seq,
        original.subject,
        advisory.deliveries,
        ack.seq,
    )
    try:
        command = decode_event(original.subject, original.data or b"")
    except (KeyError, ValidationError, ValueError):
        log.error("dead letter %d is not a command this version knows; no job to fail", ack.seq)
        return None
    stage = getattr(command, "stage", None) or original.subject.split(".")[0]
    reason = (
        f"the {stage} step was delivered {advisory.deliveries} times and never finished "
        "(each attempt crashed its worker or timed out); the command is kept as dead letter "
        f"{ack.seq} for inspection"
    )
    return StageDeadLettered.caused_by(
        command,
        stage=stage,
        code="dead_letter",
        reason=reason,
        attempts=max(1, advisory.deliveries),
        original_subject=original.subject,
        dead_letter_seq=ack.seq,
    )
