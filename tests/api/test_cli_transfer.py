"""`recommendation-engine import/export`: NDJSON round trips between tenants."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import httpx
import pytest

from tests.support import cli_env, fetch, make_entity, read_ndjson, run_cli

VECTOR = [round((i % 17) / 17 - 0.5, 4) for i in range(512)]
INTERACTIONS = [
    {"user_id": "u1", "entity_id": "p1", "entity_type": "product", "interaction_type": "view",
     "timestamp": "2024-01-01T10:00:00.123456Z", "event_id": "evt-1"},
    {"user_id": "u1", "entity_id": "p1", "entity_type": "article", "interaction_type": "like",
     "weight": 2.5, "timestamp": "2024-01-01T11:00:00Z", "event_id": "evt-2"},
    {"user_id": "u2", "entity_id": "vec", "interaction_type": "rating", "value": 4,
     "metadata": {"device": "ios", "n": [1, 2]}, "timestamp": "2024-01-02T00:00:00Z",
     "event_id": "evt-3"},
    {"user_id": "u2", "entity_id": "p1", "entity_type": "product", "interaction_type": "purchase",
     "timestamp": "2024-01-03T00:00:00Z", "event_id": "evt-4"},
]  # fmt: skip


@pytest.fixture
def dataset(api: httpx.Client) -> None:
    make_entity(api, "p1", "product", name="Headphones", tags=["audio", "wireless"], price=99.5)
    make_entity(api, "p1", "article", title="Review", nested={"a": {"b": True}})
    created = api.post(
        "/api/v1/entities",
        json={"entity_id": "vec", "entity_type": "user", "feature_vector": VECTOR},
    )
    assert created.status_code == 201
    for body in INTERACTIONS:
        assert api.post("/api/v1/interactions", json=body).status_code == 201, body


def http_export(api: httpx.Client) -> list[dict]:
    entities = read_ndjson(api.get("/api/v1/entities/export"))
    interactions = read_ndjson(api.get("/api/v1/interactions/export"))
    return entities + interactions


def write_ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def entities_of(database_url: str, tenant: str) -> list[dict]:
    return fetch(
        database_url,
        "SELECT entity_type, entity_id, attributes::jsonb AS attributes, "
        "feature_vector::text AS vector FROM entities WHERE tenant_id = $1 "
        "ORDER BY entity_type, entity_id",
        tenant,
    )


def interactions_of(database_url: str, tenant: str) -> list[dict]:
    return fetch(
        database_url,
        "SELECT user_id, entity_type, entity_id, interaction_type, weight, value, "
        "metadata::text AS metadata, event_id, occurred_at FROM interactions "
        "WHERE tenant_id = $1 ORDER BY occurred_at, event_id",
        tenant,
    )


def import_into_other(path: Path, database_url: str, tmp_path: Path) -> dict:
    env = cli_env(DATABASE_URL=database_url, REQUIRE_API_KEY="false")
    result = run_cli("import", str(path), "--tenant", "other", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_import_copies_an_export_into_another_tenant(
    api: httpx.Client, dataset: None, clean_db: str, tmp_path: Path
) -> None:
    path = write_ndjson(tmp_path / "export.ndjson", http_export(api))
    report = import_into_other(path, clean_db, tmp_path)
    assert report["lines"] == 7
    assert report["unreadable_lines"] == []
    assert (report["entities"]["created"], report["entities"]["failed"]) == (3, 0)
    assert (report["interactions"]["created"], report["interactions"]["failed"]) == (4, 0)

    assert entities_of(clean_db, "other") == entities_of(clean_db, "default")
    assert len(entities_of(clean_db, "other")) == 3
    assert interactions_of(clean_db, "other") == interactions_of(clean_db, "default")
    assert len(interactions_of(clean_db, "other")) == 4


def test_reimporting_upserts_entities_and_skips_recorded_events(
    api: httpx.Client, dataset: None, clean_db: str, tmp_path: Path
) -> None:
    path = write_ndjson(tmp_path / "export.ndjson", http_export(api))
    import_into_other(path, clean_db, tmp_path)
    before = interactions_of(clean_db, "other")

    again = import_into_other(path, clean_db, tmp_path)
    assert (again["entities"]["created"], again["entities"]["updated"]) == (0, 3)
    assert (again["interactions"]["created"], again["interactions"]["skipped"]) == (0, 4)
    assert interactions_of(clean_db, "other") == before
    assert len(entities_of(clean_db, "other")) == 3


def test_cli_export_writes_the_same_rows_as_the_api(
    api: httpx.Client, dataset: None, clean_db: str, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=clean_db, REQUIRE_API_KEY="false")
    target = tmp_path / "all.ndjson"
    result = run_cli("export", "--what", "all", "-o", str(target), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "exported 7 records" in result.stderr
    lines = target.read_text().splitlines()
    assert [json.loads(line) for line in lines] == http_export(api)

    only = run_cli("export", "--what", "interactions", env=env, cwd=tmp_path)
    assert only.returncode == 0, only.stderr
    exported = [json.loads(line) for line in only.stdout.splitlines()]
    assert exported == read_ndjson(api.get("/api/v1/interactions/export"))


def test_import_reports_bad_lines_and_keeps_the_good_ones(
    api: httpx.Client, clean_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.ndjson"
    path.write_text(
        '{"entity_id": "p1", "entity_type": "product"}\n'
        "this is not json\n"
        "\n"
        '{"user_id": "u1", "entity_id": "ghost", "interaction_type": "view"}\n'
        '{"user_id": "u1", "entity_id": "p1", "interaction_type": "view", "event_id": "x"}\n'
        '{"entity_id": "bad id", "entity_type": "product"}\n'
    )
    env = cli_env(DATABASE_URL=clean_db, REQUIRE_API_KEY="false")
    result = run_cli("import", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["unreadable_lines"] == [2]
    assert [(e["line"], e["reason"]) for e in report["entities"]["errors"]] == [(6, "invalid")]
    assert [(e["line"], e["reason"]) for e in report["interactions"]["errors"]] == [
        (4, "unknown_entity")
    ]
    # the default tenant received the valid lines
    assert api.get("/api/v1/entities/p1").status_code == 200
    assert [i["event_id"] for i in api.get("/api/v1/interactions/user/u1").json()] == ["x"]


def test_import_reads_standard_input(api: httpx.Client, clean_db: str, tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=clean_db, REQUIRE_API_KEY="false")
    line = '{"entity_id": "from-stdin", "entity_type": "t", "attributes": {"k": 1}}\n'
    result = run_cli("import", "-", env=env, cwd=tmp_path, stdin=line)
    assert result.returncode == 0, result.stderr
    assert api.get("/api/v1/entities/from-stdin").json()["attributes"] == {"k": 1}


def _on_a_terminal(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with standard error on a pseudo-terminal; its exit code and what the
    terminal showed."""
    controller, terminal = pty.openpty()
    # A terminal 100 columns wide (a new pseudo-terminal has none).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "recommendation_engine", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return process.wait(timeout=120), shown.decode(errors="replace")


def test_long_jobs_show_progress_on_a_terminal_and_nothing_otherwise(
    api: httpx.Client, dataset: None, clean_db: str, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=clean_db, REQUIRE_API_KEY="false")
    path = write_ndjson(tmp_path / "export.ndjson", http_export(api))
    for args in (("export", "-o", str(tmp_path / "again.ndjson")), ("import", str(path))):
        code, shown = _on_a_terminal(*args, env=env, cwd=tmp_path)
        assert code == 0, shown
        assert "exporting" in shown or "importing" in shown, shown
        assert "records" in shown or "lines" in shown
        piped = run_cli(*args, env=env, cwd=tmp_path)
        assert piped.returncode == 0
        assert "exporting" not in piped.stderr and "importing" not in piped.stderr
        assert "\r" not in piped.stderr  # no bar redrawn into a log
