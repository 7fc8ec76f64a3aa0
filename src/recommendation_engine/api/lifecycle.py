"""Stopping gracefully: on SIGTERM, /ready answers 503 at once while the server keeps
accepting requests for SHUTDOWN_DRAIN_SECS, so load balancers take the replica out of
rotation; then uvicorn stops accepting, lets in-flight requests finish (within
SHUTDOWN_TIMEOUT_SECS) and runs the lifespan shutdown: background jobs are cancelled
(a job's open transaction rolls back), pools close and the embedded database stops."""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType

import uvicorn

# Set once SIGTERM has arrived; /ready reads it.
draining = threading.Event()


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, on SIGTERM, drains for ``drain_seconds`` before stopping."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_seconds <= 0 or draining.is_set():
            super().handle_exit(sig, frame)
            return
        draining.set()
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(
            loop.call_later, self.drain_seconds, super().handle_exit, sig, frame
        )


def drain_this_worker_on_sigterm(drain_seconds: float) -> None:
    """Make SIGTERM drain in a worker process of a multi-worker `serve`, where uvicorn's
    supervisor runs uvicorn's own server: /ready answers 503 at once, and the server's
    own SIGTERM handling (stop accepting, finish requests in flight) follows
    ``drain_seconds`` later. Call from the running application, after the server has
    installed its signal handlers."""
    previous = signal.getsignal(signal.SIGTERM)
    if drain_seconds <= 0 or not callable(previous):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if draining.is_set():
            previous(sig, frame)
            return
        draining.set()
        loop.call_soon_threadsafe(loop.call_later, drain_seconds, previous, sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
