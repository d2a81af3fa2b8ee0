"""indexes for a million residents: held messages per account, the clock's remaining scans

Revision ID: 0014_h13_scale_clock
Revises: 0013_scale_indexes
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_h13_scale_clock"
down_revision: str | None = "0014_h14_console_open311"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = sa.text("status = 'held'")


def upgrade() -> None:
    # Looked up on every message (models/people.py: load_chat); only held rows are in it.
    op.create_index(
        "ix_outbox_held_account",
        "outbox",
        ["account_id"],
        unique=False,
        sqlite_where=HELD,
        postgresql_where=HELD,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_held_account", table_name="outbox")
