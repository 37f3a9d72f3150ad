"""system_samples: one row per (edge, time). Two control centers on one hub both ingest an
edge's heartbeats; each heartbeat is now stored once, whichever writes it first. Copies
stored before are removed (the lowest id of each is kept).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:40:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM system_samples WHERE id NOT IN "
        "(SELECT MIN(id) FROM system_samples GROUP BY edge_id, at)"
    )
    with op.batch_alter_table("system_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_system_samples_edge_at")
        batch_op.create_index("ix_system_samples_edge_at", ["edge_id", "at"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("system_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_system_samples_edge_at")
        batch_op.create_index("ix_system_samples_edge_at", ["edge_id", "at"], unique=False)
