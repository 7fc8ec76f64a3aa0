"""Every page of the dashboard, in Chromium, showing the seeded service's real data."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Seeded, count, fetch, screenshot, sign_in

ACME = "/dashboard/t/acme"


def test_overview_shows_counts_activity_service_model_and_webhooks(
    page: Page, seeded: Seeded, tmp_path: Path
) -> None:
    sign_in(page)
    page.goto(ACME + "/")
    expect(page.get_by_role("heading", name="Overview of tenant acme")).to_be_visible()
    expect(page.get_by_test_id("entity-count")).to_have_text("25")
    expect(page.get_by_test_id("user-count")).to_have_text("12")
    interactions = count(seeded.database_url, "interactions", "acme")
    expect(page.get_by_test_id("interaction-count")).to_have_text(f"{interactions:,}")
    live = fetch(
        seeded.database_url,
        "SELECT version FROM models WHERE state = 'live' AND tenant_id = 'acme'",
    )
    expect(page.get_by_test_id("model-version")).to_contain_text(str(live[0]["version"]))
    # The chart was drawn by Chart.js from the page's data.
    canvas = page.locator("canvas[data-chart='activity-data']")
    expect(canvas).to_have_attribute("data-drawn", "yes")
    assert "in all" in (canvas.get_attribute("aria-label") or "")
    screenshot(page, "overview", tmp_path)
    page.get_by_text("Interactions per hour, as a table").click()
    hours = page.locator("details table tbody tr")
    assert hours.count() == 24
    assert sum(int(c.replace(",", "")) for c in hours.locator("td.number").all_inner_texts()) > 0
    # The service's own metrics: the seeding went through the API.
    rate = page.get_by_test_id("rps").inner_text()
    assert float(rate.split()[0]) > 0, rate
    expect(page.get_by_test_id("p95")).to_contain_text("ms")
    expect(page.get_by_test_id("webhook-backlog")).to_have_text(re.compile(r"^\d+$"))


def test_entities_are_searched_by_id_type_and_attribute_value(page: Page) -> None:
    sign_in(page)
    page.goto(ACME + "/entities")
    page.get_by_label("Id starts with").fill("p1")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("main table tbody tr")
    # p1, p10..p19
    expect(rows).to_have_count(11)
    page.get_by_label("Id starts with").fill("")
    page.get_by_label("Type").select_option("article")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(4)
    page.get_by_label("Type").select_option("")
    page.get_by_label("Value").fill("sale")  # a list attribute (tags) holds it
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(5)
    page.get_by_label("Attribute").fill("category")
    page.get_by_label("Value").fill("video")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(8)  # 7 products and 1 article
    expect(page.get_by_role("heading", name="8 entities")).to_be_visible()


def test_an_entity_shows_attributes_interactions_and_similar_entities_per_algorithm(
    page: Page, tmp_path: Path
) -> None:
    sign_in(page)
    page.goto(ACME + "/entities?id=p3")
    page.get_by_role("link", name="p3", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^p3"))).to_be_visible()
    attributes = page.locator("main table").first
    expect(attributes).to_contain_text("Product 3")
    expect(attributes).to_contain_text("category")
    for algorithm in ("hybrid", "collaborative", "content based"):
        panel = page.get_by_role("region", name=algorithm, exact=True)
        expect(panel.locator("ol.recommendations li").first).to_be_visible()
    # p3 is in category "audio" (3 % 3 == 0): its collaborative neighbours are too.
    collaborative = page.get_by_role("region", name="collaborative", exact=True)
    expect(collaborative).to_contain_text("because of")
    recent = page.get_by_role("heading", name="Recent interactions")
    expect(recent).to_be_visible()
    expect(page.locator("main table").last.locator("tbody tr").first).to_contain_text("u")
    screenshot(page, "entity", tmp_path)


def test_a_user_shows_history_and_recommendations_with_reasons(page: Page) -> None:
    sign_in(page)
    page.goto(ACME + "/users")
    page.get_by_label("User id starts with").fill("u1")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("main ul li")).to_have_count(3)  # u1, u10, u11
    page.get_by_role("link", name="u1", exact=True).click()
    expect(page.get_by_role("heading", name="User u1")).to_be_visible()
    timeline = page.locator("ol.timeline li:not(.day)")
    assert timeline.count() == 8  # 5 products, 2 of them again, 1 article
    expect(timeline.first).to_contain_text("p1")  # newest first
    expect(page.locator("ol.timeline")).to_contain_text("a1")
    for algorithm in ("hybrid", "collaborative", "content based"):
        panel = page.get_by_role("region", name=algorithm, exact=True)
        expect(panel.locator("ol.recommendations li").first).to_be_visible()
    hybrid = page.get_by_role("region", name="hybrid", exact=True)
    expect(hybrid.locator(".badge").first).to_be_visible()
    expect(hybrid).to_contain_text("because of")


def test_what_if_previews_without_storing_then_records(
    page: Page, seeded: Seeded, tmp_path: Path
) -> None:
    sign_in(page)
    before = count(seeded.database_url, "interactions", "acme")
    page.goto(ACME + "/users/u0")
    page.get_by_label("Entity type").select_option("product")
    page.get_by_label("Entity id").fill("p1")  # a video product; u0 likes audio
    page.get_by_label("Interaction", exact=True).select_option("purchase")
    page.get_by_label("Algorithm").select_option("collaborative")
    page.get_by_role("button", name="Preview").click()
    result = page.locator("#what-if-result")
    expect(result).to_contain_text("Preview only: nothing was stored.")
    after = result.get_by_test_id("what-if-after")
    expect(after.locator("li").first).to_be_visible()
    # Items that follow p1 in other users' histories enter the list.
    expect(after).to_contain_text("new")
    assert count(seeded.database_url, "interactions", "acme") == before
    screenshot(page, "what-if", tmp_path)

    page.get_by_role("button", name="Record").click()
    expect(result).to_contain_text("Recorded.")
    assert count(seeded.database_url, "interactions", "acme") == before + 1
    page.reload()
    expect(page.locator("ol.timeline li:not(.day)").first).to_contain_text("p1")

    page.get_by_label("Entity id").fill("no-such-entity")
    page.get_by_role("button", name="Preview").click()
    expect(result.get_by_role("alert")).to_contain_text("does not exist")


def test_trending_by_window_and_type(page: Page) -> None:
    sign_in(page)
    page.goto(ACME + "/trending")
    rows = page.locator("main table tbody tr")
    expect(rows.first).to_be_visible()
    all_types = rows.count()
    page.get_by_label("Entity type").select_option("article")
    page.get_by_label("Window", exact=True).select_option("30")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"window_days=30&entity_type=article"))
    expect(
        page.get_by_role("heading", name=re.compile("trending over 30 days of type article"))
    ).to_be_visible()
    assert 0 < rows.count() <= 3 < all_types
    for row in rows.all():
        expect(row).to_contain_text("article")


def test_model_page_rebuilds_with_progress(page: Page, seeded: Seeded, tmp_path: Path) -> None:
    sign_in(page)
    page.goto(ACME + "/model")
    first = int(page.get_by_test_id("live-version").inner_text().split()[0])
    expect(page.locator("canvas[data-chart='versions-data']")).to_have_attribute(
        "data-drawn", "yes"
    )
    page.get_by_role("button", name="Rebuild now").click()
    expect(page.get_by_role("heading", name="Rebuild")).to_be_visible()
    expect(page.locator("#rebuild-progress progress")).to_be_visible()
    expect(page.get_by_test_id("rebuild-state")).to_contain_text("Done", timeout=60_000)
    newest = int(page.get_by_test_id("live-version").inner_text().split()[0])
    assert newest > first
    table = page.locator("main table tbody")
    expect(table.locator("tr").first).to_contain_text(str(newest))
    expect(table).to_contain_text("full build")
    screenshot(page, "model", tmp_path)


def test_model_versions_show_published_validation_metrics(page: Page, seeded: Seeded) -> None:
    # What automatic tuning publishes in a version's configuration is shown when present.
    fetch(
        seeded.database_url,
        'UPDATE models SET config = config || \'{"validation": {"ndcg@10": 0.31}}\' '
        "WHERE tenant_id = 'acme' AND state = 'live' RETURNING version",
    )
    sign_in(page)
    page.goto(ACME + "/model")
    expect(page.locator("main table thead")).to_contain_text("ndcg@10")
    expect(page.locator("main table tbody tr").first).to_contain_text("0.3100")
    expect(page.locator("canvas[data-chart='validation-data']")).to_have_attribute(
        "data-drawn", "yes"
    )


def test_evaluate_runs_on_the_tenants_data_and_shows_metrics(page: Page, tmp_path: Path) -> None:
    sign_in(page)
    page.goto(ACME + "/evaluate")
    page.get_by_role("button", name="Run an evaluation").click()
    results = page.get_by_test_id("evaluation-results")
    expect(results).to_be_visible(timeout=120_000)
    for algorithm in ("collaborative", "content based", "hybrid", "most popular"):
        expect(results.get_by_role("rowheader", name=algorithm, exact=True)).to_be_visible()
    expect(results.locator("thead")).to_contain_text("ndcg@10")
    screenshot(page, "evaluate", tmp_path)


def test_experiments_show_results_per_variant_and_online_evaluation(
    page: Page, tmp_path: Path
) -> None:
    sign_in(page)
    page.goto(ACME + "/")
    page.get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="content-based for half")).to_be_visible()
    results = page.get_by_test_id("experiment-results")
    expect(results.get_by_role("rowheader", name="control", exact=True)).to_be_visible()
    expect(results.get_by_role("rowheader", name="content", exact=True)).to_be_visible()
    expect(results).to_contain_text("baseline")
    expect(page.get_by_role("status").first).to_contain_text("fixed-horizon")
    # impressions reach the page once written (every second)
    for _ in range(20):
        if page.get_by_test_id("online-evaluation").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    online = page.get_by_test_id("online-evaluation")
    expect(online).to_contain_text("content_based")
    expect(online).to_contain_text("hybrid")
    expect(page.locator("canvas[data-chart='online-data']")).to_have_attribute("data-drawn", "yes")
    page.get_by_label("Period", exact=True).select_option("30")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"days=30"))
    expect(page.get_by_test_id("online-evaluation")).to_contain_text("content_based")
    screenshot(page, "experiments", tmp_path)


def test_interaction_types_are_edited_and_added(page: Page, seeded: Seeded) -> None:
    sign_in(page)
    page.goto(ACME + "/interaction-types")
    page.get_by_label("Weight of purchase").fill("7.5")
    page.get_by_role("button", name="Save the weight of purchase").click()
    expect(page.get_by_label("Weight of purchase")).to_have_value("7.5")
    page.get_by_label("Name").fill("share")
    page.get_by_label("Weight", exact=True).fill("4")
    page.get_by_label("Description").fill("shared with a friend")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_label("Weight of share")).to_have_value("4.0")
    expect(page.locator("main table")).to_contain_text("shared with a friend")
    with seeded.api() as api:
        assert api.get("/api/v1/interaction-types/purchase").json()["default_weight"] == 7.5
        assert api.get("/api/v1/interaction-types/share").json()["default_weight"] == 4.0
        api.put("/api/v1/interaction-types/purchase", json={"weight": 5.0})


def test_webhooks_show_deliveries_and_redeliver(page: Page, seeded: Seeded) -> None:
    sign_in(page)
    page.goto(ACME + "/webhooks")
    page.get_by_role("link", name=seeded.receiver.url).click()
    expect(page.get_by_role("heading", name=f"Webhook to {seeded.receiver.url}")).to_be_visible()
    rows = page.locator("main table tbody tr")
    expect(rows.first).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("failed")
    page.get_by_role("button", name="Show").click()
    failed = rows.first
    expect(failed).to_contain_text("failed")
    expect(failed).to_contain_text("HTTP 500")
    delivery = failed.locator("td").first.inner_text()
    failed.get_by_role("button", name=re.compile("Redeliver")).click()
    expect(page.get_by_role("status")).to_contain_text(f"Delivery {delivery} will be sent again")
    with seeded.api() as api:

        def delivered() -> bool:
            deliveries = api.get(f"/api/v1/webhooks/{seeded.webhook_id}/deliveries").json()
            return any(d["id"] == int(delivery) and d["status"] == "delivered" for d in deliveries)

        page.wait_for_timeout(200)
        for _ in range(100):
            if delivered():
                break
            page.wait_for_timeout(100)
        assert delivered()


def test_administrators_register_and_configure_tenants(page: Page, seeded: Seeded) -> None:
    sign_in(page)
    page.goto("/dashboard/admin/tenants")
    expect(page.locator("main table")).to_contain_text("Acme Inc.")
    page.get_by_label("Tenant id").fill("initech")
    page.get_by_label("Name").fill("Initech")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Tenant initech")).to_be_visible()
    page.get_by_label("max recommendation count").fill("40")
    page.get_by_label("collaborative weight").fill("0.9")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("max recommendation count")).to_have_value("40")
    with seeded.api() as api:
        tenant = api.get("/api/v1/admin/tenants/initech").json()
        assert tenant["name"] == "Initech"
        assert tenant["config"] == {"max_recommendation_count": 40, "collaborative_weight": 0.9}


def test_administrators_create_and_revoke_keys(
    page: Page, browser_context_args: None = None
) -> None:
    sign_in(page)
    page.goto("/dashboard/admin/keys")
    page.get_by_label("Name").fill("reporting")
    page.get_by_label("Tenant (empty: an administrator key)").fill("acme")
    page.get_by_role("button", name="Create").click()
    key = page.get_by_test_id("created-key").inner_text().strip()
    assert key.startswith("rek_")
    row = page.locator("main table tbody tr", has_text="reporting")
    expect(row).to_contain_text("acme")

    # The new key signs in, as a tenant key; revoking it ends that session.
    other = page.context.browser.new_context(base_url=page.url.split("/dashboard")[0])
    try:
        tab = other.new_page()
        sign_in(tab, key)
        expect(tab.get_by_text("Tenant key")).to_be_visible()
        row.get_by_role("button", name=re.compile("Revoke")).click()
        expect(page.locator("main table tbody tr", has_text="reporting")).to_have_count(0)
        tab.reload()
        expect(tab.get_by_label("API key")).to_be_visible()
        tab.get_by_label("API key").fill(key)
        tab.get_by_role("button", name="Sign in").click()
        expect(tab.get_by_role("alert")).to_contain_text("not valid")
    finally:
        other.close()
