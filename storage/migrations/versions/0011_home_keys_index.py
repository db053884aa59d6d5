"""index the slack_ref rows of opened App Homes, read every 10 s

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 16:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The Home list was a LIKE over every stored message ref, on the ack path every 10 s; a
    # partial index holds only the Homes' keys, whatever the collation.
    with op.batch_alter_table('slack_ref', schema=None) as batch_op:
        batch_op.create_index('ix_slack_ref_home', ['key'], unique=False,
                              sqlite_where=sa.text("key LIKE 'home:%'"),
                              postgresql_where=sa.text("key LIKE 'home:%'"))


def downgrade() -> None:
    with op.batch_alter_table('slack_ref', schema=None) as batch_op:
        batch_op.drop_index('ix_slack_ref_home', sqlite_where=sa.text("key LIKE 'home:%'"),
                            postgresql_where=sa.text("key LIKE 'home:%'"))
