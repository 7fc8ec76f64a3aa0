"""Fixtures for the dashboard's browser tests: a seeded service, and Chromium driven by
Playwright.

The browser is Debian's `chromium` (Playwright's own browser builds are not needed):
`CHROMIUM` names another executable. Where none is installed the tests are skipped with
the reason; with ``DASHBOARD_TESTS=required`` (as in CI, see .ci/run) they fail instead.

Fixtures:

``seeded`` (module)
    A running service (multi-tenancy on, webhooks to private addresses allowed) whose
    tenant ``acme`` holds a small shop: products and articles, users with histories,
    a built model, trending data, a webhook with a delivered and a failed delivery; the
    tenant ``globex`` holds data of its own. `Seeded` has the URL, the keys and ids.

``browser`` (module), ``page`` (function)
    Chromium, and a fresh page (its own cookies) with ``base_url`` set to the service.
    The context bypasses the page's Content Security Policy only so that the
    accessibility checker can be injected.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from recommendation_engine.config import TenancySettings, WebhookSettings
from tests import support
from tests.conftest import _truncate as truncate
from tests.support import API_KEY, WebhookReceiver, client, make_settings, serve

HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe.min.js"
SCREENSHOTS = os.environ.get("DASHBOARD_SCREENSHOTS")

CATEGORIES = ("audio", "video", "home")
T = TypeVar("T")


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run ``function`` in a thread of its own: Playwright's synchronous API keeps an
    event loop running in the test's thread, where `asyncio.run` cannot start one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def count(database_url: str, table: str, tenant_id: str = "default") -> int:
    return off_loop(support.count, database_url, table, tenant_id)


def fetch(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    return off_loop(support.fetch, database_url, sql, *args)


def chromium_path() -> str | None:
    named = os.environ.get("CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def playwright(database_url: str) -> Iterator[Playwright]:
    """Playwright, for one module at a time: while it runs, the test's thread has an
    event loop, so the session's database is started before it and other modules'
    tests run after it stopped."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        message = "no Chromium: apt-get install chromium (deploy/ci/prepare.sh does)"
        if os.environ.get("DASHBOARD_TESTS") == "required":
            pytest.fail(message)
        pytest.skip(message)
    launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
    yield launched
    launched.close()


@dataclass
class Seeded:
    url: str
    tenant_key: str  # acme's own key
    other_key: str  # globex's own key
    receiver: WebhookReceiver
    webhook_id: str
    database_url: str

    def api(self, tenant: str = "acme") -> httpx.Client:
        return client(self.url, **{"X-Tenant-ID": tenant})


def _wait_for_model(http: httpx.Client, before: int | None) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get("/api/v1/model/status").json()
        if status["version"] is not None and status["version"] != before:
            return status
        time.sleep(0.1)
    raise AssertionError("the model was not rebuilt in time")


def seed_shop(http: httpx.Client, now: datetime) -> None:
    """Twenty products in three categories, four articles, twelve users whose histories
    hold five products of one category each (each user a different five) and an
    article, within the last day (so the overview's chart and trending have data)."""
    entities = [
        {
            "entity_id": f"p{n}",
            "entity_type": "product",
            "attributes": {
                "name": f"Product {n}",
                "category": CATEGORIES[n % 3],
                "price": 10 + n,
                "tags": ["sale"] if n % 4 == 0 else ["new"],
            },
        }
        for n in range(20)
    ] + [
        {
            "entity_id": f"a{n}",
            "entity_type": "article",
            "attributes": {"title": f"Guide {n}", "category": CATEGORIES[n % 3]},
        }
        for n in range(4)
    ]
    response = http.post("/api/v1/entities/bulk", json={"entities": entities})
    assert response.json()["failed"] == 0, response.text
    interactions = []
    kinds = ("view", "click", "purchase", "view", "like")
    for user in range(12):
        category = user % 3
        same = [n for n in range(20) if n % 3 == category]
        start = user // 3
        products = (same[start:] + same[:start])[:5]  # five of the category's six or seven
        for step, n in enumerate(products + products[:2]):
            interactions.append(
                {
                    "user_id": f"u{user}",
                    "entity_id": f"p{n}",
                    "entity_type": "product",
                    "interaction_type": kinds[(user + step) % len(kinds)],
                    "timestamp": (now - timedelta(minutes=30 * user + 7 * step + 5)).isoformat(),
                }
            )
        interactions.append(
            {
                "user_id": f"u{user}",
                "entity_id": f"a{category}",
                "entity_type": "article",
                "interaction_type": "view",
                "timestamp": (now - timedelta(hours=1, minutes=user)).isoformat(),
            }
        )
    response = http.post("/api/v1/interactions/bulk", json={"interactions": interactions})
    assert response.json()["failed"] == 0, response.text


def seed_experiment(http: httpx.Client) -> None:
    """A running experiment on user recommendations: half the users get content-based
    lists; every user is shown a list, and a few click what they were shown."""
    body = {
        "name": "content-based for half",
        "route": "user",
        "variants": [
            {"name": "content", "share": 0.5, "overrides": {"algorithm": "content_based"}}
        ],
        "planned_users_per_variant": 1000,
    }
    experiment = http.post("/api/v1/experiments", json=body).json()
    http.post(f"/api/v1/experiments/{experiment['id']}/start").raise_for_status()
    for user in range(12):
        answer = http.get(f"/api/v1/recommendations/user/u{user}?count=5").json()
        if user % 3 == 0 and answer["recommendations"]:
            http.post(
                "/api/v1/interactions",
                json={
                    "user_id": f"u{user}",
                    "entity_id": answer["recommendations"][0]["entity_id"],
                    "entity_type": answer["recommendations"][0]["entity_type"],
                    "interaction_type": "click",
                    "recommendation_id": answer["recommendation_id"],
                },
            ).raise_for_status()


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[Seeded]:
    off_loop(truncate, database_url)
    settings = make_settings(
        database_url,
        tenancy=TenancySettings(enable_multi_tenancy=True),
        webhooks=WebhookSettings(
            allow_private_targets=True, max_attempts=1, retry_base_secs=0.1, retry_max_secs=0.2
        ),
    )
    with WebhookReceiver() as receiver, serve(settings) as url:
        admin = client(url)
        acme = client(url, **{"X-Tenant-ID": "acme"})
        globex = client(url, **{"X-Tenant-ID": "globex"})
        tenant_key = admin.post(
            "/api/v1/admin/api-keys", json={"name": "acme storefront", "tenant_id": "acme"}
        ).json()["key"]
        other_key = admin.post(
            "/api/v1/admin/api-keys", json={"name": "globex", "tenant_id": "globex"}
        ).json()["key"]
        admin.put("/api/v1/admin/tenants/acme", json={"name": "Acme Inc."})
        receiver.statuses = [500]  # the first delivery fails (and is given up)
        hook = acme.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["*"], "description": "shop sync"},
        ).json()
        now = datetime.now(UTC)
        seed_shop(acme, now)
        acme.post(
            "/api/v1/entities",
            json={"entity_id": "p99", "entity_type": "product", "attributes": {"name": "Late"}},
        )
        globex.post(
            "/api/v1/entities",
            json={
                "entity_id": "secret-product",
                "entity_type": "product",
                "attributes": {"name": "Globex only"},
            },
        )
        globex.post(
            "/api/v1/interactions",
            json={
                "user_id": "globex-user",
                "entity_id": "secret-product",
                "interaction_type": "view",
            },
        )
        assert acme.post("/api/v1/model/rebuild").status_code == 202
        _wait_for_model(acme, None)
        seed_experiment(acme)
        receiver.wait_for(lambda events: len(events) >= 2)
        yield Seeded(url, tenant_key, other_key, receiver, hook["id"], database_url)
        for http in (admin, acme, globex):
            http.close()


@pytest.fixture
def page(browser: Browser, seeded: Seeded) -> Iterator[Page]:
    context = browser.new_context(
        base_url=seeded.url, bypass_csp=True, viewport={"width": 1280, "height": 860}
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, key: str = API_KEY) -> None:
    page.goto("/dashboard/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """A PNG of the page: under DASHBOARD_SCREENSHOTS (docs/images for the README) when
    set, else in the test's temporary directory."""
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path
