"""`recommendation-engine serve` as a process: embedded database, SIGTERM, restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from recommendation_engine.storage.embedded import TUNING
from tests.support import API_KEY, cli_env, fetch, free_port, run_cli, wait_until_ready


@contextmanager
def serving(
    data_dir: Path, log: Path, own_session: bool = False, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start `serve` on the embedded database in ``data_dir``; wait until /ready.
    ``own_session``: in a session and process group of its own, as a process manager
    starts it."""
    port = free_port()
    env = cli_env(
        DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", API_KEY=API_KEY, **settings
    )
    assert "DATABASE_URL" not in env
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "recommendation_engine", "serve"],
            env=env,
            cwd=data_dir.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, log.read_text)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()


def postgres_running_in(pgdata: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(pgdata) in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found


def test_data_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pgdata = (data_dir / "postgres").resolve()
    log = tmp_path / "serve.log"
    headers = {"X-API-Key": API_KEY}

    with serving(data_dir, log) as (process, url):
        assert postgres_running_in(pgdata)
        # The embedded server was tuned on first start, restart-only settings included.
        socket_url = f"postgresql://postgres:@/postgres?host={pgdata}"
        assert fetch(socket_url, "SHOW shared_buffers") == [
            {"shared_buffers": TUNING["shared_buffers"]}
        ]
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            created = http.post(
                "/api/v1/entities",
                json={"entity_id": "p1", "entity_type": "product", "attributes": {"k": "v"}},
            )
            assert created.status_code == 201
            recorded = http.post(
                "/api/v1/interactions",
                json={"user_id": "u1", "entity_id": "p1", "interaction_type": "purchase"},
            )
            assert recorded.status_code == 201
            assert httpx.get(f"{url}/api/v1/entities/p1").status_code == 401
        stop(process, log)

    assert postgres_running_in(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()

    with serving(data_dir, log) as (process, url):
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            entity = http.get("/api/v1/entities/p1")
            assert entity.status_code == 200
            assert entity.json()["attributes"] == {"k": "v"}
            history = http.get("/api/v1/interactions/user/u1").json()
            assert [(i["entity_id"], i["weight"]) for i in history] == [("p1", 5.0)]
            assert history[0]["id"] == recorded.json()["id"]
        stop(process, log)

    assert postgres_running_in(pgdata) == []


def test_serve_refuses_to_start_without_a_required_key(tmp_path: Path) -> None:
    env = cli_env(REQUIRE_API_KEY="true", DATA_DIR=str(tmp_path / "data"), PORT=str(free_port()))
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "API_KEY" in result.stderr
    assert not (tmp_path / "data").exists()  # it stopped before touching the database


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_finishes_the_slow_request_and_stops_cleanly(
    tmp_path: Path, workers: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pgdata = (data_dir / "postgres").resolve()
    log = tmp_path / "serve.log"
    headers = {"X-API-Key": API_KEY}
    rows = [
        {"entity_id": f"e{n}", "entity_type": "product", "attributes": {"n": n}}
        for n in range(10_000)
    ]
    with serving(data_dir, log, SHUTDOWN_DRAIN_SECS="2", WORKERS=workers) as (process, url):
        outcome: dict[str, httpx.Response] = {}

        def slow_import() -> None:
            outcome["bulk"] = httpx.post(
                f"{url}/api/v1/entities/bulk", json={"entities": rows}, headers=headers, timeout=60
            )

        importer = threading.Thread(target=slow_import)
        importer.start()
        time.sleep(0.3)  # the import is in flight
        process.send_signal(signal.SIGTERM)
        # Draining: still answering, but no longer ready (a supervisor of several workers
        # passes the signal on within half a second).
        deadline = time.monotonic() + 1
        while httpx.get(f"{url}/ready", timeout=5).status_code != 503:
            assert time.monotonic() < deadline, "/ready did not turn 503"
            time.sleep(0.05)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        importer.join(60)
        assert process.wait(timeout=60) == 0, log.read_text()
        # The request in flight was answered in full.
        assert outcome["bulk"].status_code == 200, outcome["bulk"].text
        assert outcome["bulk"].json()["created"] == 10_000
        # New connections are refused once drained, and the embedded database stopped.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=2)
        assert not postgres_running_in(pgdata)
