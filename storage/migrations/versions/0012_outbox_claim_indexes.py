"""outbox: index the pending fast-lane rows; the sent-time index holds only sent rows

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 17:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_FAST = {'sqlite_where': sa.text('sent_at IS NULL AND failed = 0 AND fast = 1'),
         'postgresql_where': sa.text('sent_at IS NULL AND failed = false AND fast = true')}
_SENT = {'sqlite_where': sa.text('sent_at IS NOT NULL'), 'postgresql_where': sa.text('sent_at IS NOT NULL')}


def upgrade() -> None:
    # The fast lane's claim, four times a second, read every pending row to find its few; and
    # 0010's index on sent_at, which also held the pending rows (sent_at IS NULL), drew both
    # lanes' claims away from their ordered partial indexes on SQLite.
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_fast', ['fast', 'not_before', 'id'], unique=False, **_FAST)
        batch_op.drop_index('ix_outbox_message_sent_at')
        batch_op.create_index('ix_outbox_sent', ['sent_at'], unique=False, **_SENT)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_sent', **_SENT)
        batch_op.create_index('ix_outbox_message_sent_at', ['sent_at'], unique=False)
        batch_op.drop_index('ix_outbox_fast', **_FAST)
