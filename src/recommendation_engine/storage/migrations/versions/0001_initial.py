"""Entities, interactions and interaction types.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    dimension = int(context.config.attributes["feature_vector_dimension"])
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        f"""
        CREATE TABLE entities (
            tenant_id text NOT NULL,
            entity_type text NOT NULL,
            entity_id text NOT NULL,
            attributes jsonb NOT NULL DEFAULT '{{}}',
            feature_vector vector({dimension}),
            indexed boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, entity_type, entity_id)
        )
        """
    )
    # Keep vectors in the row (pgvector's default storage moves any value over ~2 kB, a
    # 512-dimension vector, out to TOAST): reading one then costs no extra lookups.
    op.execute("ALTER TABLE entities ALTER COLUMN feature_vector SET STORAGE MAIN")
    op.execute("CREATE INDEX entities_tenant_entity_id_idx ON entities (tenant_id, entity_id)")
    # Writes leave `indexed` false; a background job moves rows into the HNSW index in
    # batches, and searches compare the few rows still pending exactly. m=12 and
    # ef_construction=40 cost about two thirds of pgvector's defaults (16, 64) per insert
    # for a recall@10 of 0.95-0.97 on attribute vectors (benchmarks/RESULTS.md).
    op.execute(
        "CREATE INDEX entities_feature_vector_idx ON entities "
        "USING hnsw (feature_vector vector_cosine_ops) WITH (m = 12, ef_construction = 40) "
        "WHERE indexed"
    )
    op.execute(
        "CREATE INDEX entities_pending_vector_idx ON entities (tenant_id, entity_type) "
        "WHERE NOT indexed"
    )
    op.execute(
        """
        CREATE TABLE interaction_types (
            tenant_id text NOT NULL,
            interaction_type text NOT NULL,
            default_weight double precision NOT NULL,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, interaction_type)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE interactions (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            tenant_id text NOT NULL,
            user_id text NOT NULL,
            entity_type text NOT NULL,
            entity_id text NOT NULL,
            interaction_type text NOT NULL,
            weight double precision,
            value double precision,
            metadata jsonb,
            event_id text,
            occurred_at timestamptz NOT NULL DEFAULT now(),
            created_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (tenant_id, entity_type, entity_id)
                REFERENCES entities (tenant_id, entity_type, entity_id) ON DELETE CASCADE
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX interactions_event_id_key ON interactions (tenant_id, event_id) "
        "WHERE event_id IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX interactions_user_idx ON interactions "
        "(tenant_id, user_id, occurred_at DESC, id DESC)"
    )
    op.execute(
        "CREATE INDEX interactions_entity_idx ON interactions "
        "(tenant_id, entity_type, entity_id, occurred_at DESC, id DESC)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE interactions")
    op.execute("DROP TABLE interaction_types")
    op.execute("DROP TABLE entities")
