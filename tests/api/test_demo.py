"""`recommendation-engine demo` against a running service (a small MovieLens-shaped set)."""

from __future__ import annotations

from pathlib import Path

from tests.support import API_KEY, cli_env, client, fetch, run_cli


def write_movielens(folder: Path) -> None:
    folder.mkdir()
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        + "".join(f"{m}\tMovie {m}\t{1990 + m}\tDrama Comedy\n" for m in range(1, 21))
    )
    rows = [
        f"{user}\t{(user + k) % 20 + 1}\t{1 + (user + k) % 5}\t{880000000 + user * 100 + k}\n"
        for user in range(1, 31)
        for k in range(6)
    ]
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(rows)
    )


def test_demo_loads_movies_and_ratings_and_trains(
    base_url: str, clean_db: str, tmp_path: Path
) -> None:
    folder = tmp_path / "movielens"
    write_movielens(folder)
    args = ("demo", "--url", base_url, "--api-key", API_KEY, "--data-dir", str(folder))
    first = run_cli(*args, env=cli_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "movies: 20" in first.stdout and "ratings: 180 stored" in first.stdout
    assert "recommendations for user 1:" in first.stdout
    with client(base_url) as api:
        movie = api.get("/api/v1/entities/3", params={"entity_type": "movie"}).json()
        assert movie["attributes"] == {
            "title": "Movie 3",
            "genres": ["Drama", "Comedy"],
            "year": 1993,
        }
        history = api.get("/api/v1/interactions/user/1").json()
        assert {h["interaction_type"] for h in history} == {"rating"}
        assert api.get("/api/v1/model/status").json()["interactions"] == 180
        assert api.get("/api/v1/recommendations/user/1").json()["recommendations"]
    again = run_cli(*args, env=cli_env(), cwd=tmp_path)  # idempotent: event ids
    assert "ratings: 0 stored, 180 already there" in again.stdout
    assert fetch(clean_db, "SELECT count(*) AS n FROM interactions") == [{"n": 180}]
