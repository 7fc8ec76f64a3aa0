"""Daily interaction aggregates and precomputed trending lists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE interaction_daily (
            tenant_id text NOT NULL,
            day date NOT NULL,
            entity_type text NOT NULL,
            entity_id text NOT NULL,
            weight double precision NOT NULL,
            events integer NOT NULL,
            PRIMARY KEY (tenant_id, day, entity_type, entity_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE trending_state (
            tenant_id text PRIMARY KEY,
            last_interaction_id bigint NOT NULL DEFAULT 0,
            lists_computed_at timestamptz
        )
        """
    )
    # entity_type '' holds the list across all types.
    op.execute(
        """
        CREATE TABLE trending (
            tenant_id text NOT NULL,
            entity_type text NOT NULL,
            window_days integer NOT NULL,
            rank integer NOT NULL,
            item_type text NOT NULL,
            item_id text NOT NULL,
            score double precision NOT NULL,
            PRIMARY KEY (tenant_id, entity_type, window_days, rank)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trending")
    op.execute("DROP TABLE trending_state")
    op.execute("DROP TABLE interaction_daily")
