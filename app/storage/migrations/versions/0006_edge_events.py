"""edge_events: each change of an edge's status, for its connection history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edge_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["edge_id"],
            ["edges.id"],
            name=op.f("fk_edge_events_edge_id_edges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_events")),
    )
    op.create_index("ix_edge_events_edge_at", "edge_events", ["edge_id", "at"], unique=False)
    op.create_index(op.f("ix_edge_events_at"), "edge_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_edge_events_at"), table_name="edge_events")
    op.drop_index("ix_edge_events_edge_at", table_name="edge_events")
    op.drop_table("edge_events")
