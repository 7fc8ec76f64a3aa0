"""The dashboard's tables: sign-in sessions, the history of model versions, offline
evaluation runs; and a BRIN index that finds a day's interactions by time.

- `dashboard_sessions`: one row per signed-in browser, keyed by the SHA-256 digest of
  its cookie (never the cookie itself), with the digest of the API key it signed in
  with, so that a revoked key ends its sessions.
- `model_history`: a row per version that went live, written by a trigger on `models`
  (publication deletes older versions' rows there). Incremental versions are kept two
  days, full builds always.
- `evaluation_runs`: the offline evaluations started from the dashboard, their
  progress and report.
- `interactions_occurred_brin_idx`: interactions arrive in time order, so a BRIN index
  over `occurred_at` finds the last day's rows at almost no cost to writes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE dashboard_sessions (
            session_hash bytea PRIMARY KEY,
            key_hash bytea NOT NULL,
            tenant_id text,
            csrf_token text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX dashboard_sessions_expiry_idx ON dashboard_sessions (expires_at)")
    op.execute("CREATE INDEX dashboard_sessions_tenant_idx ON dashboard_sessions (tenant_id)")
    op.execute(
        """
        CREATE TABLE model_history (
            tenant_id text NOT NULL,
            version bigint NOT NULL,
            base_version bigint NOT NULL,
            algorithm text NOT NULL,
            config jsonb NOT NULL,
            started_at timestamptz NOT NULL,
            trained_at timestamptz,
            published_at timestamptz NOT NULL,
            users integer NOT NULL,
            items integer NOT NULL,
            interactions bigint NOT NULL,
            PRIMARY KEY (tenant_id, version)
        )
        """
    )
    op.execute(
        "CREATE INDEX model_history_published_idx ON model_history (tenant_id, published_at)"
    )
    op.execute(
        """
        CREATE FUNCTION record_model_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO model_history (tenant_id, version, base_version, algorithm, config,
                                       started_at, trained_at, published_at, users, items,
                                       interactions)
            VALUES (NEW.tenant_id, NEW.version, NEW.base_version, NEW.algorithm, NEW.config,
                    NEW.started_at, NEW.trained_at, coalesce(NEW.updated_at, now()),
                    NEW.users, NEW.items, NEW.interactions)
            ON CONFLICT (tenant_id, version) DO UPDATE
                SET config = EXCLUDED.config, users = EXCLUDED.users, items = EXCLUDED.items,
                    interactions = EXCLUDED.interactions, trained_at = EXCLUDED.trained_at;
            DELETE FROM model_history
            WHERE tenant_id = NEW.tenant_id AND version <> base_version
              AND published_at < now() - interval '2 days';
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER models_record_history AFTER INSERT OR UPDATE ON models "
        "FOR EACH ROW WHEN (NEW.state = 'live') EXECUTE FUNCTION record_model_history()"
    )
    op.execute(
        """
        INSERT INTO model_history (tenant_id, version, base_version, algorithm, config,
                                   started_at, trained_at, published_at, users, items,
                                   interactions)
        SELECT tenant_id, version, base_version, algorithm, config, started_at, trained_at,
               coalesce(updated_at, trained_at, started_at), users, items, interactions
        FROM models WHERE state IN ('live', 'retired')
        """
    )
    op.execute(
        """
        CREATE TABLE evaluation_runs (
            run_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id text NOT NULL,
            state text NOT NULL CHECK (state IN ('running', 'done', 'failed')),
            steps_done integer NOT NULL DEFAULT 0,
            steps integer NOT NULL DEFAULT 0,
            step text,
            report jsonb,
            error text,
            started_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX evaluation_runs_tenant_idx ON evaluation_runs (tenant_id, started_at DESC)"
    )
    op.execute(
        "CREATE INDEX interactions_occurred_brin_idx ON interactions USING brin (occurred_at) "
        "WITH (pages_per_range = 16, autosummarize = on)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX interactions_occurred_brin_idx")
    op.execute("DROP TABLE evaluation_runs")
    op.execute("DROP TRIGGER models_record_history ON models")
    op.execute("DROP FUNCTION record_model_history()")
    op.execute("DROP TABLE model_history")
    op.execute("DROP TABLE dashboard_sessions")
