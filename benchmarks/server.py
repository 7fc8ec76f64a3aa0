"""Start `recommendation-engine serve` in a subprocess for a benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "bench-api-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def database_url(self) -> str:
        """The embedded server's socket URL (the service was started without DATABASE_URL)."""
        return f"postgresql://postgres:@/postgres?host={self.data_dir / 'postgres'}"

    def rss_mb(self) -> float:
        """Resident memory of the service processes (not the database), in MiB."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024


@contextmanager
def running_server(
    workers: int = 1, data_dir: Path | None = None, quiet: bool = False, **env: str
) -> Iterator[RunningServer]:
    """The service in a subprocess on a free port (``quiet``: its output discarded)."""
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-")
        data_dir = Path(tmp.name)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        API_KEY=API_KEY,
        WORKERS=str(workers),
        LOG_LEVEL="warning",
        # The limiter runs (its cost is part of every figure) but never refuses the
        # load generator: a billion a minute, bursts of a hundred million.
        RATE_LIMIT_REQUESTS_PER_MINUTE="1000000000",
        RATE_LIMIT_BURST_SIZE="100000000",
    )
    environment.update(env)
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        [sys.executable, "-m", "recommendation_engine", "serve"],
        env=environment,
        stdout=output,
        stderr=output,
    )
    server = RunningServer(process, port, data_dir)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(server.url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready")
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        if tmp is not None:
            tmp.cleanup()
