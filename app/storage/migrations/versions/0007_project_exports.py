"""projects.export_mlflow / export_tensorboard: where each run that ends is exported

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        for column in ("export_mlflow", "export_tensorboard"):
            batch_op.add_column(
                sa.Column(column, sa.String(length=500), nullable=False, server_default="")
            )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("export_tensorboard")
        batch_op.drop_column("export_mlflow")
