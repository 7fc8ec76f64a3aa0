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

from recommendation_client import BulkResult, RecommendationClient

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


def load(url: str, api_key: str | None, folder: Path, out: Any = sys.stdout) -> dict[str, Any]:
    """Load the data set through the Python client, rebuild the model and show an example."""
    with RecommendationClient(url, api_key=api_key, timeout=300) as client:
        started = time.perf_counter()
        with bar("movies", unit=" rows") as progress:
            movies_report = client.import_entities(
                movies(folder),
                chunk_size=5000,
                progress=lambda done, _: progress.update(done - progress.n),
                progress_bar=False,
            )
        _check(movies_report, "movies")
        created = movies_report.successful
        print(f"movies: {created}", file=out)
        with bar("ratings", total=RATINGS, unit=" rows") as progress:
            ratings_report = client.import_interactions(
                ratings(folder),
                chunk_size=10_000,
                progress=lambda done, _: progress.update(done - progress.n),
                progress_bar=False,
            )
        _check(ratings_report, "ratings")
        stored, skipped = ratings_report.created, ratings_report.skipped
        print(f"ratings: {stored} stored, {skipped} already there", file=out)
        before = client.get_model_status().version
        client.rebuild_model()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = client.get_model_status()
            if status.version is not None and status.version != before:
                break
            time.sleep(0.5)
        print(
            f"model version {status.version} trained on {status.interactions} "
            f"interactions in {time.perf_counter() - started:.0f}s total",
            file=out,
        )
        example = client.get_user_recommendations(user_id="1", count=5)
        print("\nrecommendations for user 1:", file=out)
        for item in example.recommendations:
            print(
                f"  {item.attributes.get('title', item.entity_id)} "
                f"({item.reason}, score {item.score:.3f})",
                file=out,
            )
        print(
            f"\ntry: curl -H 'X-API-Key: …' '{url}/api/v1/recommendations/user/1?count=10'",
            file=out,
        )
        return {"movies": created, "ratings": stored, "model": status.to_dict()}


def _check(report: BulkResult, what: str) -> None:
    if report.failed:
        first = report.errors[0]
        raise SystemExit(f"{report.failed} {what} were refused, the first: {first.error}")
