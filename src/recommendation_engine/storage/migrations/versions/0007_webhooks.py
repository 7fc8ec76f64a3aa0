"""Webhook subscriptions, the outbox of events and the log of their deliveries.

An event is written in the transaction of the change it reports, with one delivery row
per subscription that wants it; delivering it afterwards is the dispatcher's job, so a
crash between the two loses nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhooks (
            webhook_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id text NOT NULL,
            url text NOT NULL,
            events text[] NOT NULL,
            secret text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id)")
    op.execute(
        """
        CREATE TABLE webhook_events (
            event_id bigserial PRIMARY KEY,
            tenant_id text NOT NULL,
            event text NOT NULL,
            data jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX webhook_events_tenant_idx ON webhook_events (tenant_id)")
    op.execute(
        """
        CREATE TABLE webhook_deliveries (
            delivery_id bigserial PRIMARY KEY,
            webhook_id uuid NOT NULL REFERENCES webhooks ON DELETE CASCADE,
            event_id bigint NOT NULL REFERENCES webhook_events ON DELETE CASCADE,
            tenant_id text NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_attempt_at timestamptz,
            response_status integer,
            error text,
            delivered_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) "
        "WHERE status = 'pending'"
    )
    op.execute(
        "CREATE INDEX webhook_deliveries_webhook_idx "
        "ON webhook_deliveries (webhook_id, delivery_id DESC)"
    )
    op.execute("CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id)")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhook_events")
    op.execute("DROP TABLE webhooks")
