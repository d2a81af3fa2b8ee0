"""Organising an event: create it, sign up, list what is upcoming, change or cancel it (everyone
signed up is told), announce it as a notice with the sign-up button inside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events.rules import (
    _reminders,
    audience_refusal,
    may_create_events,
    may_organise,
    when_text,
    zone_of,
)
from models.events.tables import KIND, Audience, Event, EventInvitee, EventKind
from models.notices import Notice, create_notice
from models.outbox import enqueue
from models.signups import (
    ACTIVE,
    HOLDING,
    SignupReminder,
    SignupResult,
    Slot,
    SlotStatus,
    cancel_slot,
    create_slot,
    sign_up,
    signups_of,
)
from models.tables import Person


async def create_event(
    session: AsyncSession,
    *,
    organiser: Person,
    title: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    now: datetime,
    kind: str = EventKind.ACTIVITY,
    audience: str = Audience.ALL,
    grid_id: int | None = None,
    max_party: int = 1,
    reminders: list[int] | None = None,
    description: str | None = None,
    agenda: str | None = None,
    invitees: list[int] | None = None,
    claim_minutes: int = 10,
) -> Event:
    """A new event with its places; only managers, grid leaders and team leaders organise."""
    community_id = organiser.community_id
    if not await may_create_events(session, organiser):
        raise DomainError("error.forbidden")
    title, place = title.strip(), place.strip()
    if not 1 <= len(title) <= 80 or not 1 <= len(place) <= 128:
        raise DomainError("events.bad_text")
    if starts_at <= now:
        raise DomainError("events.in_the_past")
    if audience not in set(Audience):
        raise DomainError("events.bad_audience")
    if audience == Audience.GRID and grid_id is None:
        raise DomainError("events.bad_audience")
    if kind not in set(EventKind):
        raise DomainError("events.bad_kind")
    offsets = sorted({int(m) for m in (reminders if reminders is not None else [2880, 120])})
    if any(m <= 0 or m > 60 * 24 * 30 for m in offsets):
        raise DomainError("events.bad_reminders")
    event = Event(
        community_id=community_id,
        kind=kind,
        title=title,
        description=description,
        place=place,
        audience=audience,
        grid_id=grid_id,
        organiser_id=organiser.id or 0,
        reminders=offsets,
        agenda=agenda,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    await session.flush()
    slot = await create_slot(
        session,
        community_id=community_id,
        kind=KIND,
        owner_id=event.id or 0,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        max_party=max_party,
        claim_minutes=claim_minutes,
        now=now,
    )
    event.slot_id = slot.id
    for person_id in invitees or []:
        session.add(EventInvitee(event_id=event.id or 0, person_id=person_id, invited_at=now))
    await session.flush()
    return event


async def get_event(session: AsyncSession, event_id: int) -> tuple[Event, Slot]:
    event = await session.get(Event, event_id)
    slot = await session.get(Slot, event.slot_id) if event and event.slot_id else None
    if event is None or slot is None:
        raise DomainError("events.not_found")
    return event, slot


async def join(
    session: AsyncSession,
    event_id: int,
    person_id: int,
    now: datetime,
    *,
    companions: int = 0,
    booked_by_id: int | None = None,
    booked_as: str = "self",
) -> SignupResult:
    """Sign up, with companions within the event's limit; a full event queues (the waitlist)."""
    event, slot = await get_event(session, event_id)
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    return await sign_up(
        session,
        slot.id or 0,
        person_id,
        now,
        party=1 + companions,
        booked_by_id=booked_by_id,
        booked_as=booked_as,
    )


async def upcoming_for(
    session: AsyncSession, person: Person, now: datetime, *, limit: int = 10
) -> list[tuple[Event, Slot]]:
    """Upcoming events this person may join (the audience rule), soonest first."""
    rows = await session.execute(
        select(Event, Slot)
        .join(Slot, col(Slot.id) == Event.slot_id)
        .where(
            col(Event.community_id) == person.community_id,
            col(Event.cancelled_at).is_(None),
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.starts_at) > now,
        )
        .order_by(col(Slot.starts_at))
        .limit(limit * 5)
    )
    zone = await zone_of(session, person.community_id)
    today = now.astimezone(zone).date()
    out = []
    for event, slot in rows.all():
        if await audience_refusal(session, event, person, today) is None:
            out.append((event, slot))
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class Change:
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    place: str | None = None


async def change_event(
    session: AsyncSession, event_id: int, actor_id: int, change: Change, now: datetime
) -> int:
    """The organiser moves the time or the place: everyone signed up (and waiting) is told what
    changed, and their reminders follow the new time. Returns how many were told."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    zone = await zone_of(session, event.community_id)
    before = {"when": when_text(slot.starts_at, slot.ends_at, zone), "place": event.place}
    starts = change.starts_at or slot.starts_at
    ends = change.ends_at or (slot.ends_at + (starts - slot.starts_at))
    if starts <= now or ends <= starts:
        raise DomainError("events.in_the_past" if starts <= now else "signup.bad_times")
    moved = starts != slot.starts_at or ends != slot.ends_at
    if moved:
        slot.starts_at, slot.ends_at = starts, ends
    if change.place is not None and change.place.strip() and change.place.strip() != event.place:
        event.place = change.place.strip()
    elif not moved:
        return 0
    event.updated_at = now
    after = {"when": when_text(slot.starts_at, slot.ends_at, zone), "place": event.place}
    told = 0
    for signup in await signups_of(session, slot.id or 0, ACTIVE):
        if moved and signup.status in HOLDING:
            for reminder in (
                await session.execute(
                    select(SignupReminder).where(
                        col(SignupReminder.signup_id) == signup.id,
                        col(SignupReminder.status) == "pending",
                    )
                )
            ).scalars():
                await session.delete(reminder)
            await session.flush()
            for label, at in await _reminders(session, slot):
                if at > now:
                    session.add(SignupReminder(signup_id=signup.id or 0, label=label, due_at=at))
        told += await enqueue(
            session,
            person_id=signup.person_id,
            kind="event",
            dedupe_key=f"event:changed:{event.id}:{signup.id}:{int(now.timestamp())}",
            now=now,
            text_key="events.changed",
            values={
                "title": event.title,
                "when_before": before["when"],
                "place_before": before["place"],
                "when": after["when"],
                "place": after["place"],
            },
            priority=1,
        )
    return told


async def cancel_event(session: AsyncSession, event_id: int, actor_id: int, now: datetime) -> int:
    """Cancel the event: everyone signed up or waiting is told (the engine's slot cancel)."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    if event.cancelled_at is not None:
        return 0
    event.cancelled_at = now
    event.updated_at = now
    return await cancel_slot(session, slot.id or 0, actor_id, now)


NOTICE_AUDIENCES = {
    Audience.ALL: "community",
    Audience.FAMILIES: "community",  # who may join is still the event's rule, told at the tap
    Audience.VOLUNTEERS: "volunteers",
    Audience.COURIERS: "couriers",
    Audience.GRID: "grid",
}


async def announce_event(
    session: AsyncSession,
    event_id: int,
    author: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> Notice:
    """Announce the event as a notice (issue 3) to its audience, with the 报名 button inside."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, author.id or 0):
        raise DomainError("error.forbidden")
    if event.cancelled_at is not None:
        raise DomainError("signup.slot_cancelled")
    audience = NOTICE_AUDIENCES.get(Audience(event.audience))
    if audience is None:  # invitees are invited, not announced to
        raise DomainError("events.bad_audience")
    zone = await zone_of(session, event.community_id)
    lines = [f"🎉 {event.title}", f"🕒 {when_text(slot.starts_at, slot.ends_at, zone)}"]
    lines.append(f"📍 {event.place}")
    if event.description:
        lines.append(event.description)
    buttons = [["events.btn_join", f"ev:join:{event.id}:0"]]
    if slot.max_party > 1:
        buttons.append(["events.btn_join_child", f"ev:join:{event.id}:1"])
    return await create_notice(
        session,
        author,
        roles,
        audience=audience,
        arg=event.grid_id if audience == "grid" else None,
        category="activity",
        text="\n".join(lines),
        now=now,
        choices=buttons,
    )
