"""indexes for a district: the clock's queries, housekeeping, role lookups

Revision ID: 0013_scale_indexes
Revises: 0012_event_duties
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_scale_indexes"
down_revision: str | None = "0012_event_duties"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_rolegrant_role", "rolegrant", ["role", "community_id"]),
    ("ix_outbox_created_at", "outbox", ["created_at"]),
    ("ix_conversation_expires_at", "conversation", ["expires_at"]),
    ("ix_report_active", "report", ["state", "community_id"]),
    ("ix_task_uncredited", "task", ["state", "hours_credited_at"]),
    ("ix_notice_due", "notice", ["status", "scheduled_at"]),
    ("ix_benefitapplication_untold", "benefitapplication", ["on_behalf", "resident_told_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
