"""The ASGI application: `create_app()` builds it; the lifespan opens and closes resources."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from recommendation_engine import __version__
from recommendation_engine.api import dashboard, errors, openapi_document
from recommendation_engine.api.deps import require_api_key
from recommendation_engine.api.fastapi_tuning import remember_parameter_shapes
from recommendation_engine.api.garbage_collection import GarbageCollection
from recommendation_engine.api.lifecycle import drain_this_worker_on_sigterm
from recommendation_engine.api.middleware import BodySizeLimit, ErrorBoundary, RequestObservation
from recommendation_engine.api.rate_limit import RateLimit, RateLimiter
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.routes import (
    admin,
    entities,
    experiments,
    interaction_types,
    interactions,
    recommendations,
    system,
    tenant,
    webhooks,
)
from recommendation_engine.config import Settings, get_settings
from recommendation_engine.logging_setup import configure_logging
from recommendation_engine.service.container import Services
from recommendation_engine.service.dashboard import DashboardService
from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.setup import open_database

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Register entities with free-form attributes, record what users do with them, and ask "
    "for recommendations. Authenticate with the `X-API-Key` header (or `Authorization: "
    'Bearer <key>`). Errors are `{"error": {"code", "status", "message", "details"}}`.'
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    app.state.ready = False
    database = await asyncio.to_thread(open_database, settings)
    pool = await create_pool(database.url, settings.database.max_connections)
    services = Services.build(settings, pool)
    await services.start_background()
    app.state.services = services
    board = app.state.dashboard = DashboardService(services, settings)
    board.start()
    if multiprocessing.parent_process() is not None:  # a worker of a multi-worker serve
        drain_this_worker_on_sigterm(settings.server.shutdown_drain_secs)
    # What was built so far lives as long as the process: the cyclic collector need not
    # walk it again (about 230 ms a full collection on the benchmark's 100k catalogue).
    collection = GarbageCollection()
    collection.start()
    app.state.ready = True
    logger.info("ready")
    try:
        yield
    finally:
        app.state.ready = False
        await collection.stop()
        await board.stop()
        await services.stop_background()
        await pool.close()
        await asyncio.to_thread(database.stop)
        if app.state.stop_tracing is not None:
            await asyncio.to_thread(app.state.stop_tracing)  # exports the spans left


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if multiprocessing.current_process().name != "MainProcess" and not logging.root.handlers:
        # A worker process of `serve` with WORKERS > 1: log as the parent would.
        configure_logging(settings.server.log_level, settings.server.log_format)
    remember_parameter_shapes()
    app = FastAPI(
        title="recommendation-engine",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/docs",
        docs_url="/api/docs/ui",
        redoc_url=None,
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    openapi_document.install(app, settings)
    errors.install(app)
    secured = [Depends(require_api_key)]
    # A request is matched against the routes in order: the busiest routes come first.
    routers = (
        recommendations.router,
        interactions.router,
        entities.router,
        interaction_types.router,
        experiments.router,
        tenant.router,
        webhooks.router,
        admin.router,
    )
    for router in routers:
        app.include_router(router, dependencies=secured)
    app.include_router(system.router)
    if settings.dashboard.enabled:
        dashboard.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_request_body_bytes)
    origins = [o.strip() for o in settings.server.cors_allowed_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-Tenant-ID",
                "X-Request-ID",
            ],
            expose_headers=["X-Request-ID", "X-Cache"],
            max_age=600,
        )
    limits = settings.limits
    if limits.rate_limit_enabled:
        redis_url = settings.redis.url.get_secret_value() if settings.redis.url else None
        limiter = RateLimiter(
            limits.rate_limit_requests_per_minute, limits.rate_limit_burst_size, redis_url
        )
        app.add_middleware(RateLimit, limiter=limiter)
    app.add_middleware(ErrorBoundary)
    # Outermost: times and logs everything, rejections and preflights included.
    app.add_middleware(RequestObservation, metrics=settings.server.metrics_enabled)
    app.state.stop_tracing = None
    if settings.tracing.enabled:
        # Imported only here: with tracing off, no tracer, exporter or instrumentation.
        from recommendation_engine.tracing import configure_tracing

        # The request's span encloses every middleware, so its log line carries the ids.
        app.state.stop_tracing = configure_tracing(settings, app)
    return app
