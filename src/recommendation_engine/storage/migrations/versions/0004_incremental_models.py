"""Incremental model versions: a version stores only the items it changed.

A full build is a *base*: it writes every item. An incremental update writes a new
version of the same base holding only the items whose neighbour lists changed; a
reader of version V takes, for each item, the newest row of V's base at or below V.
Item rows belong to their base, and go when the base's model row is deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE models ADD COLUMN base_version bigint")
    op.execute("ALTER TABLE models ADD COLUMN updated_at timestamptz")
    op.execute("UPDATE models SET base_version = version, updated_at = trained_at")
    op.execute("ALTER TABLE models ALTER COLUMN base_version SET NOT NULL")
    op.execute("ALTER TABLE model_items ADD COLUMN base bigint")
    op.execute("UPDATE model_items SET base = version")
    op.execute("ALTER TABLE model_items ALTER COLUMN base SET NOT NULL")
    op.execute("ALTER TABLE model_items DROP CONSTRAINT model_items_pkey")
    op.execute("ALTER TABLE model_items DROP CONSTRAINT model_items_tenant_id_version_fkey")
    op.execute("DROP INDEX model_items_entity_idx")
    op.execute("DROP INDEX model_items_popularity_idx")
    op.execute("ALTER TABLE model_items ADD PRIMARY KEY (tenant_id, base, item, version)")
    op.execute(
        "ALTER TABLE model_items ADD FOREIGN KEY (tenant_id, base) "
        "REFERENCES models (tenant_id, version) ON DELETE CASCADE"
    )
    op.execute(
        "CREATE INDEX model_items_entity_idx ON model_items "
        "(tenant_id, base, entity_type, entity_id, version)"
    )
    op.execute(
        "CREATE INDEX model_items_popularity_idx ON model_items "
        "(tenant_id, base, popularity DESC, item)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM models")
    op.execute("DROP INDEX model_items_popularity_idx")
    op.execute("DROP INDEX model_items_entity_idx")
    op.execute("ALTER TABLE model_items DROP CONSTRAINT model_items_tenant_id_base_fkey")
    op.execute("ALTER TABLE model_items DROP CONSTRAINT model_items_pkey")
    op.execute("ALTER TABLE model_items DROP COLUMN base")
    op.execute("ALTER TABLE model_items ADD PRIMARY KEY (tenant_id, version, item)")
    op.execute(
        "ALTER TABLE model_items ADD FOREIGN KEY (tenant_id, version) "
        "REFERENCES models ON DELETE CASCADE"
    )
    op.execute(
        "CREATE UNIQUE INDEX model_items_entity_idx ON model_items "
        "(tenant_id, version, entity_type, entity_id)"
    )
    op.execute(
        "CREATE INDEX model_items_popularity_idx ON model_items "
        "(tenant_id, version, popularity DESC)"
    )
    op.execute("ALTER TABLE models DROP COLUMN updated_at")
    op.execute("ALTER TABLE models DROP COLUMN base_version")
