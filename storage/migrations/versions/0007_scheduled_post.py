"""scheduled posts: the weekly metrics digest's DB-held schedule

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 11:50:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduled_post',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('spec', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('next_due_at', storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_done_at', storage.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('scheduled_post')
