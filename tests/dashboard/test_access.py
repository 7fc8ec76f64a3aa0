"""Signing in and out, the session cookie, CSRF, and what a tenant's key may see."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Seeded, fetch, sign_in
from tests.support import API_KEY


def test_sign_in_and_out(page: Page, seeded: Seeded) -> None:
    page.goto("/dashboard/t/acme/entities")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    # Back where the browser was going.
    expect(page).to_have_url(re.compile(r"/dashboard/t/acme/entities$"))
    expect(page.get_by_text("Administrator")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    page.goto("/dashboard/t/acme/")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))


def test_a_wrong_key_is_refused(page: Page) -> None:
    page.goto("/dashboard/login")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")
    assert not [c for c in page.context.cookies() if c["name"] == "dashboard_session"]


def test_the_session_cookie_is_httponly_samesite_and_never_the_key(
    page: Page, seeded: Seeded
) -> None:
    sign_in(page)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "dashboard_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert cookie["expires"] > 0  # not a browser-session cookie: it expires
    assert API_KEY not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of reach of scripts
    stored = fetch(seeded.database_url, "SELECT * FROM dashboard_sessions")
    assert stored and all(API_KEY.encode() not in bytes(row["key_hash"]) for row in stored)
    assert all(cookie["value"].encode() != bytes(row["session_hash"]) for row in stored)


def test_an_expired_session_signs_out(page: Page, seeded: Seeded) -> None:
    sign_in(page)
    fetch(
        seeded.database_url,
        "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second' RETURNING 1",
    )
    page.goto("/dashboard/t/acme/")
    expect(page.get_by_label("API key")).to_be_visible()


def test_forms_that_change_something_need_the_sessions_csrf_token(
    page: Page, seeded: Seeded
) -> None:
    sign_in(page)
    session = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=seeded.url, cookies=session) as http:
        url = "/dashboard/t/acme/interaction-types/view"
        missing = http.post(url, data={"weight": "9"})
        forged = http.post(url, data={"weight": "9", "csrf_token": "guess"})
        token = re.search(
            r'name="csrf-token" content="([^"]+)"', http.get("/dashboard/t/acme/").text
        )
        assert token
        elsewhere = http.post(
            url,
            data={"weight": "9", "csrf_token": token.group(1)},
            headers={"Origin": "https://attacker.example"},
        )
        for answer in (missing, forged, elsewhere):
            assert answer.status_code == 403, answer.text
        with seeded.api() as api:
            assert api.get("/api/v1/interaction-types/view").json()["default_weight"] == 1.0
        good = http.post(url, data={"weight": "1", "csrf_token": token.group(1)})
        assert good.status_code == 303
        # The sign-in form itself carries a token bound to a cookie of its own.
        assert http.post("/dashboard/login", data={"api_key": API_KEY}).status_code == 403


def test_a_tenant_key_sees_its_own_tenant_only(page: Page, seeded: Seeded) -> None:
    sign_in(page, seeded.tenant_key)
    expect(page).to_have_url(re.compile(r"/dashboard/t/acme/$"))
    expect(page.get_by_text("Tenant key")).to_be_visible()
    # No way to another tenant or the administration pages in the UI ...
    expect(page.get_by_label("Tenant", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    page.goto("/dashboard/t/acme/entities?id=secret")
    expect(page.get_by_role("heading", name="0 entities")).to_be_visible()
    # ... nor by editing URLs.
    for path in (
        "/dashboard/t/globex/",
        "/dashboard/t/globex/entities?id=secret",
        "/dashboard/t/globex/entities/product/secret-product",
        "/dashboard/t/globex/users/globex-user",
        "/dashboard/t/globex/model",
        "/dashboard/admin/tenants",
        "/dashboard/admin/tenants/globex",
        "/dashboard/admin/keys",
        "/dashboard/switch?tenant=globex",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Globex only")
    # Its own tenant's entity of the same id space is there; the other's is not.
    response = page.goto("/dashboard/t/acme/entities/product/secret-product")
    assert response is not None and response.status == 404
    # Forms aimed at another tenant or the administration are refused too.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    session = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=seeded.url, cookies=session) as http:
        for path, data in (
            ("/dashboard/t/globex/interaction-types/view", {"weight": "9"}),
            ("/dashboard/t/globex/model/rebuild", {}),
            ("/dashboard/admin/keys", {"name": "mine"}),
            ("/dashboard/admin/tenants", {"tenant_id": "globex", "name": "taken"}),
        ):
            answer = http.post(path, data={**data, "csrf_token": token or ""})
            assert answer.status_code == 403, (path, answer.text)
    with seeded.api("globex") as api:
        assert api.get("/api/v1/interaction-types/view").json()["default_weight"] == 1.0


def test_an_administrator_switches_between_tenants(page: Page) -> None:
    sign_in(page)
    page.get_by_label("Tenant", exact=True).select_option("globex")
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(r"/dashboard/t/globex/$"))
    page.goto("/dashboard/t/globex/entities")
    expect(page.get_by_role("link", name="secret-product")).to_be_visible()
