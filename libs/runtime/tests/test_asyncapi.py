"""docs/asyncapi.json is the bus as the code declares it (`make docs` regenerates it): every
event a channel with its payload schema, publishers and consumers, every worker's consumer
an operation."""

from __future__ import annotations

import inspect
import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from cadenza.contracts.consumers import COMMAND_CONSUMERS, PROJECTION_CONSUMERS, live_title
from cadenza.contracts.envelope import Event
from cadenza.contracts.registry import EVENT_TYPES
from cadenza.runtime.asyncapi import asyncapi_document

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


@cache
def document() -> str:
    return asyncapi_document()


def spec() -> Any:
    return json.loads(document())


def resolve(root: Any, ref: str) -> Any:
    """Follow a JSON pointer such as `#/components/messages/live-job.%3E:SubscribeMessage`."""
    node = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def payload_of(root: Any, channel: dict[str, Any]) -> Any:
    (message,) = channel["messages"].values()
    return resolve(root, resolve(root, message["$ref"])["payload"]["$ref"])


def test_the_committed_asyncapi_document_is_current() -> None:
    assert COMMITTED.read_text() == document(), "run `make docs` and commit the result"


def test_building_it_twice_gives_the_same_bytes_and_no_warnings() -> None:
    with warnings.catch_warnings():
        # FastStream warns when two channels, operations or schemas would share a name.
        warnings.simplefilter("error")
        again = asyncapi_document()
    assert again == document()
    assert spec()["asyncapi"] == "3.0.0"


@pytest.mark.parametrize("event", EVENT_TYPES, ids=lambda e: e.subject)
def test_every_event_is_a_channel_with_its_payload_schema(event: type[Event]) -> None:
    root = spec()
    channel = root["channels"][event.subject]
    assert channel["address"] == event.subject
    schema = payload_of(root, channel)
    assert schema["title"] == event.__name__
    assert set(schema["properties"]) == set(event.model_fields)
    description = channel["description"]
    assert description.startswith(inspect.getdoc(event) or "")
    published, consumed = description.split("Published by:\n")[1].split("\n\nConsumed by:\n")
    assert published.startswith("- ") and consumed.startswith("- "), description
    operation = root["operations"][event.subject]
    assert operation["action"] == "send"


@pytest.mark.parametrize("consumer", COMMAND_CONSUMERS, ids=lambda c: c.durable)
def test_every_worker_command_shows_its_consumer(consumer: Any) -> None:
    root = spec()
    operation = root["operations"][consumer.title]
    assert operation["action"] == "receive"
    channel = resolve(root, operation["channel"]["$ref"])
    assert channel["address"] == consumer.command.subject
    assert payload_of(root, channel)["title"] == consumer.command.__name__
    where = f"durable pull consumer `{consumer.durable}` on stream `{consumer.stream.name}`"
    assert where in channel["description"]
    assert (
        f"`{consumer.title}`: {consumer.service}, {where}"
        in (root["channels"][consumer.command.subject]["description"])
    )
    for fact in (consumer.completed, consumer.failed):
        assert (
            f"- {consumer.service}: when `{consumer.title}`"
            in (root["channels"][fact.subject]["description"])
        )


def test_the_gateway_subscriptions_are_operations() -> None:
    root = spec()
    for projection in PROJECTION_CONSUMERS:
        channel = resolve(root, root["operations"][projection.title]["channel"]["$ref"])
        assert channel["address"] == projection.filter_subject
        assert f"`{projection.durable}`" in channel["description"]
    live = resolve(root, root["operations"][live_title("job.>")]["channel"]["$ref"])
    job_events = payload_of(root, live)["anyOf"]
    assert len(job_events) == sum(e.subject.startswith("job.") for e in EVENT_TYPES)


def test_a_pipeline_step_is_published_by_the_workers_whose_step_can_precede_it() -> None:
    render = spec()["channels"]["render.requested"]["description"]
    assert "- composition: the step after `blend` in a routing slip" in render
    # Separation gives stems; rendering takes MIDI.
    assert "separation:" not in render.split("Consumed by:")[0]
