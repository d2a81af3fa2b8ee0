"""the register import keeps its rejected rows (the per-row report as a file, on request)

Revision ID: 0014_register_rejections
Revises: 0013_scale_indexes
Create Date: 2026-12-03 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_register_rejections"
down_revision: str | None = "0014_h13_scale_clock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registerimport") as batch:
        batch.add_column(
            sa.Column("rejections", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("registerimport") as batch:
        batch.drop_column("rejections")
