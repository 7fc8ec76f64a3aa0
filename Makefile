# The two commands a newcomer needs: `make run` and `make test`.
#
# Both install exactly the versions in the lock files (requirements.lock for the service,
# requirements-dev.lock with the development tools too), every file checked against its
# hash, with the pip that Python brings. `make lock` resolves them again from the ranges
# in pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080
# The development key the README's examples use. Set API_KEY yourself for anything else.
API_KEY ?= dev-api-key
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test install install-dev lint format bench lock clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The lock holds setuptools too, so the package itself is built without fetching anything.
# The Python client (clients/python) comes along: `recommendation-engine demo` loads its
# data through it, and its one dependency, httpx, is in the lock.
$(VENV)/.installed: requirements.lock pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements.lock
	$(PIP_INSTALL) --no-deps --no-build-isolation -e . -e ./clients/python
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --require-hashes --no-deps -r requirements-dev.lock
	$(PIP_INSTALL) --no-deps --no-build-isolation -e . -e ./clients/python
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	API_KEY=$(API_KEY) PORT=$(PORT) $(BIN)/recommendation-engine serve

# The service's suite, then the Python and the TypeScript clients' (each in its own
# environment, from its own lock file, against services they start from this one).
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	$(MAKE) -C clients/python test SERVICE_PYTHON=$(abspath $(BIN)/python)
	$(MAKE) -C clients/typescript test SERVICE_PYTHON=$(abspath $(BIN)/python)

# The README's pictures of the dashboard, taken by its browser tests (needs chromium).
screenshots: install-dev
	DASHBOARD_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q tests/dashboard/test_pages.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python -m benchmarks.foundation

# Resolve both locks for Python 3.11 on every platform: the development lock first, then
# the service's within it, so that the two agree on every version they share.
LOCK_FLAGS := --quiet --universal --python-version 3.11 --generate-hashes --no-header
BUILD_REQUIRES := $(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')"
lock: install-dev
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml - --extra dev -o requirements-dev.lock
	$(BUILD_REQUIRES) | $(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml - -c requirements-dev.lock -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
