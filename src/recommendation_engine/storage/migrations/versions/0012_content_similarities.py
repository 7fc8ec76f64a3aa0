"""Model items carry the plain cosine similarity of each content neighbour.

A content neighbour list (`content_neighbours`, `content_scores`) ranks by similarity
after the catalogue's common features are taken out, weighted by popularity. A
similar-entities list reports the plain cosine similarity and holds it against
SIMILARITY_THRESHOLD: stored beside the list (float32, in the list's order), it spares
each request computing it from the vectors.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE model_items ADD COLUMN content_similarities bytea")


def downgrade() -> None:
    op.execute("ALTER TABLE model_items DROP COLUMN content_similarities")
