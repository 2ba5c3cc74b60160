"""The gateway's FastAPI app: routes, error handlers, metrics, and its life cycle."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cadenza.contracts.streams import ALL_STREAMS, OPERATIONS_STREAMS, WORKSPACE_STREAMS
from cadenza.gateway import repository
from cadenza.gateway.api.routes import (
    admin,
    asyncapi,
    auth,
    compat,
    compat_ws,
    effects,
    health,
    jobs,
    live_audio,
    models,
    music,
    projects,
    songs,
    soundfonts,
    uploads,
    webhooks,
    ws,
)
from cadenza.gateway.auth.principal import Authenticator
from cadenza.gateway.db import create_pool, migrate
from cadenza.gateway.deps import get_caller
from cadenza.gateway.docs_pages import install_docs
from cadenza.gateway.downloads import download_sources
from cadenza.gateway.errors import install_error_handlers
from cadenza.gateway.file_checks import probe_sandbox
from cadenza.gateway.http_guards import BodyLimit, BodyRules, SecurityHeaders, upload_routes
from cadenza.gateway.job_feed import JobFeed
from cadenza.gateway.job_state import JobState
from cadenza.gateway.live_audio import PrincipalSessions
from cadenza.gateway.open_sockets import OpenSockets
from cadenza.gateway.openapi_document import install_openapi
from cadenza.gateway.outbox import Outbox, OutboxRelay
from cadenza.gateway.projection import Projection
from cadenza.gateway.projects.rooms import ProjectRooms, install_room_subscribers
from cadenza.gateway.quotas import Quotas
from cadenza.gateway.retention import Ages, Retention
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings
from cadenza.gateway.studio import install_studio
from cadenza.gateway.subscribers import install_dead_letter_keeper, install_subscribers
from cadenza.gateway.text_checks import reject_invalid_text
from cadenza.gateway.webhooks.delivery import Deliverer
from cadenza.gateway.webhooks.docs import install_webhook_docs
from cadenza.gateway.webhooks.feed import queue_deliveries
from cadenza.runtime.bus import Bus, ensure_streams, make_broker
from cadenza.runtime.cancellation import Cancellations
from cadenza.runtime.logging import configure_logging
from cadenza.runtime.model_registry import ModelRegistry, SoundFontRegistry
from cadenza.runtime.periodic import Periodic
from cadenza.runtime.queue_lag import export_consumer_lag
from cadenza.runtime.storage import store_from_settings

log = logging.getLogger(__name__)

REQUESTS = Counter("cadenza_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "cadenza_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    pool = await create_pool(settings.database_url, settings.database_pool_size)
    store = store_from_settings(settings)
    broker = make_broker(settings, name="cadenza-gateway")
    probes = probe_sandbox(settings)
    try:
        await migrate(pool)
        await store.start()
        connection = await broker.connect()
        js = connection.jetstream()
        await ensure_streams(
            js,
            ALL_STREAMS + OPERATIONS_STREAMS + WORKSPACE_STREAMS,
            replicas=settings.nats_stream_replicas,
        )
        cancellations = Cancellations(js)
        projection = Projection(pool)

        async def load(owner: str, job_id: uuid.UUID) -> JobState | None:
            return await repository.get_job(pool, owner, job_id)

        job_feed = JobFeed(load, settings.live_cache_jobs, record=projection.apply)
        auth = Authenticator(settings, pool)
        sockets = OpenSockets(auth.still_valid, settings.socket_recheck_s)
        await sockets.start(connection)
        deliverer = Deliverer(pool, settings)
        webhook_deliveries = queue_deliveries(
            pool, deliverer.wake, settings.webhook_max_pending_progress
        )
        rooms = ProjectRooms(broker, on_member_removed=job_feed.revoke)
        install_subscribers(
            broker,
            projection,
            job_feed,
            after_projection=webhook_deliveries,
            also_live=rooms.heard_job,
        )
        install_dead_letter_keeper(broker, Bus(broker), js)
        install_room_subscribers(broker, rooms)
        await broker.start()
        rooms.start()
        await deliverer.start()
        outbox = Outbox(pool, Bus(broker))
        relay = Periodic("outbox-relay", 1.0, OutboxRelay(outbox).relay_once)
        relay.start()
        forget = Periodic("outbox-forget", 0.25, outbox.flush_confirmed)
        forget.start()
        retention = Retention(
            pool,
            store,
            Bus(broker),
            projection,
            Ages(
                artifacts_s=settings.retention_artifacts_s,
                jobs_s=settings.retention_jobs_s,
                uploads_s=settings.retention_uploads_s,
                orphan_grace_s=settings.retention_orphan_grace_s,
            ),
        )
        schedule = Periodic(
            "retention",
            settings.retention_interval_s,
            lambda: retention.sweep_if_due(settings.retention_interval_s),
        )
        schedule.start()
        lag = Periodic(
            "queue-lag",
            settings.queue_lag_interval_s,
            lambda: export_consumer_lag(js, ALL_STREAMS),
        )
        lag.start()
        app.state.services = Services(
            settings=settings,
            pool=pool,
            store=store,
            broker=broker,
            bus=Bus(broker),
            cancellations=cancellations,
            projection=projection,
            job_feed=job_feed,
            models=ModelRegistry(js),
            soundfonts=SoundFontRegistry(js),
            auth=auth,
            retention=retention,
            outbox=outbox,
            probes=probes,
            sockets=sockets,
            quotas=Quotas(settings),
            rooms=rooms,
        )
        yield
        await rooms.stop()
        await deliverer.stop()
        await sockets.stop()
        await lag.stop()
        await schedule.stop()
        await relay.stop()
        await forget.stop()
        with contextlib.suppress(Exception):  # left in the outbox, the relay re-publishes
            await outbox.flush_confirmed()
    finally:
        try:
            await broker.stop()
        except Exception as e:  # NATS already gone: nothing left to drain
            log.warning("could not drain the NATS connection: %s", e)
        await store.close()
        await pool.close()
        probes.close()


class RequestMetrics:
    """Counts and times requests by route template (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # DATABASE_URL comes from the environment
    configure_logging("gateway", settings.log_level, settings.log_format)
    app = FastAPI(
        title="Cadenza",
        version="0.1.0",
        summary="Event-driven backend for AI music production",
        lifespan=lifespan,
        docs_url=None,  # docs_pages.py: Swagger UI and ReDoc from files served here
        redoc_url=None,
        # Text that cannot be stored (NUL, lone surrogates) is a 422 naming the field.
        dependencies=[Depends(reject_invalid_text)],
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app)  # errors, security, ids and links: see openapi_document
    app.state.live_sessions = PrincipalSessions(settings.live_sessions_per_principal)
    for module in (health, auth, admin, ws, live_audio, asyncapi, effects):
        app.include_router(module.router)
    # Everything else answers only an authenticated caller (or the development principal).
    for module in (uploads, jobs, songs, music, models, soundfonts, webhooks, projects):
        app.include_router(module.router, dependencies=[Depends(get_caller)])
    app.include_router(projects.invitations, dependencies=[Depends(get_caller)])
    app.include_router(projects.sockets)  # credentials checked after the handshake
    if settings.compat_routes_on:  # the seeds' clients (docs/compat.md)
        app.include_router(compat.probes)
        app.include_router(compat_ws.router)
        app.include_router(compat.router, dependencies=[Depends(get_caller)])
    install_studio(app)
    install_docs(app)
    install_webhook_docs(app)  # the requests webhooks send, in the OpenAPI's `webhooks`
    # Each middleware added wraps those before it: the last one runs first.
    app.add_middleware(RequestMetrics)
    app.add_middleware(
        BodyLimit,
        rules=BodyRules(
            upload_routes=upload_routes(app),
            max_json_bytes=settings.max_json_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            json_timeout_s=settings.request_body_timeout_s,
            upload_idle_timeout_s=settings.upload_idle_timeout_s,
        ),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-API-Key",
                "Range",
            ],
            expose_headers=["Content-Range", "Retry-After", "Location"],
            max_age=600,
        )
    if settings.security_headers:
        app.add_middleware(
            SecurityHeaders,
            hsts_seconds=settings.hsts_seconds,
            download_sources=download_sources(settings, settings.download_url_ttl_s),
        )
    if settings.trusted_proxies:
        # X-Forwarded-For names the client only when the peer is one of our proxies; the
        # right-most address not ours is the client (uvicorn's implementation).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app
