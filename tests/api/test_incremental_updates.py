"""Incremental model updates: new interactions folded into the live model."""

from __future__ import annotations

import httpx
import pytest

from recommendation_engine.config import EngineSettings, Settings
from recommendation_engine.service import low_priority, training
from tests.api.test_model_scheduler import wait_for
from tests.support import client, fetch, make_entity, make_settings, serve

SIMILAR = "/api/v1/recommendations/entity"


def record(api: httpx.Client, user: str, entity: str) -> None:
    api.post(
        "/api/v1/interactions",
        json={
            "user_id": user,
            "entity_id": entity,
            "entity_type": "movie",
            "interaction_type": "view",
        },
    ).raise_for_status()


def next_version(api: httpx.Client, after: int | None) -> dict:
    return wait_for(
        lambda: (
            (status := api.get("/api/v1/model/status").json())["version"] != after
            and status["interactions_since_training"] == 0
            and status
        )
    )


def collaborative_neighbours(api: httpx.Client, entity: str) -> list[str]:
    response = api.get(f"{SIMILAR}/{entity}", params={"algorithm": "collaborative", "count": 20})
    assert response.status_code == 200, response.text
    return [r["entity_id"] for r in response.json()["recommendations"]]


def updating_every_second(database_url: str) -> Settings:
    return make_settings(
        database_url,
        engine=EngineSettings(background_jobs=True, incremental_update_interval_secs=1),
    )


def walk_catalogue(api: httpx.Client, movies: int, users: int, steps: int) -> None:
    """Movies m0..m<movies-1>; user u<k> watches `steps` of them in order from m<k>. The
    interactions arrive in one request, so the scheduler's first model holds them all."""
    for n in range(movies):
        make_entity(api, f"m{n}", "movie")
    rows = [
        {
            "user_id": f"u{user}",
            "entity_id": f"m{(user + n) % movies}",
            "entity_type": "movie",
            "interaction_type": "view",
            "timestamp": f"2026-01-01T00:{user:02d}:{n:02d}Z",
        }
        for user in range(users)
        for n in range(steps)
    ]
    report = api.post("/api/v1/interactions/bulk", json={"interactions": rows}).json()
    assert report["successful"] == len(rows), report


@pytest.mark.parametrize("keep_entries", [training.KEEP_COOCCURRENCE_ENTRIES, 0])
def test_new_interactions_are_folded_in_without_a_full_rebuild(
    clean_db: str, keep_entries: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the co-occurrence matrix kept between updates, and without (a log too large
    # to keep it: lists are recomputed from the log).
    monkeypatch.setattr(training, "KEEP_COOCCURRENCE_ENTRIES", keep_entries)
    with serve(updating_every_second(clean_db)) as address, client(address) as api:
        walk_catalogue(api, movies=8, users=6, steps=4)
        full = next_version(api, None)
        assert full["base_version"] == full["version"]
        assert full["last_incremental_update"] is None
        items_before = fetch(
            clean_db, "SELECT count(*) AS n FROM model_items WHERE version = $1", full["version"]
        )[0]["n"]
        assert items_before == 8

        # A new entity, and new users who watch it right after m0.
        make_entity(api, "fresh", "movie")
        assert collaborative_neighbours(api, "fresh") == []
        for user in ("n1", "n2"):
            record(api, user, "m0")
            record(api, user, "fresh")
        update = next_version(api, full["version"])
        assert update["base_version"] == full["version"]
        assert update["last_incremental_update"] is not None
        assert update["interactions"] == full["interactions"] + 4
        assert update["entities"] == 9 and update["users"] == full["users"] + 2
        written = fetch(
            clean_db,
            "SELECT entity_id FROM model_items WHERE version = $1 ORDER BY entity_id",
            update["version"],
        )
        changed = [row["entity_id"] for row in written]
        assert "fresh" in changed and "m0" in changed and len(changed) < 9
        assert collaborative_neighbours(api, "fresh")[0] == "m0"
        assert "fresh" in collaborative_neighbours(api, "m0")
        after_update = {e: collaborative_neighbours(api, e) for e in changed}

        # A full rebuild gives the changed entities exactly the lists the update gave.
        assert api.post("/api/v1/model/rebuild").status_code == 202
        rebuilt = next_version(api, update["version"])
        assert rebuilt["base_version"] == rebuilt["version"]
        assert {e: collaborative_neighbours(api, e) for e in changed} == after_update

        # Once a newer version is live, the first base and its rows are gone.
        record(api, "n3", "fresh")
        next_version(api, rebuilt["version"])
        bases = fetch(clean_db, "SELECT DISTINCT base FROM model_items ORDER BY base")
        assert full["version"] not in [row["base"] for row in bases]


def test_another_process_restores_the_log_before_updating(clean_db: str) -> None:
    with serve(make_settings(clean_db)) as first, client(first) as api:
        walk_catalogue(api, movies=6, users=5, steps=3)
        assert api.post("/api/v1/model/rebuild").status_code == 202
        full = next_version(api, None)
        assert "m2" not in collaborative_neighbours(api, "m5")  # never watched together
        record(api, "late", "m5")
        record(api, "late", "m2")
    with serve(updating_every_second(clean_db)) as second, client(second) as api:
        update = next_version(api, full["version"])
        assert update["base_version"] == full["version"]
        assert update["interactions"] == full["interactions"] + 2
        assert "m2" in collaborative_neighbours(api, "m5")


def test_an_update_after_the_worker_process_died_reads_the_log_back(clean_db: str) -> None:
    with serve(updating_every_second(clean_db)) as address, client(address) as api:
        walk_catalogue(api, movies=6, users=5, steps=3)
        full = next_version(api, None)
        assert "m2" not in collaborative_neighbours(api, "m5")
        low_priority.stop()  # what the worker kept is gone with it
        record(api, "late", "m5")
        record(api, "late", "m2")
        update = next_version(api, full["version"])
        assert update["base_version"] == full["version"]
        assert update["interactions"] == full["interactions"] + 2
        assert "m2" in collaborative_neighbours(api, "m5")


def test_an_incremental_update_can_be_asked_for(api: httpx.Client) -> None:
    for n in range(4):
        make_entity(api, f"m{n}", "movie")
    for user in range(3):
        record(api, f"u{user}", "m0")
        record(api, f"u{user}", f"m{user + 1}")
    assert api.post("/api/v1/model/rebuild", params={"incremental": "true"}).status_code == 202
    first = next_version(api, None)  # no live model yet: a full build
    assert first["base_version"] == first["version"]
    record(api, "u9", "m3")
    response = api.post("/api/v1/model/rebuild", params={"incremental": "true"})
    assert response.status_code == 202 and "incremental" in response.json()["message"]
    update = next_version(api, first["version"])
    assert update["base_version"] == first["version"]
    assert update["interactions"] == first["interactions"] + 1


def test_an_update_keeps_the_long_term_and_content_lists_of_what_it_rewrites(
    api: httpx.Client, clean_db: str
) -> None:
    for n in range(6):
        make_entity(api, f"m{n}", "movie", genre="drama" if n % 2 else "comedy")
    for user in range(5):
        for n in range(6):
            record(api, f"u{user}", f"m{(user + n) % 6}")
    assert api.post("/api/v1/model/rebuild").status_code == 202
    first = next_version(api, None)
    query = (
        "SELECT entity_id, content_neighbours, content_scores, long_term_neighbours "
        "FROM model_items WHERE tenant_id = 'default' AND version = {}"
    )
    before = {r["entity_id"]: r for r in fetch(clean_db, query.format(first["version"]))}
    assert all(r["content_neighbours"] is not None for r in before.values())
    record(api, "u9", "m1")
    record(api, "u9", "m2")
    assert api.post("/api/v1/model/rebuild", params={"incremental": "true"}).status_code == 202
    update = next_version(api, first["version"])
    rewritten = fetch(clean_db, query.format(update["version"]))
    assert {r["entity_id"] for r in rewritten} >= {"m1", "m2"}
    for row in rewritten:
        kept = before[row["entity_id"]]
        assert row["content_neighbours"] == kept["content_neighbours"]
        assert row["content_scores"] == kept["content_scores"]
        assert row["long_term_neighbours"] == kept["long_term_neighbours"]
