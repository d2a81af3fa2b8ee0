"""After an event: the organiser ends it, helpers' duties are finished (hours credited once),
everyone who came is asked for a one-tap rating."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events.organising import get_event
from models.events.rules import event_of_slot, may_organise
from models.events.tables import Event, EventDuty, EventKind, EventRating
from models.outbox import enqueue
from models.signups import Signup, SignupStatus, Slot, close_ended_slots
from models.tasks import Task, TaskState


async def _after_event(
    session: AsyncSession, slot: Slot, came: list[Signup], now: datetime
) -> None:
    """After the event: duties of helpers who checked in are finished with the event's length
    (their hours are then credited once); everyone who came is asked for a one-tap rating."""
    event = await event_of_slot(session, slot)
    came_ids = {s.person_id for s in came}
    minutes = int((slot.ends_at - slot.starts_at).total_seconds() // 60)
    duties = await session.execute(
        select(Task)
        .join(EventDuty, col(EventDuty.task_id) == Task.id)
        .where(col(EventDuty.event_id) == event.id, col(Task.state) == TaskState.TAKEN)
    )
    for task in list(duties.scalars()):
        if task.assignee_id in came_ids:
            task.state = TaskState.DONE
            task.done_at = now
            task.minutes_claimed = max(15, min(minutes, 12 * 60))
    if event.kind != EventKind.ACTIVITY:
        return
    for person_id in sorted(came_ids):
        await enqueue(
            session,
            person_id=person_id,
            kind="event",
            dedupe_key=f"event:rate:{event.id}:{person_id}",
            now=now,
            text_key="events.rate_ask",
            values={"title": event.title},
            choices=rating_buttons(event.id or 0),
            priority=3,
        )


async def unrated(
    session: AsyncSession, person_id: int, now: datetime, *, days: int = 14
) -> list[tuple[Event, Slot]]:
    """Activities this person came to (checked in) that ended in the last `days` and that they
    have not rated yet: 我的活动 offers the rating again (the console shows pushed buttons only
    as text, and a push may have been missed)."""
    rated = select(EventRating.event_id).where(col(EventRating.person_id) == person_id)
    rows = await session.execute(
        select(Event, Slot)
        .join(Slot, col(Slot.id) == Event.slot_id)
        .join(Signup, col(Signup.slot_id) == Slot.id)
        .where(
            col(Signup.person_id) == person_id,
            col(Signup.status) == SignupStatus.CHECKED_IN,
            col(Slot.closed_at).is_not(None),
            col(Slot.ends_at) >= now - timedelta(days=days),
            col(Event.kind) == EventKind.ACTIVITY,
            col(Event.id).not_in(rated),
        )
        .order_by(col(Slot.ends_at).desc())
        .limit(5)
    )
    return [(e, s) for e, s in rows.all()]


def rating_buttons(event_id: int) -> list[list[str]]:
    """The one-tap rating: 5 to 1 stars."""
    return [[f"btn.stars_{n}", f"ev:rate:{event_id}:{n}"] for n in (5, 4, 3, 2, 1)]


async def rate_event(
    session: AsyncSession, event_id: int, person_id: int, stars: int, now: datetime
) -> EventRating:
    """One-tap rating by someone who came (checked in); a second tap changes it."""
    if not 1 <= stars <= 5:
        raise DomainError("events.not_found")
    _event, slot = await get_event(session, event_id)
    came = await session.execute(
        select(Signup.id).where(
            col(Signup.slot_id) == slot.id,
            col(Signup.person_id) == person_id,
            col(Signup.status) == SignupStatus.CHECKED_IN,
        )
    )
    if came.first() is None:
        raise DomainError("events.rate_only_came")
    rating = (
        await session.execute(
            select(EventRating).where(
                col(EventRating.event_id) == event_id, col(EventRating.person_id) == person_id
            )
        )
    ).scalar_one_or_none()
    if rating is None:
        rating = EventRating(event_id=event_id, person_id=person_id, stars=stars, rated_at=now)
        session.add(rating)
    rating.stars, rating.rated_at = stars, now
    await session.flush()
    return rating


async def end_event(session: AsyncSession, event_id: int, actor_id: int, now: datetime) -> int:
    """The organiser says the event is over (it may end early): the list is closed now, no-shows
    recorded, duties of helpers who came finished with the time it lasted, ratings asked for."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    if now < slot.starts_at:
        raise DomainError("events.not_started")
    if slot.closed_at is not None:
        return 0
    if now < slot.ends_at:
        slot.ends_at = now
        await session.flush()
    return await close_ended_slots(session, now)
