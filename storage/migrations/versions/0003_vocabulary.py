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

# Ticks were stored by position ("s<section>.i<item>") in the shipped checklist; the ids below
# are those items' ids in bot/defaults/policy.yml. Keys of other (team) checklists are kept as
# they are: the release shows them as unknown until re-ticked.
POSITION_TO_ID = {
    "s0.i0": "tests_pass", "s0.i1": "security_scan", "s0.i2": "performance", "s0.i3": "compliance",
    "s1.i0": "version_bumped", "s1.i1": "changelog", "s1.i2": "migration_plan",
    "s2.i0": "deployed", "s2.i1": "monitoring",
    "s3.i0": "smoke_tests", "s3.i1": "metrics_healthy",
}
_release = sa.table("release", sa.column("id", sa.Integer), sa.column("checklist", sa.JSON))
_outbox = sa.table("outbox_message", sa.column("id", sa.Integer), sa.column("op", sa.String),
                   sa.column("payload", sa.JSON), sa.column("sent_at", sa.DateTime))


def _rekey(mapping: dict[str, str]) -> None:
    conn = op.get_bind()
    for row_id, checklist in conn.execute(sa.select(_release.c.id, _release.c.checklist)).all():
        if checklist and any(k in mapping for k in checklist):
            conn.execute(sa.update(_release).where(_release.c.id == row_id)
                         .values(checklist={mapping.get(k, k): v for k, v in checklist.items()}))


def upgrade() -> None:
    _rekey(POSITION_TO_ID)
    conn = op.get_bind()
    # Pending announcements were queued with the renderer's name as their op; now the op is
    # "render" and the payload names the renderer.
    pending = conn.execute(sa.select(_outbox.c.id, _outbox.c.payload)
                           .where(_outbox.c.op == "release_announcement")).all()
    for row_id, payload in pending:
        conn.execute(sa.update(_outbox).where(_outbox.c.id == row_id)
                     .values(op="render", payload={"renderer": "release_announcement", **(payload or {})}))


def downgrade() -> None:
    _rekey({v: k for k, v in POSITION_TO_ID.items()})
    conn = op.get_bind()
    rows = conn.execute(sa.select(_outbox.c.id, _outbox.c.payload).where(_outbox.c.op == "render")).all()
    for row_id, payload in rows:
        payload = dict(payload or {})
        name = payload.pop("renderer", None)
        if name == "release_announcement":
            conn.execute(sa.update(_outbox).where(_outbox.c.id == row_id).values(op=name, payload=payload))
