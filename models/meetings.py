"""Meetings (议事协商会): invitees answer yes / no / maybe, are reminded once, and get the minutes.

A meeting is an event (`models/events.py`) of kind "meeting" whose audience is its invitees.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events import (
    Event,
    EventInvitee,
    Rsvp,
    get_event,
    may_organise,
    when_text,
    zone_of,
)
from models.outbox import enqueue
from models.signups import Slot, signups_of
from models.tables import Person


async def answer_rsvp(
    session: AsyncSession, event_id: int, person_id: int, answer: str, now: datetime
) -> EventInvitee:
    """An invitee answers yes / no / maybe (changeable until the start)."""
    if answer not in set(Rsvp):
        raise DomainError("events.bad_rsvp")
    event, slot = await get_event(session, event_id)
    if now >= slot.starts_at or event.cancelled_at is not None:
        raise DomainError("signup.past")
    invitee = (
        await session.execute(
            select(EventInvitee).where(
                col(EventInvitee.event_id) == event_id, col(EventInvitee.person_id) == person_id
            )
        )
    ).scalar_one_or_none()
    if invitee is None:
        raise DomainError("events.invitees_only")
    invitee.rsvp = answer
    invitee.answered_at = now
    return invitee


RSVP_REMINDER_BEFORE = timedelta(hours=24)


async def remind_unanswered(session: AsyncSession, now: datetime) -> int:
    """Clock job: invitees who have not answered are reminded once, a day before the meeting."""
    rows = await session.execute(
        select(EventInvitee, Event, Slot)
        .join(Event, col(Event.id) == EventInvitee.event_id)
        .join(Slot, col(Slot.id) == Event.slot_id)
        .where(
            col(EventInvitee.rsvp).is_(None),
            col(EventInvitee.reminded_at).is_(None),
            col(Event.cancelled_at).is_(None),
            col(Slot.starts_at) > now,
            col(Slot.starts_at) <= now + RSVP_REMINDER_BEFORE,
        )
    )
    told = 0
    zones: dict[int, ZoneInfo] = {}
    for invitee, event, slot in rows.all():
        invitee.reminded_at = now
        if event.community_id not in zones:
            zones[event.community_id] = await zone_of(session, event.community_id)
        told += await enqueue(
            session,
            person_id=invitee.person_id,
            kind="event",
            dedupe_key=f"event:rsvp:{invitee.id}",
            now=now,
            text_key="events.rsvp_reminder",
            values={
                "title": event.title,
                "when": when_text(slot.starts_at, slot.ends_at, zones[event.community_id]),
                "place": event.place,
            },
            choices=rsvp_buttons(event.id or 0),
            priority=1,
        )
    return told


def rsvp_buttons(event_id: int) -> list[list[str]]:
    return [
        ["btn.rsvp_yes", f"rsvp:{event_id}:yes"],
        ["btn.rsvp_maybe", f"rsvp:{event_id}:maybe"],
        ["btn.rsvp_no", f"rsvp:{event_id}:no"],
    ]


async def post_minutes(
    session: AsyncSession, event_id: int, actor_id: int, text: str, now: datetime
) -> int:
    """The organiser posts the minutes or the decision: kept with the meeting, sent to invitees
    (and to everyone who signed up or came). Returns how many were told."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    text = text.strip()
    if not 1 <= len(text) <= 4000:
        raise DomainError("events.bad_text")
    event.minutes = text
    event.minutes_at = now
    event.updated_at = now
    people = set(
        (
            await session.execute(
                select(EventInvitee.person_id).where(col(EventInvitee.event_id) == event_id)
            )
        ).scalars()
    )
    people |= {
        s.person_id
        for s in await signups_of(session, slot.id or 0, ("booked", "checked_in", "no_show"))
    }
    told = 0
    for person_id in sorted(people):
        told += await enqueue(
            session,
            person_id=person_id,
            kind="event",
            dedupe_key=f"event:minutes:{event_id}:{person_id}:{int(now.timestamp())}",
            now=now,
            text_key="events.minutes",
            values={"title": event.title, "minutes": text},
            priority=1,
        )
    return told


async def invitees_of(session: AsyncSession, event_id: int) -> list[tuple[EventInvitee, Person]]:
    rows = await session.execute(
        select(EventInvitee, Person)
        .join(Person, col(Person.id) == EventInvitee.person_id)
        .where(col(EventInvitee.event_id) == event_id)
        .order_by(col(EventInvitee.id))
    )
    return [(i, p) for i, p in rows.all()]
