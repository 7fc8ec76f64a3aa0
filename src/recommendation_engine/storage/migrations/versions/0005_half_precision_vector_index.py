"""The HNSW index over half-precision copies of the feature vectors.

Searching it reads half the bytes per graph node, which made a search about a third
cheaper on 512-dimension vectors at the same recall (benchmarks/RESULTS.md), and it
accepts up to 4,000 dimensions where single precision stops at 2,000. Similarities are
still computed on the stored single-precision vectors. Rebuilding the index takes a
while on a large catalogue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dimension = int(context.config.attributes["feature_vector_dimension"])
    # An HNSW build is many times faster while its graph fits in maintenance_work_mem
    # (about 1.3 GB for a million 512-dimension vectors): raise it for this transaction
    # when the server's setting is lower.
    op.execute(
        "SELECT set_config('maintenance_work_mem', '2GB', true) "
        "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < pg_size_bytes('2GB')"
    )
    op.execute("DROP INDEX entities_feature_vector_idx")
    op.execute(
        "CREATE INDEX entities_feature_vector_idx ON entities USING hnsw "
        f"((feature_vector::halfvec({dimension})) halfvec_cosine_ops) "
        "WITH (m = 12, ef_construction = 40) WHERE indexed"
    )


def downgrade() -> None:
    op.execute("DROP INDEX entities_feature_vector_idx")
    op.execute(
        "CREATE INDEX entities_feature_vector_idx ON entities "
        "USING hnsw (feature_vector vector_cosine_ops) WITH (m = 12, ef_construction = 40) "
        "WHERE indexed"
    )
