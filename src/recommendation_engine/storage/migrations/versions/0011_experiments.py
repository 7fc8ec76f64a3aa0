"""Experiments and impressions, and the recommendation an interaction answers.

- `experiments`: a tenant's A/B tests: the route they apply to, their variants (name,
  share, overrides) as JSON, the salt users are hashed with, which interaction types
  count as clicks and as conversions, and when they were started and stopped.
- `impressions`: one row per recommendation answer served: its `recommendation_id`,
  the user (when known), the experiment and variant (when any), the route, the
  algorithm, and the entities shown in order. Written in batches by each replica.
- `interactions.recommendation_id`: the answer an interaction was a response to, when
  the client sent it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE experiments (
            tenant_id text NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL,
            route text NOT NULL CHECK (route IN ('user', 'similar', 'both')),
            state text NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'running', 'stopped')),
            salt text NOT NULL,
            variants jsonb NOT NULL,
            click_types text[] NOT NULL,
            conversion_types text[] NOT NULL,
            planned_users_per_variant integer,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            stopped_at timestamptz,
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute("CREATE INDEX experiments_state_idx ON experiments (tenant_id, state)")
    op.execute(
        """
        CREATE TABLE impressions (
            tenant_id text NOT NULL,
            recommendation_id uuid NOT NULL,
            user_id text,
            experiment_id uuid,
            variant text,
            route text NOT NULL,
            algorithm text NOT NULL,
            entity_types text[] NOT NULL,
            entity_ids text[] NOT NULL,
            shown_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, recommendation_id)
        )
        """
    )
    op.execute(
        "CREATE INDEX impressions_user_idx ON impressions (tenant_id, user_id, shown_at DESC)"
    )
    op.execute(
        "CREATE INDEX impressions_experiment_idx ON impressions (tenant_id, experiment_id) "
        "WHERE experiment_id IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX impressions_shown_brin_idx ON impressions USING brin (shown_at) "
        "WITH (pages_per_range = 16, autosummarize = on)"
    )
    op.execute("ALTER TABLE interactions ADD COLUMN recommendation_id uuid")


def downgrade() -> None:
    op.execute("ALTER TABLE interactions DROP COLUMN recommendation_id")
    op.execute("DROP TABLE impressions")
    op.execute("DROP TABLE experiments")
