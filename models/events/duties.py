"""An event's duties: helpers' tasks on issue 4's machinery; taking one signs the volunteer up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events.organising import get_event
from models.events.rules import may_organise
from models.events.tables import DUTY_KIND, EventDuty
from models.signups import Slot, active_signup, sign_up
from models.tables import Person
from models.tasks import Task, TaskState, create_task, team_volunteers


async def add_duties(
    session: AsyncSession,
    event_id: int,
    actor_id: int,
    title: str,
    count: int,
    now: datetime,
    *,
    team_id: int | None = None,
) -> list[Task]:
    """The event needs `count` helpers for `title`: one task each, pushed to the team's
    volunteers (or the grid's), taken on issue 4's machinery."""
    event, _slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    title = title.strip()
    if not 1 <= len(title) <= 60 or not 1 <= count <= 50:
        raise DomainError("events.bad_text")
    organiser = await session.get(Person, event.organiser_id)
    grid_id = event.grid_id or (organiser.grid_id if organiser else None)
    if grid_id is None:
        raise DomainError("events.bad_audience")
    people = await team_volunteers(session, team_id, None, grid_id) if team_id else None
    existing = len(
        (
            await session.execute(
                select(EventDuty.id).where(
                    col(EventDuty.event_id) == event_id, col(EventDuty.title) == title
                )
            )
        ).all()
    )
    tasks = []
    for i in range(existing, existing + count):
        task = await create_task(
            session,
            now=now,
            community_id=event.community_id,
            grid_id=grid_id,
            kind=DUTY_KIND,
            title=f"{event.title}：{title}",
            team_id=team_id,
            offer_to=people,
            dedupe_key=f"event-duty:{event_id}:{title}:{i}",
            created_by_id=actor_id,
        )
        session.add(EventDuty(event_id=event_id, task_id=task.id or 0, title=title, created_at=now))
        tasks.append(task)
    await session.flush()
    return tasks


async def duty_of(session: AsyncSession, event_id: int, person_id: int) -> EventDuty | None:
    """The duty this person holds at the event, if any."""
    return (
        (
            await session.execute(
                select(EventDuty)
                .join(Task, col(Task.id) == EventDuty.task_id)
                .where(
                    col(EventDuty.event_id) == event_id,
                    col(Task.assignee_id) == person_id,
                    col(Task.state).in_((TaskState.TAKEN, TaskState.DONE)),
                )
            )
        )
        .scalars()
        .first()
    )


async def _duty_taken(session: AsyncSession, task: Task, person: Person, now: datetime) -> None:
    """Taking a duty signs the volunteer up as a helper, on a place added for them."""
    duty = (
        await session.execute(select(EventDuty).where(col(EventDuty.task_id) == task.id))
    ).scalar_one_or_none()
    if duty is None:
        return
    event, slot = await get_event(session, duty.event_id)
    if event.cancelled_at is not None or now >= slot.starts_at:
        return
    if await active_signup(session, slot.id or 0, person.id or 0) is not None:
        return  # already coming: their place serves
    await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot.id)
        .values(capacity=col(Slot.capacity) + 1)
        .execution_options(synchronize_session=False)
    )
    await sign_up(session, slot.id or 0, person.id or 0, now, booked_as="helper")
