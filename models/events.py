"""Events and meetings (活动、议事协商会) on the sign-up engine.

Length: past 600 lines since duties and ratings (issue 11) joined the organising use cases; the seam
for the next split is tables+audience / organising / duties.

An event owns one slot of the engine (kind "event"): its places, waitlist, reminders and
check-in are the engine's. What is the event's own: who may join (an audience rule), the
reminder times it sets, companions, invitees with RSVP for meetings, the minutes, and telling
everyone signed up when the time or place changes.

Audience rules (data, `Event.audience`): `all` (every verified resident of the community),
`families` (households with a child under 14), `volunteers`, `couriers`, `grid` (one grid,
`Event.grid_id`), `invitees` (the `EventInvitee` rows only). Organisers and managers always see
their events.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as IcsEvent
from sqlalchemy import JSON, Column, UniqueConstraint, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.notices import Notice, create_notice
from models.outbox import enqueue
from models.signups import (
    ACTIVE,
    HOLDING,
    Signup,
    SignupReminder,
    SignupResult,
    SignupStatus,
    Slot,
    SlotKind,
    SlotStatus,
    active_signup,
    cancel_slot,
    close_ended_slots,
    create_slot,
    register_kind,
    sign_up,
    signups_of,
)
from models.tables import Community, Person, Role, RoleGrant, Team
from models.tasks import (
    Task,
    TaskKindHooks,
    TaskState,
    create_task,
    register_task_kind,
    team_volunteers,
)

KIND = "event"
CHILD_AGE = 14


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Audience(StrEnum):
    ALL = "all"
    FAMILIES = "families"
    VOLUNTEERS = "volunteers"
    COURIERS = "couriers"
    GRID = "grid"
    INVITEES = "invitees"


class EventKind(StrEnum):
    ACTIVITY = "activity"
    MEETING = "meeting"


class Event(SQLModel, table=True):
    """An activity or a meeting, with its slot of places in the sign-up engine."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    kind: str = Field(default=EventKind.ACTIVITY, max_length=16)
    title: str = Field(max_length=80)
    description: str | None = Field(default=None, max_length=500)
    place: str = Field(max_length=128)
    audience: str = Field(default=Audience.ALL, max_length=16)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    organiser_id: int = Field(foreign_key="person.id")
    slot_id: int | None = Field(default=None, foreign_key="slot.id", index=True)
    # Minutes before the start at which everyone signed up is reminded (default 48 h and 2 h).
    reminders: list[int] = Field(
        default_factory=lambda: [2880, 120],
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[2880, 120]'")),
    )
    agenda: str | None = Field(default=None, max_length=1000)
    minutes: str | None = Field(default=None, max_length=4000)  # 会议纪要 / the decision
    minutes_at: datetime | None = _ts(default=None)
    cancelled_at: datetime | None = _ts(default=None)
    # The QR door poster's token (/start ci_<token>), made when the organiser first asks for it.
    checkin_token: str | None = Field(default=None, max_length=16, unique=True, index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class Rsvp(StrEnum):
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"


class EventInvitee(SQLModel, table=True):
    """An invited person (a residents' representative, a partner unit's contact) and their answer."""

    __table_args__ = (UniqueConstraint("event_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # "my meetings"
    rsvp: str | None = Field(default=None, max_length=8)
    answered_at: datetime | None = _ts(default=None)
    reminded_at: datetime | None = _ts(default=None)
    invited_at: datetime = _ts(default_factory=utcnow)


# --- the kind of slot ----------------------------------------------------------------------------


async def zone_of(session: AsyncSession, community_id: int) -> ZoneInfo:
    community = await session.get(Community, community_id)
    return ZoneInfo(community.timezone if community else "Asia/Shanghai")


async def event_of_slot(session: AsyncSession, slot: Slot) -> Event:
    event = await session.get(Event, slot.owner_id)
    if event is None:
        raise DomainError("signup.not_found")
    return event


def when_text(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    if start.date() == end.date():
        return f"{start:%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%m-%d %H:%M}–{end:%m-%d %H:%M}"


async def _describe(session: AsyncSession, slot: Slot) -> dict[str, Any]:
    event = await event_of_slot(session, slot)
    zone = await zone_of(session, slot.community_id)
    return {
        "title": event.title,
        "when": when_text(slot.starts_at, slot.ends_at, zone),
        "place": event.place,
    }


async def may_organise(session: AsyncSession, event: Event, person_id: int) -> bool:
    """The organiser and the community's managers manage an event."""
    if person_id == event.organiser_id:
        return True
    return await _has_role(session, person_id, event.community_id, Role.MANAGER)


async def _has_role(
    session: AsyncSession, person_id: int, community_id: int, role: str, grid_id: int | None = None
) -> bool:
    query = select(RoleGrant.id).where(
        col(RoleGrant.person_id) == person_id,
        col(RoleGrant.role) == role,
        col(RoleGrant.community_id) == community_id,
        col(RoleGrant.revoked_at).is_(None),
    )
    if grid_id is not None:
        query = query.where(col(RoleGrant.grid_id) == grid_id)
    return (await session.execute(query)).first() is not None


async def _may_manage(session: AsyncSession, slot: Slot, person_id: int) -> bool:
    return await may_organise(session, await event_of_slot(session, slot), person_id)


async def audience_refusal(
    session: AsyncSession, event: Event, person: Person, today: date
) -> str | None:
    """None when the person may join the event; else the message key saying why not."""
    if await may_organise(session, event, person.id or 0):
        return None
    if person.community_id != event.community_id:
        return "events.not_in_audience"
    rule = event.audience
    if rule == Audience.INVITEES:
        invited = await session.execute(
            select(EventInvitee.id).where(
                col(EventInvitee.event_id) == event.id, col(EventInvitee.person_id) == person.id
            )
        )
        return None if invited.first() else "events.invitees_only"
    if rule == Audience.VOLUNTEERS:
        ok = await _has_role(session, person.id or 0, event.community_id, Role.VOLUNTEER)
        return None if ok else "events.volunteers_only"
    if rule == Audience.COURIERS:
        ok = await _has_role(session, person.id or 0, event.community_id, Role.COURIER)
        return None if ok else "events.couriers_only"
    if not person.verified:
        return "events.verify_first"
    if rule == Audience.GRID:
        return None if person.grid_id == event.grid_id else "events.other_grid"
    if rule == Audience.FAMILIES:
        return None if await _has_child(session, person, today) else "events.families_only"
    return None


async def _has_child(session: AsyncSession, person: Person, today: date) -> bool:
    if person.household_id is None:
        return False
    born_after = date(today.year - CHILD_AGE, today.month, min(today.day, 28))
    child = await session.execute(
        select(Person.id).where(
            col(Person.household_id) == person.household_id,
            col(Person.birth_date).is_not(None),
            col(Person.birth_date) > born_after,
        )
    )
    return child.first() is not None


async def _check(session: AsyncSession, slot: Slot, person_id: int, now: datetime) -> None:
    event = await event_of_slot(session, slot)
    person = await session.get(Person, person_id)
    if person is None:
        raise DomainError("signup.not_found")
    if await duty_of(session, event.id or 0, person_id) is not None:
        return  # a volunteer who took one of the event's duties comes as a helper
    zone = await zone_of(session, slot.community_id)
    refusal = await audience_refusal(session, event, person, now.astimezone(zone).date())
    if refusal is not None:
        raise DomainError(refusal)


async def _reminders(session: AsyncSession, slot: Slot) -> list[tuple[str, datetime]]:
    event = await event_of_slot(session, slot)
    return [(f"m{m}", slot.starts_at - timedelta(minutes=m)) for m in sorted(set(event.reminders))]


# --- organising -----------------------------------------------------------------------------------


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


async def may_create_events(session: AsyncSession, person: Person) -> bool:
    """Managers and grid leaders organise events."""
    return await _has_role(
        session, person.id or 0, person.community_id, Role.MANAGER
    ) or await _has_role(session, person.id or 0, person.community_id, Role.GRID_LEADER)


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


async def roster(
    session: AsyncSession, event_id: int, actor_id: int
) -> list[tuple[Signup, Person]]:
    """The sign-up and attendance list, for the organiser and managers."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    rows = await session.execute(
        select(Signup, Person)
        .join(Person, col(Person.id) == Signup.person_id)
        .where(col(Signup.slot_id) == slot.id)
        .order_by(col(Signup.created_at), col(Signup.id))
    )
    return [(s, p) for s, p in rows.all()]


async def roster_xlsx(session: AsyncSession, event_id: int, actor_id: int) -> bytes:
    """The sign-up and attendance list as an .xlsx workbook (openpyxl), for the organiser."""
    from openpyxl import Workbook

    event, slot = await get_event(session, event_id)
    rows = await roster(session, event_id, actor_id)
    zone = await zone_of(session, event.community_id)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "报名名单"
    sheet.append([event.title, when_text(slot.starts_at, slot.ends_at, zone), event.place])
    sheet.append(["姓名", "电话", "人数", "状态", "身份", "报名时间", "签到时间"])
    for signup, person in rows:
        sheet.append(
            [
                person.name,
                person.phone or "",
                signup.party,
                signup.status,
                signup.booked_as,
                f"{signup.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
                f"{signup.checked_in_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if signup.checked_in_at
                else "",
            ]
        )
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ics(event: Event, slot: Slot, uid_domain: str = "linli.local") -> bytes:
    """The event as an iCalendar file (RFC 5545, by the icalendar library) for "加入日历"."""
    cal = Calendar()
    cal.add("prodid", "-//Linli//events//ZH")
    cal.add("version", "2.0")
    item = IcsEvent()
    item.add("uid", f"event-{event.id}@{uid_domain}")
    item.add("dtstamp", event.updated_at)
    item.add("dtstart", slot.starts_at)
    item.add("dtend", slot.ends_at)
    item.add("summary", event.title)
    item.add("location", event.place)
    if event.description:
        item.add("description", event.description)
    if event.cancelled_at is not None:
        item.add("status", "CANCELLED")
    cal.add_component(item)
    return cal.to_ical()


# --- duties (tasks of issue 4's machinery) and ratings ------------------------------------------

DUTY_KIND = "event_duty"


class EventDuty(SQLModel, table=True):
    """One helper's duty at an event (e.g. one of 4 stall helpers): a task offered to volunteers.

    Taking the task signs the volunteer up as a helper (a place added for them); after the event,
    if they checked in, the task is finished with the event's length and its hours are credited
    once by the task machinery (`credit_hours`)."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    task_id: int = Field(foreign_key="task.id", unique=True)
    title: str = Field(max_length=60)
    created_at: datetime = _ts(default_factory=utcnow)


class EventRating(SQLModel, table=True):
    """A participant's one-tap rating after the event (1–5), once per person."""

    __table_args__ = (UniqueConstraint("event_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    stars: int
    rated_at: datetime = _ts(default_factory=utcnow)


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


EVENT = register_kind(
    SlotKind(
        name=KIND,
        describe=_describe,
        may_manage=_may_manage,
        check=_check,
        reminders=_reminders,
        after_slot=_after_event,
        texts={"reminder": "events.reminder", "reminder_late": "events.reminder_late"},
    )
)
register_task_kind(TaskKindHooks(DUTY_KIND, on_taken=_duty_taken, on_assigned=_duty_taken))


# --- demo data ------------------------------------------------------------------------------------

DEMO_WORKSHOP = "三八节 志愿者妈妈亲子DIY手工坊"
DEMO_MEETING = "议事协商会：车库电表改造"
DEMO_CODE = "3821"  # the workshop's check-in code on the door poster (the README uses it)


async def seed_demo_events(session: AsyncSession, now: datetime) -> tuple[Event, Event]:
    """The demo's Women's Day DIY workshop for volunteer mothers (in 15 minutes, one place left:
    the next sign-up fills it and the one after waits; two 布置场地 helper duties offered to the
    grid's service team) and the 议事协商会 about the garage meters with its invitees."""
    people = {
        p.name: p
        for p in (
            await session.execute(
                select(Person).where(col(Person.name).in_(["刘芳", "李红", "王建国", "朱凡"]))
            )
        ).scalars()
    }
    manager = people["刘芳"]
    start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    workshop = await create_event(
        session,
        organiser=manager,
        title=DEMO_WORKSHOP,
        place="社区党群服务中心二楼活动室",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        capacity=3,
        max_party=2,
        audience=Audience.VOLUNTEERS,
        reminders=[10],
        description="做布艺小花送妈妈，可带 1 个孩子。",
        now=now,
    )
    slot = await session.get(Slot, workshop.slot_id)
    assert slot is not None
    slot.code = DEMO_CODE
    await join(session, workshop.id or 0, people["李红"].id or 0, now, companions=1)
    team = (
        await session.execute(select(Team.id).where(col(Team.name) == "乐清网格红管家服务队"))
    ).scalar_one_or_none()
    await add_duties(session, workshop.id or 0, manager.id or 0, "布置场地", 2, now, team_id=team)
    meeting_start = (now + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    meeting = await create_event(
        session,
        organiser=manager,
        kind=EventKind.MEETING,
        title=DEMO_MEETING,
        place="社区议事厅",
        starts_at=meeting_start,
        ends_at=meeting_start + timedelta(hours=1, minutes=30),
        capacity=20,
        audience=Audience.INVITEES,
        agenda="1. 车库电表统一迁移方案（供电所党支部介绍）2. 费用分摊 3. 施工时间",
        invitees=[people["王建国"].id or 0, people["朱凡"].id or 0],
        now=now,
    )
    return workshop, meeting
