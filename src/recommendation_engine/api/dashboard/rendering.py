"""Rendering the dashboard's HTML: the Jinja2 environment, its filters, the response
headers every page carries, and error pages."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from recommendation_engine import __version__
from recommendation_engine.serialization import dumps

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# Scripts and styles come from the service itself, never inline: an injected <script>
# or style attribute does not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(value: datetime | None) -> str:
    if value is None:
        return "—"
    return duration((datetime.now(UTC) - value).total_seconds()) + " ago"


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def _json_data(value: Any) -> Markup:
    """JSON for a <script type="application/json"> block: '<' escaped, so no text in it
    can close the block."""
    text = dumps(value).decode().replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("&", "\\u0026"))


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _segment(value: str) -> str:
    """An id as one URL path segment (ids never hold '/', but may hold '+', ':', '@')."""
    return quote(value, safe="")


def _attributes_line(value: dict[str, Any], limit: int = 3) -> str:
    parts = []
    for name, item in list(value.items())[:limit]:
        shown = ", ".join(map(str, item)) if isinstance(item, list) else str(item)
        parts.append(f"{name}: {shown[:40]}")
    return "; ".join(parts)


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    when=_when,
    age=_age,
    duration=duration,
    number=_number,
    percent=_percent,
    json_data=_json_data,
    pretty=_pretty,
    segment=_segment,
    attributes_line=_attributes_line,
)
environment.globals["version"] = __version__


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    page = environment.get_template(template)
    html = page.render(request=request, **getattr(request.state, "page", {}), **(context or {}))
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return render(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )
