"""Schema migrations, run by Alembic from the scripts in ``storage/migrations``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form (asyncpg driver) of a libpq-style PostgreSQL URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql:// or postgres://")


def alembic_config(url: str, feature_vector_dimension: int) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = sqlalchemy_url(url)
    config.attributes["feature_vector_dimension"] = feature_vector_dimension
    return config


def upgrade(url: str, feature_vector_dimension: int, revision: str = "head") -> None:
    """Apply every pending migration (idempotent; safe to run from several processes)."""
    command.upgrade(alembic_config(url, feature_vector_dimension), revision)


def current_revision(url: str, feature_vector_dimension: int) -> None:
    command.current(alembic_config(url, feature_vector_dimension))
