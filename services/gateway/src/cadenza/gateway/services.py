"""What request handlers share: connections and the projection, held for the app's life."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from faststream.nats import NatsBroker

from cadenza.gateway.auth.principal import Authenticator
from cadenza.gateway.job_feed import JobFeed
from cadenza.gateway.open_sockets import OpenSockets
from cadenza.gateway.outbox import Outbox
from cadenza.gateway.projection import Projection
from cadenza.gateway.projects.rooms import ProjectRooms
from cadenza.gateway.quotas import Quotas
from cadenza.gateway.retention import Retention
from cadenza.gateway.settings import Settings
from cadenza.runtime.bus import Bus
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.model_registry import ModelRegistry, SoundFontRegistry
from cadenza.runtime.sandbox import Sandbox
from cadenza.runtime.storage import ObjectStore


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    store: ObjectStore
    broker: NatsBroker
    bus: Bus
    cancellations: Cancellations
    projection: Projection
    job_feed: JobFeed
    models: ModelRegistry
    soundfonts: SoundFontRegistry
    auth: Authenticator
    retention: Retention
    outbox: Outbox
    # Child processes that check uploaded files (cadenza.gateway.file_checks).
    probes: Sandbox
    # WebSockets open here, closed when their credentials end.
    sockets: OpenSockets
    quotas: Quotas
    # Who is connected to each project, across replicas (cadenza.gateway.projects.rooms).
    rooms: ProjectRooms
