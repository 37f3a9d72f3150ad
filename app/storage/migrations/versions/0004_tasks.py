"""tasks, the task a job runs, the data keys an edge declares

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("data_key", sa.String(length=64), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_tasks_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint("name", "version", name="uq_tasks_name_version"),
        sa.UniqueConstraint("name", "sha256", name="uq_tasks_name_sha256"),
    )
    op.create_index(op.f("ix_tasks_name"), "tasks", ["name"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_name", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("task_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("task_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_keys", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.drop_column("data_keys")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("task_sha256")
        batch_op.drop_column("task_version")
        batch_op.drop_column("task_name")
    op.drop_index(op.f("ix_tasks_name"), table_name="tasks")
    op.drop_table("tasks")
