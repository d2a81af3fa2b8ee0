"""Reminders: a message at a time, kept in a table; the clock turns each into one outbox row."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Index, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import timestamp, utcnow
from models.outbox import enqueue, insert_ignoring_duplicates
from models.tables import Community, Person


class ReminderStatus(StrEnum):
    """A reminder waits, was turned into a message, or was skipped because it was too late."""

    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"


class Reminder(SQLModel, table=True):
    """A message due at a time; the clock turns it into an outbox row once."""

    __table_args__ = (Index("ix_reminder_due", "status", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    due_at: datetime = timestamp()
    text: str = Field(sa_type=Text)
    grace_seconds: int = 3600
    status: str = Field(default=ReminderStatus.PENDING, max_length=16)
    handled_at: datetime | None = timestamp(default=None)
    late_seconds: int | None = None
    created_at: datetime = timestamp(default_factory=utcnow)


# A reminder this late is said to be late, with the time it was meant for.
LATE_AFTER = timedelta(minutes=1)


async def remind(
    session: AsyncSession,
    person_id: int,
    at: datetime,
    key: str,
    text: str,
    *,
    now: datetime,
    grace: timedelta = timedelta(hours=1),
) -> bool:
    """Ask for `text` to reach the person at `at`; the same key twice is a no-op (returns False).

    If the service is down at `at`, the reminder goes out late, saying its time, as long as it
    is within `grace`; past that it is skipped and recorded as skipped.
    """
    stmt = (
        insert_ignoring_duplicates(session, Reminder)
        .values(
            key=key,
            person_id=person_id,
            due_at=at,
            text=text,
            grace_seconds=int(grace.total_seconds()),
            status=ReminderStatus.PENDING,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Reminder.id))
    )
    return (await session.execute(stmt)).first() is not None


def local_time(moment: datetime, zone: str) -> str:
    """'03-07 10:00' in the community's time zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M")


async def fire_due_reminders(
    session: AsyncSession, now: datetime, limit: int = 500
) -> dict[str, int]:
    """Clock job: due reminders become outbox rows (late ones say so); too-late ones are skipped."""
    query = (
        select(Reminder, col(Person.community_id))
        .join(Person, col(Person.id) == Reminder.person_id)
        .where(col(Reminder.status) == ReminderStatus.PENDING, col(Reminder.due_at) <= now)
        .order_by(col(Reminder.due_at))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=Reminder, skip_locked=True)
    counts = {"sent": 0, "late": 0, "skipped": 0, "unreachable": 0}
    zones: dict[int, str] = {}
    for reminder, community_id in (await session.execute(query)).all():
        late = now - reminder.due_at
        reminder.handled_at = now
        reminder.late_seconds = int(late.total_seconds())
        if late > timedelta(seconds=reminder.grace_seconds):
            reminder.status = ReminderStatus.SKIPPED
            counts["skipped"] += 1
            continue
        reminder.status = ReminderStatus.SENT
        if community_id not in zones:
            community = await session.get(Community, community_id)
            zones[community_id] = community.timezone if community else "Asia/Shanghai"
        is_late = late > LATE_AFTER
        queued = await enqueue(
            session,
            person_id=reminder.person_id,
            kind="reminder",
            dedupe_key=f"reminder:{reminder.id}",
            now=now,
            text_key="reminder.late" if is_late else "reminder.on_time",
            values={
                "text": reminder.text,
                "time": local_time(reminder.due_at, zones[community_id]),
            },
            priority=1,
        )
        counts["late" if is_late else "sent"] += queued
        counts["unreachable"] += not queued
    return counts
