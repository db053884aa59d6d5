"""index the outbox's sent time, for the sweep that drops rows sent a week ago

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 15:35:00
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The sweep (every 30 s) read the whole outbox, a week of sent rows, to find the few to drop.
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_sent_at'), ['sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_sent_at'))
