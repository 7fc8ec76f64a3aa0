"""GET /api/v1/recommendations/user/{id} and the model lifecycle, through HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from tests.support import answer, assert_error, fetch, make_entity

URL = "/api/v1/recommendations/user"
GENRES = ["drama", "comedy"]
# Users walk the catalogue in order: after m<k> comes m<k+1>.
HISTORIES = {f"u{n}": [f"m{(n + k) % 10}" for k in range(4)] for n in range(10)}


def record(api: httpx.Client, user: str, entity: str, kind: str = "view") -> None:
    response = api.post(
        "/api/v1/interactions",
        json={
            "user_id": user,
            "entity_id": entity,
            "entity_type": "movie",
            "interaction_type": kind,
        },
    )
    assert response.status_code == 201, response.text


def rebuild(api: httpx.Client) -> dict:
    before = api.get("/api/v1/model/status").json()["version"]
    assert api.post("/api/v1/model/rebuild").status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = api.get("/api/v1/model/status").json()
        if status["version"] is not None and status["version"] != before:
            return status
        time.sleep(0.1)
    raise AssertionError("the model was not rebuilt in time")


@pytest.fixture
def catalogue(api: httpx.Client) -> httpx.Client:
    for n in range(10):
        make_entity(api, f"m{n}", "movie", genre=GENRES[n % 2], decade="1990s")
    make_entity(api, "b0", "book", genre="drama")
    for user, items in HISTORIES.items():
        for item in items:
            record(api, user, item)
    return api


def ids(body: dict) -> list[str]:
    return [r["entity_id"] for r in body["recommendations"]]


def test_empty_catalogue_and_unknown_user_are_200(api: httpx.Client) -> None:
    before = datetime.now(UTC)
    body = answer(api.get(f"{URL}/nobody"))
    generated_at = datetime.fromisoformat(body.pop("generated_at"))
    assert before <= generated_at <= datetime.now(UTC)
    assert body == {
        "user_id": "nobody",
        "algorithm": "hybrid",
        "count": 0,
        "recommendations": [],
        "cold_start": True,
        "model_version": None,
    }


def test_model_status_and_rebuild(catalogue: httpx.Client) -> None:
    assert catalogue.get("/api/v1/model/status").json()["state"] == "none"
    status = rebuild(catalogue)
    assert status["state"] == "live"
    # every entity with attributes is in the model: b0 too, though nobody has touched it
    assert (status["users"], status["entities"], status["interactions"]) == (10, 11, 40)
    assert status["interactions_since_training"] == 0
    record(catalogue, "u0", "m9")
    assert catalogue.get("/api/v1/model/status").json()["interactions_since_training"] == 1
    assert rebuild(catalogue)["version"] > status["version"]


def test_a_requested_rebuild_waits_for_a_training_in_progress(
    catalogue: httpx.Client, clean_db: str
) -> None:
    """A rebuild asked for while another process trains the tenant (its lease held)
    is not dropped: it runs once the lease is free."""

    loop = asyncio.new_event_loop()
    other = loop.run_until_complete(asyncpg.connect(clean_db))
    try:
        loop.run_until_complete(
            other.fetchval("SELECT pg_advisory_lock(hashtext('model:default'))")
        )
        assert catalogue.post("/api/v1/model/rebuild").status_code == 202
        time.sleep(1.5)
        assert catalogue.get("/api/v1/model/status").json()["state"] == "none"
        loop.run_until_complete(
            other.fetchval("SELECT pg_advisory_unlock(hashtext('model:default'))")
        )
        deadline = time.monotonic() + 30
        while catalogue.get("/api/v1/model/status").json()["state"] != "live":
            assert time.monotonic() < deadline, "the requested rebuild never ran"
            time.sleep(0.1)
    finally:
        loop.run_until_complete(other.close())
        loop.close()


def test_collaborative_recommends_what_follows_with_reasons(catalogue: httpx.Client) -> None:
    version = rebuild(catalogue)["version"]
    body = catalogue.get(f"{URL}/u0", params={"algorithm": "collaborative", "count": 3}).json()
    assert body["model_version"] == version
    assert body["algorithm"] == "collaborative"
    top = body["recommendations"][0]
    assert top["entity_id"] == "m4"  # u0 saw m0..m3; m4 follows m3
    assert top["reason"] == "collaborative"
    assert {"entity_type": "movie", "entity_id": "m3"} in top["because"]
    assert len(top["because"]) <= 3
    assert top["attributes"] == {"genre": "drama", "decade": "1990s"}
    scores = [r["score"] for r in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_seen_and_excluded_entities_are_not_returned(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    for algorithm in ("hybrid", "collaborative", "content_based"):
        body = catalogue.get(f"{URL}/u0", params={"algorithm": algorithm, "count": 20}).json()
        assert not set(ids(body)) & set(HISTORIES["u0"]), algorithm
    excluded = catalogue.get(f"{URL}/u0", params={"exclude": "m4,m5", "count": 20}).json()
    assert not {"m4", "m5"} & set(ids(excluded))
    with_seen = catalogue.get(f"{URL}/u0", params={"exclude_seen": "false", "count": 20}).json()
    assert set(HISTORIES["u0"]) & set(ids(with_seen))


def test_type_and_attribute_filters(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    comedies = catalogue.get(f"{URL}/u0", params={"filter.genre": "comedy", "count": 20}).json()
    assert ids(comedies) and all(
        r["attributes"]["genre"] == "comedy" for r in comedies["recommendations"]
    )
    books = catalogue.get(f"{URL}/u0", params={"entity_type": "book", "count": 20}).json()
    assert ids(books) == ["b0"]
    both = catalogue.get(
        f"{URL}/u0", params=[("filter.genre", "comedy"), ("filter.decade", "1980s")]
    ).json()
    assert ids(both) == []


def test_an_attribute_filter_never_matches_an_entity_without_the_attribute(
    catalogue: httpx.Client,
) -> None:
    make_entity(catalogue, "plain", "movie", decade="1990s")  # no genre
    for user in ("u1", "u2", "u3", "u4"):
        record(catalogue, user, "m1")
        record(catalogue, user, "plain")  # popular, and next to m1 in histories
    rebuild(catalogue)
    for algorithm in ("hybrid", "collaborative", "content_based"):
        params = {"algorithm": algorithm, "filter.genre": "comedy", "count": 20}
        listed = catalogue.get(f"{URL}/u0", params=params).json()
        assert "plain" not in ids(listed), algorithm
        similar = catalogue.get(f"{SIMILAR}/m1", params=params).json()
        assert "plain" not in ids(similar), algorithm
    unfiltered = catalogue.get(f"{SIMILAR}/m1", params={"algorithm": "collaborative"}).json()
    assert "plain" in ids(unfiltered)  # it is there to be filtered out


def test_weights_one_zero_reproduce_the_pure_algorithms(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    params = {"count": 8}
    collaborative = catalogue.get(
        f"{URL}/u3", params={**params, "algorithm": "collaborative"}
    ).json()
    content = catalogue.get(f"{URL}/u3", params={**params, "algorithm": "content_based"}).json()
    as_collaborative = catalogue.get(
        f"{URL}/u3", params={**params, "collaborative_weight": 1, "content_based_weight": 0}
    ).json()
    as_content = catalogue.get(
        f"{URL}/u3", params={**params, "collaborative_weight": 0, "content_based_weight": 1}
    ).json()
    assert ids(as_collaborative)[: len(ids(collaborative))] == ids(collaborative)
    assert ids(as_content) == ids(content)
    alone = catalogue.get(f"{URL}/u3", params={**params, "collaborative_weight": 1})
    assert alone.status_code == 200
    assert ids(alone.json())[: len(ids(collaborative))] == ids(collaborative)


def test_a_new_interaction_changes_the_very_next_recommendations(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    record(catalogue, "fresh", "m0")
    first = catalogue.get(f"{URL}/fresh", params={"algorithm": "collaborative", "count": 1}).json()
    assert ids(first) == ["m1"]
    record(catalogue, "fresh", "m6")
    second = catalogue.get(f"{URL}/fresh", params={"algorithm": "collaborative", "count": 1}).json()
    assert ids(second) == ["m7"]  # no rebuild in between


def test_cold_start_fills_from_trending_then_popular(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    body = catalogue.get(f"{URL}/stranger", params={"count": 5}).json()
    assert body["cold_start"] is True
    assert len(body["recommendations"]) == 5
    assert {r["reason"] for r in body["recommendations"]} == {"trending"}
    # b0 (a book) has no interactions: it is neither trending nor popular
    everything = catalogue.get(f"{URL}/stranger", params={"count": 20}).json()
    assert "b0" not in ids(everything) and len(ids(everything)) == 10
    few = catalogue.get(f"{URL}/u0", params={"algorithm": "collaborative", "count": 6}).json()
    reasons = [r["reason"] for r in few["recommendations"]]
    assert reasons[0] == "collaborative" and len(reasons) == 6
    order = {"collaborative": 0, "trending": 1, "popular": 2}
    assert reasons == sorted(reasons, key=order.__getitem__)  # own signals first


def test_cold_start_fallbacks_honour_filters_and_exclusions(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    params = {"count": 5, "filter.genre": "comedy", "exclude": "m1"}
    trending = catalogue.get(f"{URL}/stranger", params=params).json()["recommendations"]
    assert [r["reason"] for r in trending] == ["trending"] * 4  # five comedies, one excluded
    assert {r["attributes"]["genre"] for r in trending} == {"comedy"}
    assert "m1" not in [r["entity_id"] for r in trending]


def test_popular_fills_what_trending_cannot(catalogue: httpx.Client, clean_db: str) -> None:
    rebuild(catalogue)
    fetch(clean_db, "DELETE FROM trending")  # as if no list had been computed yet
    fetch(clean_db, "DELETE FROM interaction_daily")
    body = catalogue.get(f"{URL}/stranger", params={"count": 5}).json()
    assert {r["reason"] for r in body["recommendations"]} == {"popular"}
    assert len(body["recommendations"]) == 5


def test_deleted_entities_are_never_recommended(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    assert ids(catalogue.get(f"{URL}/u0", params={"algorithm": "collaborative"}).json())[0] == "m4"
    assert catalogue.delete("/api/v1/entities/m4").status_code == 204
    after = catalogue.get(f"{URL}/u0", params={"count": 20}).json()
    assert "m4" not in ids(after)


def test_count_bounds(catalogue: httpx.Client) -> None:
    rebuild(catalogue)
    assert len(catalogue.get(f"{URL}/stranger").json()["recommendations"]) == 10  # the default
    assert_error(catalogue.get(f"{URL}/u0", params={"count": 101}), 400, "bad_request")
    assert_error(catalogue.get(f"{URL}/u0", params={"count": 0}), 422, "validation_error")
    assert_error(catalogue.get(f"{URL}/u0", params={"algorithm": "magic"}), 422, "validation_error")
    zero = {"collaborative_weight": 0, "content_based_weight": 0}
    assert_error(catalogue.get(f"{URL}/u0", params=zero), 400, "bad_request")
    assert_error(
        catalogue.get(f"{URL}/u0", params={"content_based_weight": -1}), 422, "validation_error"
    )


def test_a_build_left_unfinished_by_a_stopped_process_is_cleared(
    catalogue: httpx.Client, clean_db: str
) -> None:
    fetch(
        clean_db,
        "INSERT INTO models (tenant_id, version, base_version, state, algorithm, config) "
        "VALUES ('default', nextval('model_version_seq'), currval('model_version_seq'), "
        "'building', 'x', '{}') RETURNING version",
    )
    assert catalogue.get("/api/v1/model/status").json()["building"] is True
    status = rebuild(catalogue)
    assert status["building"] is False
    states = fetch(clean_db, "SELECT state FROM models WHERE tenant_id = 'default'")
    assert states == [{"state": "live"}]


def test_filters_reach_past_the_best_collaborative_candidates(api: httpx.Client) -> None:
    # After "x", three users each went on to one of 35 dramas; one user to a comedy.
    # The comedy ranks below every drama, so a comedy-only request must look past the
    # first page of collaborative candidates to find it.
    make_entity(api, "x", "movie", genre="drama")
    make_entity(api, "c0", "movie", genre="comedy")
    rows = []
    for n in range(35):
        make_entity(api, f"d{n}", "movie", genre="drama")
        for viewer in "abc":
            rows += [(f"v{n}{viewer}", "x"), (f"v{n}{viewer}", f"d{n}")]
    rows += [("w", "x"), ("w", "c0")]
    for user, entity in rows:
        record(api, user, entity)
    rebuild(api)
    record(api, "fan", "x")
    params = {"algorithm": "collaborative", "count": 5}
    unfiltered = api.get(f"{URL}/fan", params=params).json()
    assert all(r["entity_id"].startswith("d") for r in unfiltered["recommendations"])
    comedies = api.get(f"{URL}/fan", params={**params, "filter.genre": "comedy"}).json()
    assert comedies["recommendations"][0]["entity_id"] == "c0"
    assert comedies["recommendations"][0]["reason"] == "collaborative"


# What every algorithm promises, on the user and the similar-entity routes alike.
ALGORITHMS = ("hybrid", "collaborative", "content_based")
SIMILAR = "/api/v1/recommendations/entity"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_empty_catalogue_answers_200_with_nothing(api: httpx.Client, algorithm: str) -> None:
    body = api.get(f"{URL}/anyone", params={"algorithm": algorithm}).json()
    assert (body["recommendations"], body["cold_start"], body["algorithm"]) == ([], True, algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_contract_holds_for_every_algorithm(catalogue: httpx.Client, algorithm: str) -> None:
    rebuild(catalogue)
    seen = set(HISTORIES["u0"])
    base = {"algorithm": algorithm, "count": 20}

    # An unknown user gets a full fallback list, never an error.
    stranger = catalogue.get(f"{URL}/stranger", params={**base, "count": 5})
    assert stranger.status_code == 200
    assert stranger.json()["cold_start"] is True and len(ids(stranger.json())) == 5

    # Nothing the user has seen, nothing excluded, only what the filters ask for.
    own = catalogue.get(f"{URL}/u0", params=base).json()
    assert ids(own) and not set(ids(own)) & seen
    first = ids(own)[0]
    without = catalogue.get(f"{URL}/u0", params={**base, "exclude": first}).json()
    assert first not in ids(without)
    comedies = catalogue.get(f"{URL}/u0", params={**base, "filter.genre": "comedy"}).json()
    assert ids(comedies) and {r["attributes"]["genre"] for r in comedies["recommendations"]} == {
        "comedy"
    }
    books = catalogue.get(f"{URL}/u0", params={**base, "entity_type": "book"}).json()
    assert {r["entity_type"] for r in books["recommendations"]} <= {"book"}
    # Scores are ordered, and every item says why it is there.
    scores = [r["score"] for r in own["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    assert all(r["reason"] for r in own["recommendations"])

    # Similar entities: never the entity itself, exclusions and filters honoured.
    similar = catalogue.get(f"{SIMILAR}/m3", params={"algorithm": algorithm, "count": 20})
    assert similar.status_code == 200 and similar.json()["algorithm"] == algorithm
    similar_ids = ids(similar.json())
    assert similar_ids and "m3" not in similar_ids
    excluded = catalogue.get(
        f"{SIMILAR}/m3", params={"algorithm": algorithm, "exclude": similar_ids[0]}
    ).json()
    assert similar_ids[0] not in ids(excluded)
    dramas = catalogue.get(
        f"{SIMILAR}/m3", params={"algorithm": algorithm, "filter.genre": "drama"}
    ).json()
    assert {r["attributes"]["genre"] for r in dramas["recommendations"]} <= {"drama"}
    assert catalogue.get(f"{SIMILAR}/missing", params={"algorithm": algorithm}).status_code == 404


def test_a_negative_weight_is_a_dislike(catalogue: httpx.Client) -> None:
    """A user's dislike pushes down what follows the disliked entity, where a like of
    the same entity would have put it first; the disliked entity itself counts as seen."""
    rebuild(catalogue)
    answers = {}
    for user, weight in (("fan", 1.0), ("critic", -5.0)):
        record(catalogue, user, "m0")
        response = catalogue.post(
            "/api/v1/interactions",
            json={"user_id": user, "entity_id": "m6", "interaction_type": "view", "weight": weight},
        )
        assert response.status_code == 201 and response.json()["weight"] == weight
        params = {"algorithm": "collaborative", "count": 5}
        answers[user] = catalogue.get(f"{URL}/{user}", params=params).json()["recommendations"]
    assert answers["fan"][0]["entity_id"] == "m7"  # m7 follows m6, the latest
    critic = [r["entity_id"] for r in answers["critic"]]
    assert critic[0] == "m1" and "m6" not in critic  # m1 follows m0, the one liked
    assert "m7" not in critic[:1]
    scores = {r["entity_id"]: r["score"] for r in answers["critic"]}
    assert "m7" not in scores or scores["m7"] < scores["m1"]
    # The model leaves dislikes out of what users have in common: it still trains.
    assert rebuild(catalogue)["interactions"] == sum(map(len, HISTORIES.values())) + 3


def test_before_the_first_build_content_comes_from_vector_search(
    catalogue: httpx.Client,
) -> None:
    assert catalogue.get("/api/v1/model/status").json()["state"] == "none"
    body = catalogue.get(f"{URL}/u0", params={"count": 5}).json()
    assert body["cold_start"] is True
    found = body["recommendations"]
    assert found and found[0]["reason"] == "content"
    assert not set(ids(body)) & set(HISTORIES["u0"])
    scores = [r["score"] for r in found if r["reason"] == "content"]
    assert scores == sorted(scores, reverse=True)
