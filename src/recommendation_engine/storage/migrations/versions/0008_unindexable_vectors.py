"""`entities.indexed` may be NULL: a vector the half-precision index cannot hold.

A vector stored before values were bounded to the half-precision range (±65,504) fails
to enter the HNSW index, and fails every exact comparison with a pending row too. The
indexer marks such a row NULL, neither indexed nor pending, so that it no longer stops
the other rows: the entity is still read by id, it is only left out of vector search.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE entities ALTER COLUMN indexed DROP NOT NULL")


def downgrade() -> None:
    op.execute("UPDATE entities SET indexed = false WHERE indexed IS NULL")
    op.execute("ALTER TABLE entities ALTER COLUMN indexed SET NOT NULL")
