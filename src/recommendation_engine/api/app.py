"""The ASGI application: `create_app()` builds it; the lifespan opens and closes resources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from recommendation_engine import __version__
from recommendation_engine.api import errors
from recommendation_engine.api.deps import require_api_key
from recommendation_engine.api.middleware import BodySizeLimit, RequestMetrics
from recommendation_engine.api.responses import FastJSONResponse
from recommendation_engine.api.routes import (
    entities,
    interaction_types,
    interactions,
    recommendations,
    system,
)
from recommendation_engine.config import Settings, get_settings
from recommendation_engine.service.container import Services
from recommendation_engine.storage.database import create_pool
from recommendation_engine.storage.setup import open_database

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Register entities with free-form attributes, record what users do with them, and ask "
    "for recommendations. Authenticate with the `X-API-Key` header (or `Authorization: "
    'Bearer <key>`). Errors are `{"error": {"code", "message", "details"}}`.'
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
    app.state.ready = True
    logger.info("ready")
    try:
        yield
    finally:
        app.state.ready = False
        await services.stop_background()
        await pool.close()
        await asyncio.to_thread(database.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
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
    errors.install(app)
    app.include_router(system.router)
    secured = [Depends(require_api_key)]
    routers = (
        entities.router,
        interactions.router,
        interaction_types.router,
        recommendations.router,
    )
    for router in routers:
        app.include_router(router, dependencies=secured)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server.max_request_body_bytes)
    app.add_middleware(RequestMetrics)  # outermost: times everything, rejections included
    return app
