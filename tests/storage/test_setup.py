"""Migrations and the start-up schema check against the real database."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory

from recommendation_engine.storage.migrate import alembic_config, upgrade
from recommendation_engine.storage.setup import SchemaMismatch, check_schema
from tests.support import fetch


def test_migrations_are_idempotent_and_recorded(database_url: str) -> None:
    upgrade(database_url, 512)  # already at head: a no-op, not an error
    versions = fetch(database_url, "SELECT version_num FROM alembic_version")
    head = ScriptDirectory.from_config(alembic_config(database_url, 512)).get_current_head()
    assert versions == [{"version_num": head}]
    tables = {
        row["tablename"]
        for row in fetch(database_url, "SELECT tablename FROM pg_tables WHERE schemaname='public'")
    }
    assert {"entities", "interactions", "interaction_types"} <= tables
    for table in ("entities", "interactions", "interaction_types"):
        columns = fetch(
            database_url,
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
            table,
        )
        assert {"column_name": "tenant_id"} in columns


def test_a_different_vector_dimension_is_refused(database_url: str) -> None:
    asyncio.run(check_schema(database_url, 512))
    with pytest.raises(SchemaMismatch, match="FEATURE_VECTOR_DIMENSION=512"):
        asyncio.run(check_schema(database_url, 256))
