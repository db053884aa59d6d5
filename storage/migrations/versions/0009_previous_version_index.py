"""index for what ran before a version in one environment

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 13:45:00
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # previous_version (asked on every rollback and delegated deploy) filtered a service's whole
    # history across environments; this reads one environment's, newest first, from the index.
    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.create_index('ix_deployment_service_env_finished', ['service', 'environment', 'finished_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.drop_index('ix_deployment_service_env_finished')
