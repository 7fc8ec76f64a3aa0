"""Accessibility: axe-core finds no serious or critical violation on any page, and every
page works with the keyboard alone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import AXE, Seeded, sign_in
from tests.support import API_KEY

PAGES = (
    "/dashboard/login",
    "/dashboard/t/acme/",
    "/dashboard/t/acme/entities?value=video",
    "/dashboard/t/acme/entities/product/p3",
    "/dashboard/t/acme/users",
    "/dashboard/t/acme/users/u2",
    "/dashboard/t/acme/trending",
    "/dashboard/t/acme/model",
    "/dashboard/t/acme/evaluate",
    "/dashboard/t/acme/experiments",
    "/dashboard/t/acme/interaction-types",
    "/dashboard/t/acme/webhooks",
    "/dashboard/admin/tenants",
    "/dashboard/admin/tenants/acme",
    "/dashboard/admin/keys",
)

INTERACTIVE = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary, "
    "[tabindex]:not([tabindex='-1'])"
)


def _open(page: Page, path: str) -> None:
    if path != "/dashboard/login":
        sign_in(page)
    page.goto(path)
    page.wait_for_load_state("networkidle")


def _serious_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("path", PAGES)
def test_no_serious_accessibility_violations(page: Page, seeded: Seeded, path: str) -> None:
    _open(page, path)
    assert _serious_violations(page) == []


@pytest.mark.parametrize("path", PAGES)
def test_every_control_is_reached_with_the_tab_key(page: Page, seeded: Seeded, path: str) -> None:
    """Tabbing from the top of the page reaches every visible link, button and field, in
    order, each with a visible focus indicator, and no control traps the focus."""
    _open(page, path)
    expected = page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector))
            .filter(e => e.offsetParent !== null && !e.disabled)
            .map((e, i) => { e.dataset.kbd = String(i); return String(i); })""",
        INTERACTIVE,
    )
    reached: list[str] = []
    # Start from the top of the page, whatever has the focus (an autofocus field).
    page.evaluate(
        """() => { const start = document.createElement('div');
                   start.tabIndex = -1; document.body.prepend(start); start.focus(); }"""
    )
    for _ in range(len(expected) + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return null;
                const style = getComputedStyle(e);
                return {id: e.dataset.kbd || null,
                        outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px'};
            }"""
        )
        if focused is None or focused["id"] is None:
            if reached:
                break
            continue
        assert focused["outline"], f"no visible focus on control {focused['id']} of {path}"
        if focused["id"] in reached:
            break
        reached.append(focused["id"])
    assert sorted(reached, key=int) == expected, path
    assert reached == sorted(reached, key=int), f"focus order differs from the page's on {path}"


def test_keyboard_alone_signs_in_searches_and_runs_a_what_if(page: Page, seeded: Seeded) -> None:
    page.goto("/dashboard/")
    page.keyboard.type(API_KEY)  # the key field has the focus
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview of tenant default")).to_be_visible()
    page.goto("/dashboard/t/acme/")

    def tab_to(name: str) -> None:
        for _ in range(200):
            page.keyboard.press("Tab")
            label = page.evaluate(
                "() => (document.activeElement.innerText || document.activeElement.id || '')"
            )
            if label.strip() == name:
                return
        raise AssertionError(f"{name} was not reached with Tab")

    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    tab_to("Users")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    tab_to("q-user")
    page.keyboard.type("u2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Users whose id starts with “u2”")).to_be_visible()
    tab_to("u2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="User u2")).to_be_visible()
    tab_to("wi-entity")
    page.keyboard.type("a0")  # an article, the type the form starts with
    tab_to("Preview")
    page.keyboard.press("Enter")
    result = page.locator("#what-if-result")
    expect(result).to_contain_text("Preview only")
    expect(result).to_be_focused()
