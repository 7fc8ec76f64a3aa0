"""The service's container image, built from the Dockerfile: real round trips with the
embedded database on a volume and with an external PostgreSQL and Redis, stops by
SIGTERM, the unprivileged user and the health check."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis

from tests.support import API_KEY, RedisServer, fetch, free_port

if TYPE_CHECKING:
    from tests.deploy.conftest import Containers, Docker

# Short drain for the tests; `docker stop` must take about this long, and never the
# whole grace period it gives before SIGKILL.
DRAIN_SECS = 2.0
STOP_MARGIN_SECS = 10.0
GRACE_SECS = 60
COMMON = (
    "-e",
    f"API_KEY={API_KEY}",
    "-e",
    f"SHUTDOWN_DRAIN_SECS={DRAIN_SECS}",
    # The tests send many requests from one address.
    "-e",
    "RATE_LIMIT_ENABLED=false",
)
# Users walk the catalogue in order: after m<k> comes m<k+1>.
MOVIES = 10
HISTORIES = {f"u{n}": [f"m{(n + k) % MOVIES}" for k in range(4)] for n in range(10)}


def wait_ready(containers: Containers, name: str, url: str, seconds: float = 120) -> None:
    """Wait for /ready to answer 200, failing with the logs when the container stops."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        status = containers.inspect(name, "{{.State.Status}}")
        assert status == "running", f"the container is {status}\n{containers.logs(name)}"
        assert time.monotonic() < deadline, f"not ready in {seconds} s\n{containers.logs(name)}"
        time.sleep(0.3)


def stop(docker: Docker, containers: Containers, name: str, url: str) -> None:
    """`docker stop` (SIGTERM): /ready answers 503 while the service drains, and it exits
    with 0 soon after the drain, well before Docker would kill it."""
    started = time.monotonic()
    stopping = subprocess.Popen(
        [docker.client, "stop", "--time", str(GRACE_SECS), name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[int] = set()
    while stopping.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            seen.add(httpx.get(f"{url}/ready", timeout=1).status_code)
        time.sleep(0.1)
    took = time.monotonic() - started
    assert stopping.returncode == 0, stopping.stderr.read() if stopping.stderr else ""
    exit_code = containers.inspect(name, "{{.State.ExitCode}}")
    assert exit_code == "0", f"exit code {exit_code}\n{containers.logs(name)}"
    assert 503 in seen, f"/ready never answered 503 during the drain: {seen}"
    assert DRAIN_SECS <= took < DRAIN_SECS + STOP_MARGIN_SECS, f"stopping took {took:.1f} s"


def api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30)


def rebuild(http: httpx.Client) -> dict[str, Any]:
    """Retrain now and wait until the new model version is live."""
    before = http.get("/api/v1/model/status").json()["version"]
    assert http.post("/api/v1/model/rebuild").status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get("/api/v1/model/status").json()
        if status["version"] is not None and status["version"] != before:
            return status
        time.sleep(0.25)
    raise AssertionError("the model was not rebuilt in time")


def recommend(http: httpx.Client, user: str) -> dict[str, Any]:
    response = http.get(
        f"/api/v1/recommendations/user/{user}", params={"algorithm": "collaborative", "count": 3}
    )
    assert response.status_code == 200, response.text
    return response.json()


def round_trip(url: str) -> int:
    """Register a catalogue, record histories, rebuild the model and get
    recommendations from it; returns the model's version."""
    with api(url) as http:
        for n in range(MOVIES):
            response = http.post(
                "/api/v1/entities",
                json={
                    "entity_id": f"m{n}",
                    "entity_type": "movie",
                    "attributes": {"genre": ("drama", "comedy")[n % 2], "decade": "1990s"},
                },
            )
            assert response.status_code == 201, response.text
        for user, movies in HISTORIES.items():
            for movie in movies:
                response = http.post(
                    "/api/v1/interactions",
                    json={"user_id": user, "entity_id": movie, "interaction_type": "view"},
                )
                assert response.status_code == 201, response.text
        version = rebuild(http)["version"]
        body = recommend(http, "u0")
        assert body["model_version"] == version
        top = body["recommendations"][0]
        assert (top["entity_id"], top["reason"]) == ("m4", "collaborative")  # m4 follows m3
        return version


def test_embedded_database_on_a_volume(
    docker: Docker, service_image: str, containers: Containers
) -> None:
    volume = containers.volume()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    options = ("-p", f"127.0.0.1:{port}:8080", "-v", f"{volume}:/data", *COMMON)

    first = containers.run(service_image, *options)
    wait_ready(containers, first, url)
    version = round_trip(url)
    stop(docker, containers, first, url)

    second = containers.run(service_image, *options)
    wait_ready(containers, second, url)
    with api(url) as http:
        entity = http.get("/api/v1/entities/m0")
        assert entity.status_code == 200, entity.text
        assert entity.json()["attributes"] == {"genre": "drama", "decade": "1990s"}
        history = http.get("/api/v1/interactions/user/u0").json()
        assert sorted(i["entity_id"] for i in history) == HISTORIES["u0"]
        assert http.get("/api/v1/model/status").json()["version"] == version
        assert recommend(http, "u0")["recommendations"][0]["entity_id"] == "m4"
    stop(docker, containers, second, url)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A database of the suite's Redis-protocol server of its own, emptied after."""
    url = f"redis://127.0.0.1:{redis_server.port}/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def test_external_database_and_redis(
    docker: Docker,
    service_image: str,
    containers: Containers,
    database_tcp_url: str,
    clean_db: str,
    redis_url: str,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    external = ("-e", f"DATABASE_URL={database_tcp_url}", "-e", f"REDIS_URL={redis_url}")

    migrate = containers.run_once(
        service_image, "--network", "host", *external, *COMMON, command=("migrate",)
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "database schema is up to date" in migrate.stdout

    options = ("--network", "host", "-e", "HOST=127.0.0.1", "-e", f"PORT={port}")
    name = containers.run(service_image, *options, *external, *COMMON)
    wait_ready(containers, name, url)
    round_trip(url)
    # The rows are in the external database, the cached answer in Redis.
    assert fetch(clean_db, "SELECT count(*) AS n FROM interactions") == [{"n": 40}]
    cached = redis.Redis.from_url(redis_url).keys("rc:default:*:user:u0")
    assert cached, "no cached answer in Redis"
    stop(docker, containers, name, url)


def test_runs_as_an_unprivileged_user_and_reports_healthy(
    docker: Docker, service_image: str, containers: Containers
) -> None:
    image = docker.run("image", "inspect", "--format", "{{json .Config}}", service_image)
    assert '"User":"10001:10001"' in image.stdout
    assert '"8080/tcp"' in image.stdout
    assert '"/data"' in image.stdout

    port = free_port()
    name = containers.run(service_image, "-p", f"127.0.0.1:{port}:8080", *COMMON)
    wait_ready(containers, name, f"http://127.0.0.1:{port}")
    assert docker.run("exec", name, "id", "-u").stdout.strip() == "10001"
    # The service is PID 1, so SIGTERM reaches it; the embedded server runs as its user.
    pid1 = docker.run("exec", name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert pid1[1:3] == ["/opt/venv/bin/recommendation-engine", "serve"], pid1
    owner = docker.run("exec", name, "stat", "-c", "%u", "/data/postgres/PG_VERSION").stdout
    assert owner.strip() == "10001"

    deadline = time.monotonic() + 60
    while (health := containers.inspect(name, "{{.State.Health.Status}}")) != "healthy":
        assert health == "starting", f"health {health}\n{containers.logs(name)}"
        assert time.monotonic() < deadline, "not healthy within 60 s"
        time.sleep(0.5)
