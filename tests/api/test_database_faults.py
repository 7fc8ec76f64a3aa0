"""PostgreSQL killed and started again, the service killed mid-import, and an embedded
server left behind by a killed service: the service answers 503 while the database is
away, heals by itself, loses nothing it acknowledged and owns its embedded server."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from recommendation_engine.storage.embedded import EmbeddedPostgres
from recommendation_engine.storage.migrate import upgrade
from tests.api.test_serve_process import postgres_running_in, serving, stop
from tests.support import client, make_settings, serve, wait_until_ready


def kill_server(pgdata: Path) -> int:
    """SIGKILL the cluster's postmaster, as a crash or an OOM kill would; its pid."""
    pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    os.kill(pid, signal.SIGKILL)
    return pid


class Load:
    """Two clients writing interactions and reading recommendations until stopped;
    every answer noted with the time it came."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, int | str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(2)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, worker: int) -> None:
        with client(self.url) as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                try:
                    if n % 2:
                        response = http.post(
                            "/api/v1/interactions",
                            json={
                                "user_id": f"u{worker}-{n % 7}",
                                "entity_id": f"p{n % 10}",
                                "interaction_type": "view",
                            },
                        )
                    else:
                        response = http.get(f"/api/v1/recommendations/user/u{worker}-{n % 7}")
                    self.answers.append((time.monotonic(), response.status_code))
                    if response.status_code == 503:
                        assert response.headers["Retry-After"].isdigit()
                        assert response.json()["error"]["code"] == "database_unavailable"
                except httpx.TransportError as error:
                    self.answers.append((time.monotonic(), type(error).__name__))

    def after(self, moment: float) -> Counter[int | str]:
        return Counter(status for at, status in self.answers if at >= moment)

    def before(self, moment: float) -> Counter[int | str]:
        return Counter(status for at, status in self.answers if at < moment)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, used as an external server (DATABASE_URL)."""
    server = EmbeddedPostgres(tmp_path)
    upgrade(server.url, 512)
    yield server
    server.stop()


def test_an_external_database_killed_under_load_gives_503_then_heals(
    own_server: EmbeddedPostgres,
) -> None:
    with serve(make_settings(own_server.url)) as url, client(url) as api:
        for n in range(10):
            api.post("/api/v1/entities", json={"entity_id": f"p{n}", "entity_type": "product"})
        with Load(url) as load:
            time.sleep(1.0)
            killed = time.monotonic()
            kill_server(own_server.pgdata)
            time.sleep(2.0)
            assert not own_server.is_running()
            own_server.start_again()  # as the database's own supervisor would
            wait_until_ready(None, url)
            back = time.monotonic()
            time.sleep(3.0)
        before, during, after = load.before(killed), load.before(back), load.after(back)
    assert set(before) <= {200, 201}, before
    assert set(during) <= {200, 201, 503}, during  # never a 500, never a dropped connection
    assert during[503] > 0
    assert set(after) <= {200, 201} and sum(after.values()) > 20, after


def test_the_embedded_server_killed_under_load_is_started_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "serve.log"
    with serving(data_dir, log) as (process, url), client(url) as api:
        for n in range(10):
            api.post("/api/v1/entities", json={"entity_id": f"p{n}", "entity_type": "product"})
        with Load(url) as load:
            time.sleep(1.0)
            killed = time.monotonic()
            old = kill_server((data_dir / "postgres").resolve())
            time.sleep(1.0)
            wait_until_ready(None, url)
            back = time.monotonic()
            time.sleep(3.0)
        during, after = load.before(back), load.after(back)
        assert set(during) <= {200, 201, 503}, during
        assert set(load.before(killed)) <= {200, 201}
        assert set(after) <= {200, 201} and sum(after.values()) > 20, (after, log.read_text())
        assert "starting it again" in log.read_text()
        assert api.get("/api/v1/entities/p3").status_code == 200
        servers = postgres_running_in((data_dir / "postgres").resolve())
        assert servers and old not in {p.pid for p in servers}
        stop(process, log)
    assert not postgres_running_in((data_dir / "postgres").resolve())


def test_a_stop_while_the_server_is_started_again_leaves_none_running(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    kill_server(server.pgdata)
    deadline = time.monotonic() + 30
    while server.is_running():
        assert time.monotonic() < deadline, "the killed server did not go away"
        time.sleep(0.05)
    restarting = threading.Thread(target=server.start_again)
    restarting.start()
    time.sleep(0.2)  # the start is under way (it takes about a second)
    server.stop()  # as the service's shutdown does, from another thread
    restarting.join(timeout=120)
    assert not restarting.is_alive()
    assert not postgres_running_in(server.pgdata), "the restarted server outlived the stop"
    server.start_again()  # a stopped handle starts nothing
    assert not postgres_running_in(server.pgdata)


def test_a_server_left_by_a_killed_service_is_taken_over_and_stopped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    pgdata = (data_dir / "postgres").resolve()
    log = tmp_path / "serve.log"
    with serving(data_dir, log, own_session=True) as (process, url), client(url) as api:
        assert api.post("/api/v1/entities", json={"entity_id": "kept", "entity_type": "t"})
        os.killpg(process.pid, signal.SIGKILL)  # the service's whole process group
        process.wait(timeout=30)
    left = postgres_running_in(pgdata)
    assert left, "the embedded server runs in a session of its own and outlives the kill"

    with serving(data_dir, log) as (process, url), client(url) as api:
        assert api.get("/api/v1/entities/kept").status_code == 200
        assert "taking it over" in log.read_text()
        stop(process, log)
    assert not postgres_running_in(pgdata), "a clean stop stops the server it took over"


def test_nothing_acknowledged_is_lost_when_the_service_is_killed_mid_import(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log = tmp_path / "serve.log"
    batches = [
        [
            {
                "user_id": f"u{(b * 100 + n) % 37}",
                "entity_id": f"p{n % 10}",
                "interaction_type": "view",
                "event_id": f"e{b}-{n}",
            }
            for n in range(100)
        ]
        for b in range(200)
    ]
    acknowledged: list[int] = []

    def send_all(url: str) -> None:
        with client(url) as http:
            for number, batch in enumerate(batches):
                try:
                    response = http.post("/api/v1/interactions/bulk", json={"interactions": batch})
                except httpx.TransportError:
                    return
                assert response.status_code == 200, response.text
                acknowledged.append(number)

    with serving(data_dir, log, own_session=True) as (process, url), client(url) as api:
        rows = [{"entity_id": f"p{n}", "entity_type": "product"} for n in range(10)]
        assert api.post("/api/v1/entities/bulk", json={"entities": rows}).status_code == 200
        sender = threading.Thread(target=send_all, args=(url,))
        sender.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        sender.join(timeout=60)
        process.wait(timeout=30)
    assert 5 <= len(acknowledged) < len(batches)

    with serving(data_dir, log) as (process, url), client(url) as api:
        listed = {i["event_id"] for i in _all_interactions(api) if i["event_id"].startswith("e")}
        for number in acknowledged:  # every acknowledged row is there
            assert {row["event_id"] for row in batches[number]} <= listed
        for batch in batches:  # the client sends everything again
            response = api.post("/api/v1/interactions/bulk", json={"interactions": batch})
            assert response.status_code == 200
        events = [i["event_id"] for i in _all_interactions(api)]
        assert len(events) == len(set(events)) == 200 * 100  # none lost, none twice
        stop(process, log)


def _all_interactions(api: httpx.Client) -> list[dict]:
    response = api.get("/api/v1/interactions/export")
    assert response.status_code == 200
    return [orjson.loads(line) for line in response.text.splitlines() if line.strip()]
