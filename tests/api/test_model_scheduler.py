"""Background model updates: automatic training, and one trainer across processes."""

from __future__ import annotations

import time

from recommendation_engine.config import EngineSettings
from tests.support import client, fetch, make_entity, make_settings, serve


def wait_for(predicate, seconds: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_two_processes_on_one_database_train_once_and_keep_up(clean_db: str) -> None:
    settings = make_settings(
        clean_db, engine=EngineSettings(background_jobs=True, incremental_update_interval_secs=1)
    )
    with serve(settings) as first, serve(settings) as second, client(first) as api:
        for n in range(5):
            make_entity(api, f"m{n}", "movie")
        for user in ("u1", "u2"):
            for n in range(4):
                api.post(
                    "/api/v1/interactions",
                    json={"user_id": user, "entity_id": f"m{n}", "interaction_type": "view"},
                ).raise_for_status()
        live = wait_for(lambda: api.get("/api/v1/model/status").json()["version"])
        time.sleep(3)  # several more ticks of both schedulers
        versions = fetch(clean_db, "SELECT version FROM models WHERE tenant_id = 'default'")
        assert [row["version"] for row in versions] == [live]  # trained once, not twice

        api.post(
            "/api/v1/interactions",
            json={"user_id": "u3", "entity_id": "m4", "interaction_type": "view"},
        ).raise_for_status()
        newer = wait_for(
            lambda: (v := api.get("/api/v1/model/status").json())["version"] != live and v
        )
        assert newer["interactions"] == 9 and newer["interactions_since_training"] == 0
        with client(second) as other:
            assert other.get("/api/v1/model/status").json()["version"] == newer["version"]
