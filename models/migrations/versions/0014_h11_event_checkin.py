"""events: the QR door poster's token; indexes for the events' and bookings' hot queries

Revision ID: 0014_h11_event_checkin
Revises: 0013_scale_indexes
Create Date: 2026-12-03 09:40:00

`event.checkin_token` (unique) is what `/start ci_<token>` looks up. The indexes serve the
clock's lapsed-offer scan (signup status + offer_expires_at), the join from a slot to its event
(event.slot_id: reminders, RSVP reminders) and "my meetings" (eventinvitee.person_id).
`sessionseries.extend_after` (indexed) lets the clock's tick read only the series whose booking
horizon moved, not every series each tick; existing series are due at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.db

revision: str = "0014_h11_event_checkin"
down_revision: str | None = "0014_service_ratings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_signup_offer", "signup", ["status", "offer_expires_at"]),
    ("ix_event_slot_id", "event", ["slot_id"]),
    ("ix_eventinvitee_person_id", "eventinvitee", ["person_id"]),
]


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("checkin_token", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
    op.create_index("ix_event_checkin_token", "event", ["checkin_token"], unique=True)
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    with op.batch_alter_table("sessionseries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("extend_after", models.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE sessionseries SET extend_after = created_at")
    op.create_index(
        "ix_sessionseries_extend_after", "sessionseries", ["extend_after"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sessionseries_extend_after", table_name="sessionseries")
    with op.batch_alter_table("sessionseries", schema=None) as batch_op:
        batch_op.drop_column("extend_after")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_event_checkin_token", table_name="event")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("checkin_token")
