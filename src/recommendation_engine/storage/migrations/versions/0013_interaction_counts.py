"""A tenant's interaction and user counts, kept by the trending fold.

- `interaction_users`: every user with a folded interaction, one row per tenant and user.
- `trending_state.interactions`, `trending_state.users`: how many interactions the fold
  has taken in, and how many users `interaction_users` holds, so that counting them
  never reads the interaction table.
- `interaction_recounts`: tenants whose counts must be worked out again at the next fold
  (an entity was deleted and its interactions with it). Every tenant with trending data
  starts with one, which fills the counts in.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE interaction_users (
            tenant_id text NOT NULL,
            user_id text NOT NULL,
            PRIMARY KEY (tenant_id, user_id)
        )
        """
    )
    op.execute(
        "ALTER TABLE trending_state ADD COLUMN interactions bigint NOT NULL DEFAULT 0, "
        "ADD COLUMN users bigint NOT NULL DEFAULT 0"
    )
    op.execute("CREATE TABLE interaction_recounts (tenant_id text PRIMARY KEY)")
    op.execute("INSERT INTO interaction_recounts SELECT tenant_id FROM trending_state")


def downgrade() -> None:
    op.execute("DROP TABLE interaction_recounts")
    op.execute("ALTER TABLE trending_state DROP COLUMN interactions, DROP COLUMN users")
    op.execute("DROP TABLE interaction_users")
