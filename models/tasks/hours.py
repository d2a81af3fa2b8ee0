"""Volunteer hours (credited once per finished task) and a volunteer's lists of tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.outbox import enqueue
from models.tasks.kinds import hours_conditions
from models.tasks.tables import Task, TaskOffer, TaskState, VolunteerHours


async def credit_hours(session: AsyncSession, now: datetime) -> int:
    """Finished tasks whose kind lets their hours count now (a report: rated, or 72 hours
    passed without a rating) → hours, once each."""
    waiting = hours_conditions(now)
    when_due = [and_(col(Task.kind) == kind, cond) for kind, cond in waiting.items()]
    due = (
        await session.execute(
            select(Task)
            .where(
                col(Task.state) == TaskState.DONE,
                col(Task.hours_credited_at).is_(None),
                col(Task.minutes_claimed).is_not(None),
                col(Task.assignee_id).is_not(None),
                or_(col(Task.kind).not_in(list(waiting)), *when_due),
            )
            .order_by(col(Task.id))
            .limit(500)
        )
    ).scalars()
    count = 0
    for task in list(due):
        assert task.id is not None and task.assignee_id is not None
        claimed = await session.execute(
            update(Task)
            .where(col(Task.id) == task.id, col(Task.hours_credited_at).is_(None))
            .values(hours_credited_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        minutes = task.minutes_claimed or 0
        session.add(
            VolunteerHours(
                task_id=task.id, person_id=task.assignee_id, minutes=minutes, credited_at=now
            )
        )
        await enqueue(
            session,
            person_id=task.assignee_id,
            kind="hours",
            dedupe_key=f"hours:{task.id}",
            now=now,
            text_key="hours.credited",
            values={"id": task.id, "hours": f"{minutes / 60:.1f}"},
            priority=4,
        )
        count += 1
    await session.flush()
    return count


@dataclass(frozen=True)
class Hours:
    """A volunteer's recorded time, in minutes."""

    total: int
    this_month: int
    tasks: int


async def hours_of(session: AsyncSession, person_id: int, now: datetime, zone: ZoneInfo) -> Hours:
    """All recorded time, and this calendar month's (in the community's time zone)."""
    local = now.astimezone(zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(
        now.tzinfo
    )
    total, count = (
        await session.execute(
            select(func.coalesce(func.sum(VolunteerHours.minutes), 0), func.count()).where(
                col(VolunteerHours.person_id) == person_id
            )
        )
    ).one()
    month = (
        await session.execute(
            select(func.coalesce(func.sum(VolunteerHours.minutes), 0)).where(
                col(VolunteerHours.person_id) == person_id,
                col(VolunteerHours.credited_at) >= month_start,
            )
        )
    ).scalar_one()
    return Hours(int(total), int(month), int(count))


async def my_tasks(session: AsyncSession, person_id: int) -> tuple[list[Task], list[Task]]:
    """(held by me, open and offered to me) — oldest first."""
    held = (
        await session.execute(
            select(Task)
            .where(col(Task.assignee_id) == person_id, col(Task.state) == TaskState.TAKEN)
            .order_by(col(Task.created_at))
        )
    ).scalars()
    offered = (
        await session.execute(
            select(Task)
            .join(TaskOffer, col(TaskOffer.task_id) == col(Task.id))
            .where(
                col(TaskOffer.person_id) == person_id,
                col(TaskOffer.declined_at).is_(None),
                col(Task.state) == TaskState.OPEN,
            )
            .order_by(col(Task.created_at))
        )
    ).scalars()
    return list(held), list(offered)


async def open_task_with_action(
    session: AsyncSession, assignee_id: int, action_payload: str
) -> Task | None:
    """The unfinished task this person holds whose extra button is `action_payload` (a home visit)."""
    return (
        await session.execute(
            select(Task)
            .where(
                col(Task.assignee_id) == assignee_id,
                col(Task.action_payload) == action_payload,
                col(Task.state) == TaskState.TAKEN,
            )
            .order_by(col(Task.id))
            .limit(1)
        )
    ).scalar_one_or_none()
