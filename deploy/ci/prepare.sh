#!/usr/bin/env bash
# What the deployment tests (tests/deploy/) need on a CI machine, installed when missing:
# each part below is added by the piece of the deployment it serves.
set -euo pipefail
cd "$(dirname "$0")/../.."
