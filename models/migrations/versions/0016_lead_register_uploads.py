"""register uploads: a register file sent in the chat, kept (encrypted) until its import ends

Revision ID: 0016_lead_register_uploads
Revises: 0015_h12g_survey_audience
Create Date: 2026-12-08 01:20:00

A restart in the middle of a big import resumes it from this row (the import is idempotent);
the import's last transaction deletes the row together with the final report.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.db

revision: str = "0016_lead_register_uploads"
down_revision: str | None = "0015_h12g_survey_audience"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registerupload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("today", sa.Date(), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", models.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("beat_at", models.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registerupload", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registerupload_community_id"), ["community_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("registerupload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registerupload_community_id"))
    op.drop_table("registerupload")
