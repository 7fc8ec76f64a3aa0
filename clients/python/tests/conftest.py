"""Starts the real service (``python -m recommendation_engine serve`` on its embedded
PostgreSQL) for the tests; no mocks. SERVICE_PYTHON names a Python with the service
installed (default: the repository's .venv/bin/python, found relative to
this file)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

API_KEY = "sdk-test-key"
REPO = Path(__file__).resolve().parents[3]
SERVICE_PYTHON = os.environ.get("SERVICE_PYTHON", str(REPO / ".venv" / "bin" / "python"))
KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME", "SYSTEMROOT")


@dataclass
class Service:
    url: str
    api_key: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(tmp: Path, **settings: str) -> tuple[subprocess.Popen[bytes], Service]:
    data_dir = tmp / "data"
    data_dir.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in KEEP}
    env.update(
        DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1", API_KEY=API_KEY,
        RATE_LIMIT_ENABLED="false", SHUTDOWN_DRAIN_SECS="0", BACKGROUND_JOBS="false",
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true", LOG_LEVEL="warn",
    )
    env.update(settings)
    log = tmp / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [SERVICE_PYTHON, "-m", "recommendation_engine", "serve"],
            env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError("the service exited:\n" + log.read_text())
        if time.monotonic() > deadline:
            _stop(process)
            raise RuntimeError("the service was not ready in time:\n" + log.read_text())
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return process, Service(url=url, api_key=API_KEY, log=log)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service, multi-tenant, without a rate limit."""
    process, svc = _start(tmp_path_factory.mktemp("service"), ENABLE_MULTI_TENANCY="true")
    try:
        yield svc
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def limited_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A second service with a tiny rate limit."""
    process, svc = _start(
        tmp_path_factory.mktemp("limited"), RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_REQUESTS_PER_MINUTE="60", RATE_LIMIT_BURST_SIZE="2",
    )
    try:
        yield svc
    finally:
        _stop(process)


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A prefix of ids unique to the test (the tests share one service)."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"{name}-{time.monotonic_ns() % 10**9}"
