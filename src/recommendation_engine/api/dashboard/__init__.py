"""The web dashboard at /dashboard: server-rendered pages (Jinja2) made lively with htmx,
charts drawn by Chart.js, every asset served from the package itself."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from recommendation_engine.api.dashboard import (
    administration,
    catalogue,
    configuration,
    experiments,
    modelling,
    signin,
)
from recommendation_engine.api.dashboard.access import PREFIX
from recommendation_engine.api.dashboard.rendering import STATIC


def install(app: FastAPI) -> None:
    """Serve the dashboard's pages and its static files."""
    for module in (signin, catalogue, modelling, experiments, configuration, administration):
        app.include_router(module.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="dashboard-static")
