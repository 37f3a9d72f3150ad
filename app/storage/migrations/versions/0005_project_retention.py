"""projects.keep_client_rounds: how many rounds of client updates a run keeps on disk

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        # NULL keeps all; 0 none; N the last N rounds. Existing projects get the default.
        batch_op.add_column(
            sa.Column("keep_client_rounds", sa.Integer(), nullable=True, server_default="10")
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("keep_client_rounds")
