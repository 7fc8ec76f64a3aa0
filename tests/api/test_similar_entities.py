"""GET /api/v1/recommendations/entity/{entity_id}: similar entities."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tests.api.test_recommendations import HISTORIES, rebuild, record
from tests.support import assert_error, fetch, make_entity

URL = "/api/v1/recommendations/entity"


def ids(body: dict) -> list[str]:
    return [r["entity_id"] for r in body["recommendations"]]


@pytest.fixture
def catalogue(api: httpx.Client) -> httpx.Client:
    for n in range(10):
        genre = "drama" if n % 2 else "comedy"
        make_entity(api, f"m{n}", "movie", genre=genre, tags=["feature", genre])
    make_entity(api, "odd", "movie", genre="documentary", tags=["nature"], runtime=50)
    make_entity(api, "b1", "book", genre="drama", tags=["feature", "drama"])
    for user, items in HISTORIES.items():
        for item in items:
            record(api, user, item)
    rebuild(api)
    return api


def test_content_neighbours_respect_the_similarity_threshold(catalogue: httpx.Client) -> None:
    body = catalogue.get(f"{URL}/m1", params={"algorithm": "content_based", "count": 20}).json()
    assert body["entity_type"] == "movie" and body["algorithm"] == "content_based"
    found = ids(body)
    assert "m1" not in found and "odd" not in found  # itself, and nothing alike
    assert set(found[:5]) == {"m3", "m5", "m7", "m9", "b1"}  # the other dramas
    assert all(r["score"] >= 0.5 for r in body["recommendations"])
    assert all(r["reason"] == "content" for r in body["recommendations"])
    assert body["recommendations"][0]["because"] == [{"entity_type": "movie", "entity_id": "m1"}]
    books = catalogue.get(f"{URL}/m1", params={"algorithm": "content_based", "result_type": "book"})
    assert ids(books.json()) == ["b1"]


def test_collaborative_neighbours_are_co_interacted_entities(catalogue: httpx.Client) -> None:
    body = catalogue.get(f"{URL}/m3", params={"algorithm": "collaborative", "count": 3}).json()
    # Next to m3 in every user's sequence; the lists lean forward (what users take
    # after an entity counts more than what they took before it): m4 first.
    assert ids(body)[0] == "m4"
    assert {"m2", "m4"} <= set(ids(body))
    assert {r["reason"] for r in body["recommendations"]} == {"collaborative"}


def test_hybrid_exclude_and_filters(catalogue: httpx.Client) -> None:
    body = catalogue.get(f"{URL}/m3", params={"count": 20}).json()
    assert body["algorithm"] == "hybrid" and {"m2", "m4"} <= set(ids(body))
    excluded = catalogue.get(f"{URL}/m3", params={"count": 20, "exclude": "m2,m4"}).json()
    assert not {"m2", "m4"} & set(ids(excluded))
    dramas = catalogue.get(f"{URL}/m3", params={"count": 20, "filter.genre": "drama"}).json()
    assert ids(dramas) and all(
        r["attributes"]["genre"] == "drama" for r in dramas["recommendations"]
    )


def test_filters_keep_the_scores_of_what_they_keep(catalogue: httpx.Client) -> None:
    """Each source is scaled by the best candidate the entity's lists offer, whatever the
    request's filters keep: a filtered list is the unfiltered one, thinned."""
    every = catalogue.get(f"{URL}/m3", params={"count": 20}).json()["recommendations"]
    dramas = catalogue.get(f"{URL}/m3", params={"count": 20, "filter.genre": "drama"}).json()
    assert dramas["recommendations"] == [r for r in every if r["attributes"]["genre"] == "drama"]


def test_deleted_neighbours_make_way_for_the_next(catalogue: httpx.Client) -> None:
    before = ids(catalogue.get(f"{URL}/m3", params={"count": 3}).json())
    assert catalogue.delete(f"/api/v1/entities/{before[0]}").status_code == 204
    after = ids(catalogue.get(f"{URL}/m3", params={"count": 3}).json())
    longer = ids(catalogue.get(f"{URL}/m3", params={"count": 4}).json())
    assert before[0] not in after and after[:2] == before[1:] and after == longer[:3]


def test_unknown_and_ambiguous_entities(catalogue: httpx.Client) -> None:
    assert_error(catalogue.get(f"{URL}/missing"), 404, "not_found")
    make_entity(catalogue, "m1", "book", genre="drama")
    assert_error(catalogue.get(f"{URL}/m1"), 409, "conflict")
    assert catalogue.get(f"{URL}/m1", params={"entity_type": "movie"}).status_code == 200


def test_content_scores_are_the_entities_cosine_similarity(
    catalogue: httpx.Client, clean_db: str
) -> None:
    vectors = {
        row["entity_id"]: np.array(json.loads(row["v"]))
        for row in fetch(clean_db, "SELECT entity_id, feature_vector::text AS v FROM entities")
    }
    body = catalogue.get(f"{URL}/m1", params={"algorithm": "content_based", "count": 20}).json()
    assert body["recommendations"]
    source = vectors["m1"] / np.linalg.norm(vectors["m1"])
    for found in body["recommendations"]:
        other = vectors[found["entity_id"]] / np.linalg.norm(vectors[found["entity_id"]])
        assert found["score"] == pytest.approx(float(source @ other), abs=1e-5)


def test_a_model_without_stored_similarities_has_them_computed(
    catalogue: httpx.Client, clean_db: str
) -> None:
    """A model built before content similarities were stored beside the neighbours: the
    database computes them from the vectors, and the list is the same."""
    params = {"algorithm": "content_based", "count": 20}
    fetch(clean_db, "UPDATE model_items SET content_similarities = NULL")
    computed = catalogue.get(f"{URL}/m1", params=params).json()["recommendations"]
    found = [r["entity_id"] for r in computed]
    assert set(found[:5]) == {"m3", "m5", "m7", "m9", "b1"}  # the other dramas
    rebuild(catalogue)  # a new version, with them stored
    stored = catalogue.get(f"{URL}/m1", params=params).json()["recommendations"]
    assert found == [r["entity_id"] for r in stored]
    for one, other in zip(computed, stored, strict=True):
        assert one["score"] == pytest.approx(other["score"], abs=1e-5)
