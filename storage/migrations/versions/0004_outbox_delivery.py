"""outbox delivery: order per channel, fast lane, leases with a sending mark, shared pacing

Revision ID: 0004
Revises: 0007
Create Date: 2026-11-28 10:55:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = '0004'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('send_pace',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=140), nullable=False),
    sa.Column('tat', storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('order_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('fast', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('sending_at', storage.types.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_outbox_order', ['order_key', 'id'], unique=False,
                              sqlite_where=sa.text('sent_at IS NULL AND failed = 0'),
                              postgresql_where=sa.text('sent_at IS NULL AND failed = false'))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_order', sqlite_where=sa.text('sent_at IS NULL AND failed = 0'),
                            postgresql_where=sa.text('sent_at IS NULL AND failed = false'))
        batch_op.drop_column('sending_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('fast')
        batch_op.drop_column('order_key')
    op.drop_table('send_pace')
