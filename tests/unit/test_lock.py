"""The lock files pin every package the ranges in pyproject.toml ask for, within them."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[str, list[tuple[Version, Marker | None]]]:
    """Each package of a lock file: its pinned versions, each with its marker."""
    found: dict[str, list[tuple[Version, Marker | None]]] = {}
    lines = (ROOT / name).read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        package, version, marker = match.groups()
        assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{package} has no hash"
        found.setdefault(canonicalize_name(package), []).append(
            (Version(version), Marker(marker) if marker else None)
        )
    return found


def wanted(extras: tuple[str, ...] = ()) -> list[Requirement]:
    requirements = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    for extra in extras:
        requirements += PYPROJECT["project"]["optional-dependencies"][extra]
    return [Requirement(r) for r in requirements]


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("dev",))]
)
def test_the_lock_pins_every_requirement_within_its_range(lock: str, extras: tuple) -> None:
    locked = pins(lock)
    for requirement in wanted(extras):
        versions = locked.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in {lock}: run `make lock`"
        for version, _ in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} pins {requirement.name} {version}, outside {requirement.specifier}: "
                "run `make lock`"
            )


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    service, development = pins("requirements.lock"), pins("requirements-dev.lock")
    for package, versions in service.items():
        assert development.get(package) == versions, package
    assert set(service) < set(development)


def test_this_environment_is_installed_from_the_development_lock() -> None:
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    locked = pins("requirements-dev.lock")
    for line in installed:
        package, version = line.split("==")
        if canonicalize_name(package) == "pip":
            continue
        versions = locked.get(canonicalize_name(package), [])
        here = [v for v, marker in versions if marker is None or marker.evaluate()]
        assert here == [Version(version)], f"{package} {version} is installed, the lock has {here}"


def test_the_service_lock_holds_what_the_python_client_needs() -> None:
    # The client is installed beside the service (`demo` uses it) without resolving
    # anything: its dependencies must be pinned, within its ranges, by the service's lock.
    client = tomllib.loads((ROOT / "clients" / "python" / "pyproject.toml").read_text())
    locked = pins("requirements.lock")
    for text in client["project"]["dependencies"]:
        requirement = Requirement(text)
        versions = locked.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name}, which the client needs, is not in requirements.lock"
        assert all(requirement.specifier.contains(v) for v, _ in versions), requirement
