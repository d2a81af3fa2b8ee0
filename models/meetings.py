"""Meetings (议事协商会): invitees answer yes / no / maybe, are reminded once, and get the minutes.

A meeting is an event (`models/events/`) of kind "meeting" whose audience is its invitees.
An organiser creates it with an agenda and invitees chosen by group (the residents'
representatives, one grid's residents, a team such as a partner unit's) and by name; each invitee
gets the invitation with yes / maybe / no buttons. "Yes" and "maybe" take a place of the meeting's
slot, so the sign-up engine reminds them at the meeting's reminder times and checks them in at
the door; "no" gives the place back. Whoever has not answered a day before is reminded once.
The minutes (or the decision) are kept with the meeting (`Event.minutes`) and sent to everyone
invited or signed up; invitees and organisers can read them later (`meeting_view`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events import (
    Audience,
    Event,
    EventInvitee,
    EventKind,
    Rsvp,
    create_event,
    get_event,
    may_organise,
    when_text,
    zone_of,
)
from models.outbox import enqueue
from models.signups import (
    HOLDING,
    SignupStatus,
    Slot,
    active_signup,
    cancel,
    sign_up,
    signups_of,
)
from models.tables import Grid, Person, Role, RoleGrant, Team, TeamMember


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
    mine = await active_signup(session, slot.id or 0, person_id)
    if answer == Rsvp.NO:
        if mine is not None and mine.status in (*HOLDING, SignupStatus.WAITING):
            await cancel(session, mine.id or 0, person_id, now)
    elif mine is None:  # yes / maybe: a place, so the engine reminds and checks them in
        await sign_up(session, slot.id or 0, person_id, now)
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


# --- organising a meeting from the chat -----------------------------------------------------------

MAX_INVITEES = 200


async def invitee_group(session: AsyncSession, community_id: int, group: str) -> list[int]:
    """The people of an invitee group: `reps` (residents' representatives), `grid:<id>` (that
    grid's verified residents), `team:<id>` (a team's active members, a partner unit's contacts)."""
    kind, _, raw = group.partition(":")
    if kind == "reps":
        query = select(RoleGrant.person_id).where(
            col(RoleGrant.community_id) == community_id,
            col(RoleGrant.role) == Role.REPRESENTATIVE,
            col(RoleGrant.revoked_at).is_(None),
        )
    elif kind == "grid" and raw.isdigit():
        query = select(Person.id).where(
            col(Person.community_id) == community_id,
            col(Person.grid_id) == int(raw),
            col(Person.verified).is_(True),
        )
    elif kind == "team" and raw.isdigit():
        query = (
            select(TeamMember.person_id)
            .join(Team, col(Team.id) == TeamMember.team_id)
            .where(
                col(Team.id) == int(raw),
                col(Team.community_id) == community_id,
                col(TeamMember.active).is_(True),
                col(TeamMember.approved).is_(True),
            )
        )
    else:
        raise DomainError("events.bad_choice")
    return sorted({int(p) for p in (await session.execute(query)).scalars()})


async def people_named(
    session: AsyncSession, community_id: int, names: list[str]
) -> tuple[list[int], list[str]]:
    """The community's people by name ("王建国、朱凡"): the ids found and the names not found."""
    wanted = [n.strip() for n in names if n.strip()]
    if not wanted:
        return [], []
    rows = await session.execute(
        select(Person.id, Person.name).where(
            col(Person.community_id) == community_id, col(Person.name).in_(wanted)
        )
    )
    found: dict[str, int] = {}
    for pid, name in rows.all():
        found.setdefault(name, pid)
    return sorted(set(found.values())), [n for n in wanted if n not in found]


async def create_meeting(
    session: AsyncSession,
    *,
    organiser: Person,
    title: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    agenda: str,
    invitees: list[int],
    now: datetime,
    reminders: list[int] | None = None,
) -> tuple[Event, int]:
    """A 议事协商会 with its agenda and invitees (a place for each), and the invitations sent.
    Returns the meeting and how many were invited."""
    agenda = agenda.strip()
    people = sorted(set(invitees) - {organiser.id or 0})
    if not 1 <= len(agenda) <= 1000:
        raise DomainError("events.bad_text")
    if not people:
        raise DomainError("events.no_invitees")
    if len(people) > MAX_INVITEES:
        raise DomainError("events.too_many_invitees", limit=MAX_INVITEES)
    event = await create_event(
        session,
        organiser=organiser,
        kind=EventKind.MEETING,
        title=title,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=len(people),
        audience=Audience.INVITEES,
        agenda=agenda,
        invitees=people,
        reminders=reminders,
        now=now,
    )
    return event, await send_invitations(session, event.id or 0, now)


async def send_invitations(session: AsyncSession, event_id: int, now: datetime) -> int:
    """Each invitee gets the invitation (title, time, place, agenda) with the RSVP buttons, once."""
    event, slot = await get_event(session, event_id)
    zone = await zone_of(session, event.community_id)
    values = {
        "title": event.title,
        "when": when_text(slot.starts_at, slot.ends_at, zone),
        "place": event.place,
        "agenda": event.agenda or "",
    }
    told = 0
    for invitee, _person in await invitees_of(session, event_id):
        told += await enqueue(
            session,
            person_id=invitee.person_id,
            kind="event",
            dedupe_key=f"event:invite:{invitee.id}",
            now=now,
            text_key="events.invitation",
            values=values,
            choices=rsvp_buttons(event_id),
            priority=1,
        )
    return told


@dataclass(frozen=True)
class MeetingView:
    """A meeting as an invitee or organiser reads it, later too: the answers and the minutes."""

    event: Event
    slot: Slot
    answers: list[tuple[EventInvitee, Person]]
    organising: bool

    def count(self, answer: str | None) -> int:
        return sum(1 for i, _ in self.answers if i.rsvp == answer)


async def meeting_view(session: AsyncSession, event_id: int, person_id: int) -> MeetingView:
    """The meeting for someone invited or organising; others are told it is not theirs."""
    event, slot = await get_event(session, event_id)
    if event.kind != EventKind.MEETING:
        raise DomainError("events.not_found")
    answers = await invitees_of(session, event_id)
    organising = await may_organise(session, event, person_id)
    if not organising and person_id not in {p.id for _, p in answers}:
        raise DomainError("events.invitees_only")
    return MeetingView(event, slot, answers, organising)


async def meetings_of(
    session: AsyncSession, person_id: int, now: datetime, *, days: int = 90, limit: int = 8
) -> list[tuple[Event, Slot]]:
    """Meetings this person is invited to or organises, from `days` ago on, newest first."""
    invited = select(EventInvitee.event_id).where(col(EventInvitee.person_id) == person_id)
    rows = await session.execute(
        select(Event, Slot)
        .join(Slot, col(Slot.id) == Event.slot_id)
        .where(
            col(Event.kind) == EventKind.MEETING,
            or_(col(Event.id).in_(invited), col(Event.organiser_id) == person_id),
            col(Slot.starts_at) >= now - timedelta(days=days),
        )
        .order_by(col(Slot.starts_at).desc())
        .limit(limit)
    )
    return [(e, s) for e, s in rows.all()]


async def invitee_groups(session: AsyncSession, community_id: int) -> list[tuple[str, str]]:
    """The groups an organiser may invite, as (group, name): each grid's residents and each team
    (the representatives, `reps`, are always offered and named by the conversation)."""
    grids = await session.execute(
        select(Grid.id, Grid.name).where(col(Grid.community_id) == community_id).order_by(Grid.id)
    )
    teams = await session.execute(
        select(Team.id, Team.name).where(col(Team.community_id) == community_id).order_by(Team.id)
    )
    return [(f"grid:{i}", n) for i, n in grids.all()] + [(f"team:{i}", n) for i, n in teams.all()]
