"""The AsyncAPI document names the subscriptions the services really make: each worker and
the gateway, installed as they install themselves, subscribe (the workers' command
consumers, the brokers' subscribers) with exactly the titles, subjects, durable names and
streams that `cadenza.runtime.asyncapi.subscriptions()` lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from faststream.nats import NatsBroker

from cadenza.catalog.app import install as install_catalog
from cadenza.catalog.settings import Settings as CatalogSettings
from cadenza.composition.app import install as install_composition
from cadenza.composition.settings import Settings as CompositionSettings
from cadenza.effects.app import install as install_effects
from cadenza.effects.settings import Settings as EffectsSettings
from cadenza.gateway.subscribers import install_subscribers
from cadenza.render.app import install as install_render
from cadenza.render.settings import Settings as RenderSettings
from cadenza.runtime.asyncapi import BULK_IMPORTER, subscriptions
from cadenza.runtime.service import WorkerRuntime
from cadenza.runtime.settings import WorkerSettings
from cadenza.separation.app import install as install_separation
from cadenza.separation.settings import Settings as SeparationSettings

Declared = tuple[str, str, str | None, str | None]

WORKERS: dict[str, tuple[type[WorkerSettings], Callable[[WorkerRuntime], None]]] = {
    "effects": (EffectsSettings, install_effects),
    "separation": (SeparationSettings, install_separation),
    "catalog": (CatalogSettings, install_catalog),
    "composition": (CompositionSettings, install_composition),
    "render": (RenderSettings, install_render),
}


def declared(broker: NatsBroker) -> set[Declared]:
    """(title, subject, durable, stream) of each subscription `broker` was given."""
    found: set[Declared] = set()
    for subscriber in broker.subscribers:
        sub = cast(Any, subscriber)
        stream = getattr(sub, "stream", None)
        found.add(
            (
                sub.specification.config.title_,
                sub.subject.template,
                sub.config.durable_name,
                stream.name if stream else None,
            )
        )
    return found


async def test_the_services_subscribe_as_the_document_says(tmp_path: Path) -> None:
    made: set[Declared] = set()
    for name, (settings_type, install) in WORKERS.items():
        runtime = WorkerRuntime(settings_type(storage_dir=tmp_path / name), f"{name}-test")
        install(runtime)
        made |= declared(runtime.broker)
        made |= {
            (c.title, c.spec.subject, c.spec.durable, c.spec.stream) for c in runtime.consumers
        }
        for hook in reversed(runtime.shutdown_hooks):  # e.g. separation's batcher thread
            await hook()
    gateway = NatsBroker()
    install_subscribers(gateway, projection=cast(Any, None), job_feed=cast(Any, None))
    made |= declared(gateway)

    documented = {
        (s.title, s.subject, s.durable, s.stream.name if s.stream else None)
        for s in subscriptions()
        if s.who != BULK_IMPORTER  # plain nats-py subscriptions, not a FastStream broker
    }
    assert made == documented
