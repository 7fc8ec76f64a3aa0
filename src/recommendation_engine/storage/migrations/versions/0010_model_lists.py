"""Model items carry the default model's other two lists: long-term and content.

Each item of a model version already has its sequential neighbour list (`neighbours`,
`scores`). The default model blends two more sources, each an item-to-item list of the
same packed form: long-term weights (`engine.long_term`) and content neighbours
(`engine.content_neighbours`). Both are computed at a full rebuild; an incremental
update carries an item's lists over from its previous row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE model_items ADD COLUMN long_term_neighbours bytea, "
        "ADD COLUMN long_term_scores bytea, ADD COLUMN content_neighbours bytea, "
        "ADD COLUMN content_scores bytea"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE model_items DROP COLUMN long_term_neighbours, "
        "DROP COLUMN long_term_scores, DROP COLUMN content_neighbours, "
        "DROP COLUMN content_scores"
    )
