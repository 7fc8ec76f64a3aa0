"""Settings from the environment: the API key rule and the masked public view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from recommendation_engine.config import Settings

SETTINGS_VARIABLES = (
    "API_KEY",
    "REQUIRE_API_KEY",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "REDIS_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No inherited settings and no `.env` file: each test sets what it needs."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_required_api_key_without_a_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_API_KEY", "true")
    with pytest.raises(ValidationError, match="API_KEY"):
        Settings()


def test_an_empty_api_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "")
    with pytest.raises(ValidationError, match="API_KEY"):
        Settings()


def test_api_key_is_required_by_default() -> None:
    with pytest.raises(ValidationError, match="API_KEY"):
        Settings()


def test_no_key_is_needed_when_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_API_KEY", "false")
    settings = Settings()
    assert settings.auth.require_api_key is False
    assert settings.auth.api_key is None


def test_variables_are_read_into_their_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/x")
    monkeypatch.setenv("DATABASE_MAX_CONNECTIONS", "7")
    monkeypatch.setenv("MAX_BULK_ITEMS", "12")
    monkeypatch.setenv("LOG_LEVEL", "WARN")
    settings = Settings()
    assert settings.auth.api_key is not None
    assert settings.auth.api_key.get_secret_value() == "k"
    assert settings.database.url is not None
    assert settings.database.url.get_secret_value() == "postgresql://u:p@db/x"
    assert settings.database.max_connections == 7
    assert settings.limits.max_bulk_items == 12
    assert settings.server.log_level == "warn"


def test_public_view_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "super-secret-key")
    monkeypatch.setenv("DATABASE_URL", "postgresql://admin:hunter2@db.internal:5432/reco")
    view = Settings().public_view()
    assert view["auth"]["api_key"] == "********"
    assert view["database"]["url"] == "********"
    assert view["redis"]["url"] is None
    assert view["auth"]["require_api_key"] is True
    text = json.dumps(view)
    for secret in ("super-secret-key", "hunter2", "db.internal"):
        assert secret not in text


def test_public_view_shows_unset_secrets_as_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_API_KEY", "false")
    view = Settings().public_view()
    assert view["auth"]["api_key"] is None
    assert view["database"]["url"] is None
    assert view["engine"]["feature_vector_dimension"] == 512
