"""Probes and service information: /health, /ready, /metrics, /api/config."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from recommendation_engine import __version__, metrics
from recommendation_engine.api.deps import ServicesDep, SettingsDep, require_api_key
from recommendation_engine.api.lifecycle import draining
from recommendation_engine.api.responses import FastJSONResponse, error_response
from recommendation_engine.api.schemas import ErrorResponse
from recommendation_engine.errors import NotFound, Unauthorized

router = APIRouter(tags=["system"])


@router.get("/health", summary="Liveness: 200 while the process runs")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    summary="Readiness: 200 when the database answers, 503 while starting or stopping",
    responses={503: {"description": "Not ready"}},
)
async def ready(request: Request) -> Response:
    state = request.app.state
    if not getattr(state, "ready", False) or draining.is_set():
        return error_response(503, "not_ready", "the service is starting or shutting down")
    try:
        async with asyncio.timeout(2.0):
            await state.services.pool.fetchval("SELECT 1")
    except Exception as exc:
        return error_response(503, "database_unavailable", f"the database does not answer: {exc}")
    return FastJSONResponse({"status": "ready", "checks": {"database": "ok"}})


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"model": ErrorResponse, "description": "METRICS_API_KEY is set, not presented"},
        404: {"model": ErrorResponse, "description": "METRICS_ENABLED=false"},
    },
)
async def prometheus_metrics(request: Request, services: ServicesDep) -> Response:
    server = services.settings.server
    if not server.metrics_enabled:
        raise NotFound("metrics are turned off (METRICS_ENABLED=false)")
    if server.metrics_api_key is not None:
        presented = request.headers.get("x-api-key") or _bearer_token(request)
        expected = server.metrics_api_key.get_secret_value()
        if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthorized(
                "/metrics needs METRICS_API_KEY, as X-API-Key or Authorization: Bearer"
            )
    await services.refresh_gauges()
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@router.get(
    "/api/config",
    summary="The effective configuration, secrets masked",
    dependencies=[Depends(require_api_key)],
)
async def config(settings: SettingsDep) -> dict[str, Any]:
    return settings.public_view()
