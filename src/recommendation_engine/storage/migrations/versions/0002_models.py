"""Trained models: versions, item vocabularies and neighbour lists.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE model_version_seq")
    op.execute(
        """
        CREATE TABLE models (
            tenant_id text NOT NULL,
            version bigint NOT NULL,
            state text NOT NULL CHECK (state IN ('building', 'live', 'retired')),
            algorithm text NOT NULL,
            config jsonb NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            trained_at timestamptz,
            users integer NOT NULL DEFAULT 0,
            items integer NOT NULL DEFAULT 0,
            interactions bigint NOT NULL DEFAULT 0,
            last_interaction_id bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, version)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX models_one_live_idx ON models (tenant_id) WHERE state = 'live'")
    # Item i of a model version: its entity and popularity; neighbours are packed arrays
    # (int32 item numbers, float32 scores, best first) decoded without per-value parsing.
    op.execute(
        """
        CREATE TABLE model_items (
            tenant_id text NOT NULL,
            version bigint NOT NULL,
            item integer NOT NULL,
            entity_type text NOT NULL,
            entity_id text NOT NULL,
            popularity real NOT NULL,
            neighbours bytea NOT NULL,
            scores bytea NOT NULL,
            PRIMARY KEY (tenant_id, version, item),
            FOREIGN KEY (tenant_id, version) REFERENCES models ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX model_items_entity_idx ON model_items "
        "(tenant_id, version, entity_type, entity_id)"
    )
    op.execute(
        "CREATE INDEX model_items_popularity_idx ON model_items "
        "(tenant_id, version, popularity DESC)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE model_items")
    op.execute("DROP TABLE models")
    op.execute("DROP SEQUENCE model_version_seq")
