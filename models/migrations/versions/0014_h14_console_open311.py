"""staff desk sign-in (one-time links, sessions) and Open311 keys and tokens

Revision ID: 0014_h14_console_open311
Revises: 0013_scale_indexes
Create Date: 2026-12-03 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.db

revision: str = "0014_h14_console_open311"
down_revision: str | None = "0014_surveys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ts = models.db.UTCDateTime(timezone=True)
_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "consolelink",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("expires_at", _ts, nullable=False),
        sa.Column("used_at", _ts, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("consolelink", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consolelink_person_id"), ["person_id"], unique=False)

    op.create_table(
        "consolesession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("csrf", _str(length=64), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("expires_at", _ts, nullable=False),
        sa.Column("ended_at", _ts, nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consolesession_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "open311key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("name", _str(length=64), nullable=False),
        sa.Column("key_hash", _str(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.Column("revoked_at", _ts, nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "open311token",
        sa.Column("token", _str(length=48), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts, nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["open311key.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("token"),
    )


def downgrade() -> None:
    op.drop_table("open311token")
    op.drop_table("open311key")
    with op.batch_alter_table("consolesession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolesession_person_id"))
    op.drop_table("consolesession")
    with op.batch_alter_table("consolelink", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consolelink_person_id"))
    op.drop_table("consolelink")
