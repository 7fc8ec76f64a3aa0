"""Registered tenants with their configuration, and API keys bound to a tenant.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE tenants (
            tenant_id text PRIMARY KEY,
            name text,
            config jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # Only a SHA-256 digest of each key is kept; the key itself is shown once, at creation.
    # A key without a tenant is an administrator's key.
    op.execute(
        """
        CREATE TABLE api_keys (
            key_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            key_hash bytea NOT NULL UNIQUE,
            key_prefix text NOT NULL,
            name text,
            tenant_id text REFERENCES tenants ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id)")


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
    op.execute("DROP TABLE tenants")
