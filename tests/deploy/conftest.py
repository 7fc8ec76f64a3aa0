"""Fixtures for the deployment tests (container image, compose stack, Kubernetes).

They need a Docker daemon. Where there is none, every test that asks for `docker` is
skipped with the reason; with ``DEPLOY_TESTS=required`` (as in CI, see .ci/run) it fails
instead, so that a broken CI machine cannot pass by skipping.

Fixtures:

``docker`` (session)
    A `Docker` handle once `docker info` answers: ``docker.run(*args)`` runs the client
    and returns the finished process (raising with its output when it fails, unless
    ``check=False``); ``docker.base_image`` is the image the Dockerfile is built on.
    That is ``DEPLOY_BASE_IMAGE`` when set (a registry image such as
    ``python:3.11-slim-bookworm`` is pulled by the build), otherwise the local
    ``recommendation-engine-base:bookworm`` that deploy/docker/build-base.sh makes (run
    by deploy/ci/prepare.sh); it must exist, like the daemon.

``service_image`` (session)
    The tag of the service's image, built once per session from the repository's
    Dockerfile and working tree with ``--build-arg BASE_IMAGE=<docker.base_image>``
    (``recommendation-engine:test``; ``DEPLOY_IMAGE`` names an image to use as it is
    instead).

``containers`` (function)
    `Containers`: ``containers.run(image, *docker_run_args, command=...)`` starts a
    detached container and returns its name; ``containers.volume()`` creates a volume.
    Every container (with its anonymous volumes) and volume is removed after the test,
    whether it passed or not; ``containers.logs(name)`` gives a container's output for
    assertion messages.

``database_tcp_url`` (session)
    The suite's PostgreSQL (the ``database_url`` fixture, which listens on a Unix
    socket only) reachable over TCP on 127.0.0.1, for containers run with
    ``--network host``: a small forwarder in this process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "recommendation-engine-base:bookworm"
IMAGE = "recommendation-engine:test"
# Every container and volume the tests create carries it (`docker ps -a --filter label=`).
LABEL = "recommendation-engine-test"


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it when DEPLOY_TESTS=required."""
    if os.environ.get("DEPLOY_TESTS") == "required":
        pytest.fail(f"{reason} (DEPLOY_TESTS=required)", pytrace=False)
    pytest.skip(reason)


class Docker:
    """The `docker` client, and the base image the service's image is built on."""

    def __init__(self, client: str, base_image: str) -> None:
        self.client = client
        self.base_image = base_image

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.client, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def image_exists(self, image: str) -> bool:
        return self.run("image", "inspect", image, check=False).returncode == 0


@pytest.fixture(scope="session")
def docker() -> Docker:
    client = shutil.which("docker")
    if client is None:
        unavailable("no docker client on the PATH")
    try:
        info = subprocess.run(
            [client, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable("`docker info` did not answer within 30 s")
    if info.returncode != 0 or not info.stdout.strip():
        unavailable(f"no Docker daemon answers `docker info`: {info.stderr.strip()[-300:]}")
    chosen = os.environ.get("DEPLOY_BASE_IMAGE")
    handle = Docker(client, chosen or BASE_IMAGE)
    if not chosen and not handle.image_exists(BASE_IMAGE):
        unavailable(
            f"the base image {BASE_IMAGE} is missing: build it with "
            "`sudo deploy/docker/build-base.sh`, or set DEPLOY_BASE_IMAGE to a registry's "
            "image (python:3.11-slim-bookworm)"
        )
    return handle


@pytest.fixture(scope="session")
def service_image(docker: Docker) -> str:
    given = os.environ.get("DEPLOY_IMAGE")
    if given:
        return given
    docker.run(
        "build",
        "--build-arg",
        f"BASE_IMAGE={docker.base_image}",
        "--label",
        LABEL,
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1800,
    )
    return IMAGE


class Containers:
    """Containers and volumes of one test, all removed when it ends."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker
        self.names: list[str] = []
        self.volumes: list[str] = []

    def run(self, image: str, *args: str, command: tuple[str, ...] = ()) -> str:
        """``docker run -d`` with ``args`` (options) and ``command``; the container's name."""
        name = f"{LABEL}-{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        self.docker.run("run", "-d", "--name", name, "--label", LABEL, *args, image, *command)
        return name

    def run_once(
        self, image: str, *args: str, command: tuple[str, ...] = (), timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``docker run --rm`` in the foreground; the finished process, whatever its exit."""
        name = f"{LABEL}-{uuid.uuid4().hex[:10]}"
        self.names.append(name)  # removed after the test should the run time out
        return self.docker.run(
            "run",
            "--rm",
            "--name",
            name,
            "--label",
            LABEL,
            *args,
            image,
            *command,
            check=False,
            timeout=timeout,
        )

    def volume(self) -> str:
        name = f"{LABEL}-{uuid.uuid4().hex[:10]}"
        self.volumes.append(name)
        self.docker.run("volume", "create", "--label", LABEL, name)
        return name

    def inspect(self, name: str, template: str) -> str:
        return self.docker.run("inspect", "--format", template, name).stdout.strip()

    def logs(self, name: str, tail: int = 60) -> str:
        result = self.docker.run("logs", "--tail", str(tail), name, check=False)
        return f"--- docker logs {name} ---\n{result.stdout}{result.stderr}"

    def remove(self) -> None:
        if self.names:
            self.docker.run("rm", "--force", "--volumes", *self.names, check=False)
        if self.volumes:
            self.docker.run("volume", "rm", "--force", *self.volumes, check=False)


@pytest.fixture
def containers(docker: Docker) -> Iterator[Containers]:
    handle = Containers(docker)
    try:
        yield handle
    finally:
        handle.remove()


class UnixForwarder:
    """Accepts TCP connections on 127.0.0.1 and relays each to a Unix socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.socket(socket.AF_UNIX)
                server.connect(self.path)
            except OSError:
                client.close()
                continue
            self._open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            # Either side closing ends the other direction too.
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
                self._open.discard(end)

    def close(self) -> None:
        self._listener.close()
        for end in list(self._open):
            end.close()


@pytest.fixture(scope="session")
def database_tcp_url(database_url: str) -> Iterator[str]:
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if not socket_dir.startswith("/"):  # a TCP address already
        yield database_url
        return
    path = f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"
    forwarder = UnixForwarder(path)
    user = parts.username or "postgres"
    try:
        yield f"postgresql://{user}@127.0.0.1:{forwarder.port}{parts.path or '/postgres'}"
    finally:
        forwarder.close()
