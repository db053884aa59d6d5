"""one vocabulary: release announcements queued as Op.RENDER rows; checklist ticks stored by item id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 11:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_outbox = sa.table("outbox_message", sa.column("id", sa.Integer), sa.column("op", sa.String),
                   sa.column("payload", sa.JSON), sa.column("sent_at", sa.DateTime))


def upgrade() -> None:
    conn = op.get_bind()
    # Pending announcements were queued with the renderer's name as their op; now the op is
    # "render" and the payload names the renderer.
    pending = conn.execute(sa.select(_outbox.c.id, _outbox.c.payload)
                           .where(_outbox.c.op == "release_announcement")).all()
    for row_id, payload in pending:
        conn.execute(sa.update(_outbox).where(_outbox.c.id == row_id)
                     .values(op="render", payload={"renderer": "release_announcement", **(payload or {})}))


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_outbox.c.id, _outbox.c.payload).where(_outbox.c.op == "render")).all()
    for row_id, payload in rows:
        payload = dict(payload or {})
        name = payload.pop("renderer", None)
        if name == "release_announcement":
            conn.execute(sa.update(_outbox).where(_outbox.c.id == row_id).values(op=name, payload=payload))
