"""Every recommendation query is scoped by tenant: same ids, different worlds."""

from __future__ import annotations

from recommendation_engine.config import TenancySettings
from tests.api.test_recommendations import rebuild
from tests.support import client, make_entity, make_settings, serve


def test_models_histories_and_catalogues_never_cross_tenants(clean_db: str) -> None:
    settings = make_settings(clean_db, tenancy=TenancySettings(enable_multi_tenancy=True))
    with (
        serve(settings) as base,
        client(base, **{"X-Tenant-ID": "a"}) as a,
        client(base, **{"X-Tenant-ID": "b"}) as b,
    ):
        for n in range(6):
            make_entity(a, f"m{n}", "movie", genre="drama")
            make_entity(b, f"m{n}", "movie", genre="drama")
        make_entity(b, "only-b", "movie", genre="drama")
        # in a, users go m1 -> m2 -> m3; in b, the same m1 is followed by m4 and m5
        for user in range(4):
            for n in (1, 2, 3):
                a.post(
                    "/api/v1/interactions",
                    json={"user_id": f"u{user}", "entity_id": f"m{n}", "interaction_type": "view"},
                ).raise_for_status()
            for n in (1, 4, 5, 0):
                b.post(
                    "/api/v1/interactions",
                    json={"user_id": f"u{user}", "entity_id": f"m{n}", "interaction_type": "view"},
                ).raise_for_status()
        model_a, model_b = rebuild(a), rebuild(b)
        assert model_a["version"] != model_b["version"]
        assert (model_a["interactions"], model_b["interactions"]) == (12, 16)

        b.post(
            "/api/v1/interactions",
            json={"user_id": "x", "entity_id": "m1", "interaction_type": "view"},
        ).raise_for_status()
        a.post(
            "/api/v1/interactions",
            json={"user_id": "x", "entity_id": "m1", "interaction_type": "view"},
        ).raise_for_status()
        params = {"algorithm": "collaborative", "count": 1}
        from_a = a.get("/api/v1/recommendations/user/x", params=params).json()
        from_b = b.get("/api/v1/recommendations/user/x", params=params).json()
        assert from_a["recommendations"][0]["entity_id"] == "m2"  # next to m1 in a
        assert from_b["recommendations"][0]["entity_id"] == "m4"  # next to m1 in b
        assert from_a["model_version"] == model_a["version"]

        everything_a = a.get("/api/v1/recommendations/user/stranger", params={"count": 50}).json()
        assert "only-b" not in {r["entity_id"] for r in everything_a["recommendations"]}
        similar_a = a.get("/api/v1/recommendations/entity/m0", params={"count": 50}).json()
        assert "only-b" not in {r["entity_id"] for r in similar_a["recommendations"]}
        similar_b = b.get("/api/v1/recommendations/entity/m0", params={"count": 50}).json()
        assert "only-b" in {r["entity_id"] for r in similar_b["recommendations"]}
        assert a.get("/api/v1/model/status").json()["version"] == model_a["version"]
