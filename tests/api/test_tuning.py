"""Tuning at every full rebuild, through HTTP: what the model status publishes, turning
tuning off, pinned settings, and request weights that win over the tuned blend."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_recommendations import rebuild, record
from tests.support import assert_error, make_entity

GENRES = ["drama", "comedy", "horror"]


@pytest.fixture
def catalogue(api: httpx.Client) -> httpx.Client:
    for n in range(90):
        make_entity(api, f"m{n}", "movie", genre=GENRES[n % 3])
    # Each user takes 8 of their genre's 30 movies, in steps of 3 or 6.
    for user in range(40):
        for k in range(8):
            record(api, f"u{user}", f"m{(user + 3 * k * (1 + user % 2)) % 90}")
    return api


def configure(api: httpx.Client, config: dict) -> None:
    response = api.put("/api/v1/admin/tenants/default", json={"config": config})
    assert response.status_code in (200, 201), response.text


def test_a_rebuild_publishes_what_its_tuning_chose(catalogue: httpx.Client) -> None:
    status = rebuild(catalogue)
    assert status["algorithm"] == "ensemble"
    tuning = status["tuning"]
    validation = tuning["validation"]
    assert set(validation) == {"default", "sequential", "long_term", "content", "chosen"}
    # never below the defaults, nor below the best single source
    best_single = max(validation[s]["ndcg@10"] for s in ("sequential", "long_term", "content"))
    assert validation["chosen"]["ndcg@10"] >= max(validation["default"]["ndcg@10"], best_single)
    assert tuning["trials"] > 1 and tuning["users"] > 0 and tuning["seconds"] >= 0
    settings = status["settings"]
    assert settings["sequential"] == tuning["sequential"]
    assert settings["weights"] == tuning["weights"]
    assert sum(settings["weights"][s] for s in ("sequential", "long_term", "content")) == (
        pytest.approx(1.0)
    )


def test_tuning_can_be_turned_off_and_settings_pinned(catalogue: httpx.Client) -> None:
    configure(catalogue, {"auto_tuning": False, "model_settings": {"window": 7, "half_life": 3}})
    effective = catalogue.get("/api/v1/tenant").json()["effective_config"]
    assert effective["auto_tuning"] is False
    assert effective["model_settings"] == {"window": 7, "half_life": 3}
    assert effective["weights_pinned"] is False
    status = rebuild(catalogue)
    assert status["tuning"] is None
    assert status["settings"]["sequential"]["window"] == 7
    assert status["settings"]["sequential"]["half_life"] == 3
    assert status["settings"]["weights"]["sequential"] == 1.0  # the defaults, untuned

    configure(catalogue, {"model_settings": {"window": 7}})
    status = rebuild(catalogue)
    assert status["tuning"] is not None  # tuned again, the pinned window kept
    assert status["settings"]["sequential"]["window"] == 7
    assert status["tuning"]["sequential"]["window"] == 7


@pytest.mark.parametrize(
    "config",
    [
        {"model_settings": {"window": 0}},
        {"model_settings": {"half_life": -1}},
        {"model_settings": {"colour": 3}},
        {"auto_tuning": "maybe"},
    ],
)
def test_bad_model_settings_are_refused_and_change_nothing(api: httpx.Client, config: dict) -> None:
    response = api.put("/api/v1/admin/tenants/default", json={"config": config})
    assert_error(response, 422, "validation_error")
    assert api.get("/api/v1/admin/tenants/default").status_code == 404


def test_request_weights_win_over_the_tuned_blend(catalogue: httpx.Client) -> None:
    rebuild(catalogue)

    def listed(**params: object) -> list[str]:
        body = catalogue.get(
            "/api/v1/recommendations/user/u1", params={"count": 8, **params}
        ).json()
        return [r["entity_id"] for r in body["recommendations"]]

    collaborative = listed(algorithm="collaborative")
    content = listed(algorithm="content_based")
    assert listed(collaborative_weight=1, content_based_weight=0) == collaborative
    assert listed(collaborative_weight=0, content_based_weight=1) == content
    assert collaborative != content


def test_pinned_tenant_weights_replace_the_tuned_blend(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    configure(catalogue, {"collaborative_weight": 0, "content_based_weight": 1})
    effective = catalogue.get("/api/v1/tenant").json()["effective_config"]
    assert effective["weights_pinned"] is True
    pinned = catalogue.get("/api/v1/recommendations/user/u1", params={"count": 8}).json()
    content = catalogue.get(
        "/api/v1/recommendations/user/u1", params={"count": 8, "algorithm": "content_based"}
    ).json()
    assert [r["entity_id"] for r in pinned["recommendations"]] == [
        r["entity_id"] for r in content["recommendations"]
    ]
