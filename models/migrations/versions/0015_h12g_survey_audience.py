"""surveys: an audience, as polls have (verified residents, representatives only, a grid, an estate)

Revision ID: 0015_h12g_survey_audience
Revises: 0014_register_rejections
Create Date: 2026-12-03 13:40:00

A survey created from a file (`linli import survey`, or a manager's upload in the chat) opens
to the audience the file names, by the rules polls use (`models.polls.refusal`). Existing
surveys keep their audience: every verified resident of the community.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015_h12g_survey_audience"
down_revision: str | None = "0015_h11g_codes_and_routes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "audience",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                server_default="residents",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("estate", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_foreign_key("fk_survey_grid_id", "grid", ["grid_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("survey", schema=None) as batch_op:
        batch_op.drop_constraint("fk_survey_grid_id", type_="foreignkey")
        batch_op.drop_column("estate")
        batch_op.drop_column("grid_id")
        batch_op.drop_column("audience")
