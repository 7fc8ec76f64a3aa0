"""`recommendation-engine demo`: MovieLens-100K loaded into a running service.

The data set ships inside the `recbole` wheel on PyPI; the wheel is downloaded with pip
(not installed) and two files are read from it: movies (title, year, genres) and
ratings. Movies become `movie` entities; ratings become `rating` interactions with the
rating as their value, their original timestamp and an event id, so running the demo
twice stores nothing twice.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from recommendation_engine.progress import bar

RECBOLE = "recbole==1.2.1"
FILES = ("ml-100k.inter", "ml-100k.item")
RATINGS = 100_000  # in MovieLens-100K


def fetch_movielens(target: Path) -> Path:
    """The folder holding ml-100k.inter and ml-100k.item, downloaded once."""
    if all((target / name).exists() for name in FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", RECBOLE, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in FILES:
                data = archive.read(f"recbole/dataset_example/ml-100k/{name}")
                (target / name).write_bytes(data)
    return target


def movies(folder: Path) -> Iterator[dict[str, Any]]:
    lines = (folder / "ml-100k.item").read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines[1:]:
        movie_id, title, year, genres = [*line.split("\t"), "", "", ""][:4]
        attributes: dict[str, Any] = {"title": title, "genres": genres.split()}
        if year.isdigit():
            attributes["year"] = int(year)
        yield {"entity_id": movie_id, "entity_type": "movie", "attributes": attributes}


def ratings(folder: Path) -> Iterator[dict[str, Any]]:
    lines = (folder / "ml-100k.inter").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        user, movie, rating, stamp = line.split("\t")
        yield {
            "user_id": user,
            "entity_id": movie,
            "entity_type": "movie",
            "interaction_type": "rating",
            "value": float(rating),
            "timestamp": datetime.fromtimestamp(float(stamp), UTC).isoformat(),
            "event_id": f"ml100k-{user}-{movie}",
        }


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load(url: str, api_key: str | None, folder: Path, out: Any = sys.stdout) -> dict[str, Any]:
    """Load the data set through the API, rebuild the model and show an example."""
    headers = {"X-API-Key": api_key} if api_key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
        started = time.perf_counter()
        created = 0
        with bar("movies", unit=" rows") as progress:
            for batch in _batches(movies(folder), 5000):
                result = _post(http, "/api/v1/entities/bulk", {"entities": batch})
                created += result["created"] + result["updated"]
                progress.update(len(batch))
        print(f"movies: {created}", file=out)
        stored = skipped = 0
        with bar("ratings", total=RATINGS, unit=" rows") as progress:
            for batch in _batches(ratings(folder), 10_000):
                result = _post(http, "/api/v1/interactions/bulk", {"interactions": batch})
                stored += result["created"]
                skipped += result["skipped"]
                progress.update(len(batch))
        print(f"ratings: {stored} stored, {skipped} already there", file=out)
        before = http.get("/api/v1/model/status").json()["version"]
        _post(http, "/api/v1/model/rebuild", None)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = http.get("/api/v1/model/status").json()
            if status["version"] is not None and status["version"] != before:
                break
            time.sleep(0.5)
        print(
            f"model version {status['version']} trained on {status['interactions']} "
            f"interactions in {time.perf_counter() - started:.0f}s total",
            file=out,
        )
        example = http.get("/api/v1/recommendations/user/1", params={"count": 5}).json()
        print("\nrecommendations for user 1:", file=out)
        for item in example["recommendations"]:
            print(
                f"  {item['attributes'].get('title', item['entity_id'])} "
                f"({item['reason']}, score {item['score']:.3f})",
                file=out,
            )
        print(
            f"\ntry: curl -H 'X-API-Key: …' '{url}/api/v1/recommendations/user/1?count=10'",
            file=out,
        )
        return {"movies": created, "ratings": stored, "model": status}


def _post(http: httpx.Client, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    response = http.post(path, json=body)
    if response.status_code >= 400:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text}")
    return response.json()
