"""A counter per tenant that moves on whenever one of its entities changes or goes.

Replicas keep the entity rows that recommendation requests read (service.entity_rows)
and trust a kept row only while its tenant's counter is the one read at the start of
the request. Updating or deleting an entity moves the counter in the same statement,
so the change and the counter commit together.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE catalogue_generations (
            tenant_id text PRIMARY KEY,
            generation bigint NOT NULL
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE catalogue_generations")
