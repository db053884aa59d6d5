"""ticked requirements of release tasks

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-28 16:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing tasks were asked before requirements could be ticked: they read as nothing ticked.
    with op.batch_alter_table('release_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ticked', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('release_task', schema=None) as batch_op:
        batch_op.drop_column('ticked')
