"""ratings of service sessions (居民评议 of the micro-stations' teams)

Revision ID: 0014_service_ratings
Revises: 0013_scale_indexes
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.db

revision: str = "0014_service_ratings"
down_revision: str | None = "0013_scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "servicerating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signup_id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("created_at", models.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["signup_id"], ["signup.id"]),
        sa.ForeignKeyConstraint(["point_id"], ["servicepoint.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signup_id"),
    )
    with op.batch_alter_table("servicerating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_servicerating_point_id"), ["point_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_servicerating_team_id"), ["team_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("servicerating", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_servicerating_team_id"))
        batch_op.drop_index(batch_op.f("ix_servicerating_point_id"))
    op.drop_table("servicerating")
