"""Impressions buffered in memory are written when `serve` stops gracefully."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.test_serve_process import serving, stop
from tests.support import API_KEY


def test_buffered_impressions_survive_a_graceful_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "serve.log"
    headers = {"X-API-Key": API_KEY}
    # An hour between writes: only the stop can write these impressions.
    with serving(data_dir, log, IMPRESSION_FLUSH_INTERVAL_SECS="3600") as (process, url):
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            http.post(
                "/api/v1/entities", json={"entity_id": "p1", "entity_type": "product"}
            ).raise_for_status()
            body = {"name": "restart", "route": "user", "variants": [{"name": "b", "share": 0.5}]}
            experiment = http.post("/api/v1/experiments", json=body).json()
            http.post(f"/api/v1/experiments/{experiment['id']}/start").raise_for_status()
            served = [
                http.get(f"/api/v1/recommendations/user/u{n}").json()["experiment"]["variant"]
                for n in range(30)
            ]
            results = http.get(f"/api/v1/experiments/{experiment['id']}/results").json()
            assert sum(v["impressions"] for v in results["variants"]) == 0  # still buffered
        stop(process, log)

    with serving(data_dir, log) as (process, url):
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            results = http.get(f"/api/v1/experiments/{experiment['id']}/results").json()
            by_name = {v["name"]: v for v in results["variants"]}
            for name in ("b", "control"):
                assert by_name[name]["impressions"] == served.count(name)
                assert by_name[name]["users"] == served.count(name)
        stop(process, log)
