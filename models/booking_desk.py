"""Around the sessions of the service points: a resident's bookings, booking for someone else
(代办), the station's 今日名单 and check-in, the numbers per session for the team leader and the
manager, new points and series made in the chat, cancelling a session.

The rules themselves are `models/bookings.py` (the point's data) and the sign-up engine's
(`models/signups/`); everything here goes through them and re-checks who may act.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.bookings import (
    KIND,
    ServicePoint,
    _describe,
    _zone,
    book,
    may_manage_point,
    no_show_rate,
    point_of,
)
from models.errors import DomainError
from models.outbox import enqueue
from models.signups import (
    ACTIVE,
    HOLDING,
    Signup,
    SignupReminder,
    SignupResult,
    SignupStatus,
    Slot,
    cancel_slot,
    check_in_by_code,
    person_signups,
    waiting_position,
)
from models.tables import Person, Role, Team


@dataclass(frozen=True)
class Booking:
    """One of a person's live bookings, with what the screens show of it."""

    signup: Signup
    slot: Slot
    point: ServicePoint
    position: int | None  # on the waitlist


async def my_bookings(session: AsyncSession, person_id: int, now: datetime) -> list[Booking]:
    """我的预约: the person's live bookings of sessions that have not ended, soonest first."""
    out = []
    for signup, slot in await person_signups(session, person_id, now, kind=KIND, statuses=ACTIVE):
        point = await point_of(session, slot)
        position = None
        if signup.status == SignupStatus.WAITING:
            position = await waiting_position(session, signup)
        out.append(Booking(signup, slot, point, position))
    return out


async def booking_values(session: AsyncSession, slot: Slot) -> dict[str, Any]:
    """The values a booking's messages show: title, when, place, team, bring."""
    return await _describe(session, slot)


async def reminder_labels(session: AsyncSession, signup_id: int) -> list[str]:
    """The reminders still to come for a sign-up ("day", "hour"), soonest first."""
    rows = await session.execute(
        select(SignupReminder.label)
        .where(col(SignupReminder.signup_id) == signup_id, col(SignupReminder.status) == "pending")
        .order_by(col(SignupReminder.due_at))
    )
    return [str(x) for x in rows.scalars()]


async def own_signup(session: AsyncSession, signup_id: int, person_id: int) -> Signup:
    """A sign-up of a service session that this person holds or made for someone."""
    signup = await session.get(Signup, signup_id)
    if signup is None or person_id not in (signup.person_id, signup.booked_by_id):
        raise DomainError("signup.not_found")
    return signup


# --- 代办: booking for someone else --------------------------------------------------------------


def _grids(roles: frozenset[tuple[str, int | None]], *names: str) -> set[int]:
    return {g for r, g in roles if r in names and g is not None}


def proxy_role(
    actor: Person, roles: frozenset[tuple[str, int | None]], resident: Person
) -> str | None:
    """How the actor may book for the resident: family, grid_leader, volunteer, manager; or None."""
    if resident.id == actor.id or resident.community_id != actor.community_id:
        return None
    if actor.household_id is not None and resident.household_id == actor.household_id:
        return "family"
    if any(r == Role.MANAGER for r, _ in roles):
        return "manager"
    if resident.grid_id is not None and resident.grid_id in _grids(roles, Role.GRID_LEADER):
        return "grid_leader"
    if resident.grid_id is not None and resident.grid_id in _grids(roles, Role.VOLUNTEER):
        return "volunteer"
    return None


def may_book_for_others(actor: Person, roles: frozenset[tuple[str, int | None]]) -> bool:
    """Whether the 代办 button is worth showing to this person."""
    staff = {Role.MANAGER, Role.GRID_LEADER, Role.VOLUNTEER}
    return actor.household_id is not None or any(r in staff for r, _ in roles)


async def household_members(session: AsyncSession, actor: Person) -> list[Person]:
    """The other people of the actor's household."""
    if actor.household_id is None:
        return []
    rows = await session.execute(
        select(Person)
        .where(col(Person.household_id) == actor.household_id, col(Person.id) != actor.id)
        .order_by(col(Person.id))
    )
    return list(rows.scalars())


async def find_residents(
    session: AsyncSession,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    words: str,
    limit: int = 6,
) -> list[Person]:
    """Residents a grid leader, volunteer or manager may book for, by a name or a phone number."""
    words = words.strip()
    if not words:
        return []
    query = select(Person).where(
        col(Person.community_id) == actor.community_id, col(Person.id) != actor.id
    )
    if re.fullmatch(r"\d{4,11}", words):
        query = query.where(col(Person.phone).like(f"%{words}"))
    else:
        query = query.where(col(Person.name).like(f"%{words}%"))
    if not any(r == Role.MANAGER for r, _ in roles):
        grids = _grids(roles, Role.GRID_LEADER, Role.VOLUNTEER)
        if not grids:
            return []
        query = query.where(col(Person.grid_id).in_(grids))
    rows = await session.execute(query.order_by(col(Person.name), col(Person.id)).limit(limit))
    return list(rows.scalars())


async def book_for(
    session: AsyncSession,
    slot_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    resident_id: int,
    now: datetime,
) -> tuple[SignupResult, Person, bool]:
    """代办: book a place for a resident (recorded as booked by the actor, and how); the
    resident is told through the outbox when they can be reached. Returns (result, resident, told)."""
    resident = await session.get(Person, resident_id)
    role = proxy_role(actor, roles, resident) if resident is not None else None
    if resident is None or role is None:
        raise DomainError("booking.not_for_them")
    result = await book(session, slot_id, resident_id, now, booked_by_id=actor.id, booked_as=role)
    told = False
    if not result.already:
        values = await booking_values(session, result.slot)
        told = await enqueue(
            session,
            person_id=resident_id,
            kind="booking",
            dedupe_key=f"booking:for:{result.signup.id}",
            now=now,
            text_key="booking.booked_for_you"
            if result.booked
            else "booking.waiting_for_you",
            values={**values, "by": actor.name, "code": result.signup.code,
                    "position": result.position or 0},
            choices=[["btn.signup_cancel", f"su:cancel:{result.signup.id}"]],
            priority=1,
        )  # fmt: skip
    return result, resident, told


# --- at the station ------------------------------------------------------------------------------


async def managed_points(session: AsyncSession, person_id: int) -> list[ServicePoint]:
    """The service points this person runs: their teams' points, every point for a manager
    (a community has a handful of points: each is checked by the rule that guards it)."""
    person = await session.get(Person, person_id)
    if person is None:
        return []
    rows = await session.execute(
        select(ServicePoint)
        .where(col(ServicePoint.community_id) == person.community_id, col(ServicePoint.active))
        .order_by(col(ServicePoint.id))
    )
    return [p for p in rows.scalars() if await may_manage_point(session, p, person_id)]


async def check_in_code_at_station(
    session: AsyncSession, person_id: int, code: str, now: datetime
) -> tuple[Signup, ServicePoint] | None:
    """A code typed at the station: the volunteer types a resident's code (their sessions around
    now), or the resident types the session's code from the door. None: not a service code."""
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    for point in await managed_points(session, person_id):
        rows = await session.execute(
            select(Slot.id)
            .join(Signup, col(Signup.slot_id) == Slot.id)
            .where(
                col(Slot.kind) == KIND,
                col(Slot.owner_id) == point.id,
                col(Slot.starts_at) <= window[1],
                col(Slot.ends_at) >= window[0],
                col(Signup.code) == code,
                col(Signup.status).in_(HOLDING),
            )
            .order_by(col(Slot.starts_at))
            .limit(1)
        )
        slot_id = rows.scalar_one_or_none()
        if slot_id is not None:
            signup = await check_in_by_code(session, slot_id, code, person_id, now)
            return signup, point
    for _mine, slot in await person_signups(
        session, person_id, window[0], kind=KIND, statuses=HOLDING
    ):
        if slot.code == code:
            done = await check_in_by_code(session, slot.id or 0, code, person_id, now)
            return done, await point_of(session, slot)
    return None


async def names_of(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    """Person id → name (for lists)."""
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(col(Person.id).in_(ids)))
    return {int(i): n for i, n in rows.all()}


@dataclass(frozen=True)
class SessionCount:
    slot: Slot
    booked: int
    waiting: int
    checked_in: int


async def session_board(
    session: AsyncSession, point_id: int, person_id: int, now: datetime, limit: int = 12
) -> tuple[ServicePoint, list[SessionCount], tuple[int, int]]:
    """For the team and the manager: bookings per coming session and the point's no-show rate
    over the last 90 days (no-shows, people expected)."""
    point = await session.get(ServicePoint, point_id)
    if point is None or not await may_manage_point(session, point, person_id):
        raise DomainError("signup.not_allowed")
    slots = list(
        (
            await session.execute(
                select(Slot)
                .where(
                    col(Slot.kind) == KIND,
                    col(Slot.owner_id) == point_id,
                    col(Slot.ends_at) > now - timedelta(hours=12),
                )
                .order_by(col(Slot.starts_at))
                .limit(limit)
            )
        ).scalars()
    )
    counts: dict[tuple[int, str], int] = {}
    if slots:
        rows = await session.execute(
            select(col(Signup.slot_id), col(Signup.status), func.count())
            .where(col(Signup.slot_id).in_([s.id for s in slots]))
            .group_by(col(Signup.slot_id), col(Signup.status))
        )
        counts = {(int(a), str(b)): int(c) for a, b, c in rows.all()}
    board = [
        SessionCount(
            s,
            counts.get((s.id or 0, "booked"), 0) + counts.get((s.id or 0, "offered"), 0),
            counts.get((s.id or 0, "waiting"), 0),
            counts.get((s.id or 0, "checked_in"), 0),
        )
        for s in slots
    ]
    return point, board, await no_show_rate(session, point_id, now - timedelta(days=90))


async def cancel_session(session: AsyncSession, slot_id: int, actor_id: int, now: datetime) -> int:
    """A manager or the team cancels one session: everyone booked or waiting is told."""
    slot = await session.get(Slot, slot_id)
    if slot is None or slot.kind != KIND:
        raise DomainError("signup.not_found")
    return await cancel_slot(session, slot_id, actor_id, now)


# --- managers: new points ---------------------------------------------------------------------------


def point_key(name: str) -> str:
    """A stable key from a name ('志愿理发' → 'zhiyuanlifa')."""
    from pypinyin import lazy_pinyin

    key = re.sub(r"[^a-z0-9]+", "-", "".join(lazy_pinyin(name)).lower()).strip("-")
    return (key or "point")[:32]


async def create_point(
    session: AsyncSession,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    *,
    name: str,
    place: str,
    team_name: str | None = None,
    bring: str | None = None,
    now: datetime,
) -> ServicePoint:
    """A manager makes a service point (its team found by name, or made)."""
    if not any(r == Role.MANAGER for r, _ in roles):
        raise DomainError("signup.not_allowed")
    name, place = name.strip(), place.strip()
    if not 1 <= len(name) <= 64 or not 1 <= len(place) <= 128:
        raise DomainError("booking.bad_point")
    team_id = None
    if team_name and team_name.strip():
        team_id = await team_named(session, actor.community_id, team_name.strip())
    key = point_key(name)
    taken = await session.execute(
        select(func.count())
        .select_from(ServicePoint)
        .where(
            col(ServicePoint.community_id) == actor.community_id,
            col(ServicePoint.key).like(f"{key}%"),
        )
    )
    n = int(taken.scalar_one())
    point = ServicePoint(
        community_id=actor.community_id,
        key=key if n == 0 else f"{key[:28]}-{n + 1}",
        name=name,
        place=place,
        team_id=team_id,
        bring=(bring or "").strip() or None,
        keywords=name,
        created_at=now,
    )
    session.add(point)
    await session.flush()
    return point


async def team_named(session: AsyncSession, community_id: int, name: str) -> int:
    """The community's team of that name, made when missing."""
    found = (
        await session.execute(
            select(Team.id).where(col(Team.community_id) == community_id, col(Team.name) == name)
        )
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    team = Team(community_id=community_id, name=name[:64])
    session.add(team)
    await session.flush()
    return team.id or 0


async def point_by_key(session: AsyncSession, community_id: int, key: str) -> ServicePoint:
    """A point by its key or its name (files and commands name points this way)."""
    row = await session.execute(
        select(ServicePoint).where(
            col(ServicePoint.community_id) == community_id,
            (col(ServicePoint.key) == key) | (col(ServicePoint.name) == key),
        )
    )
    point = row.scalars().first()
    if point is None:
        raise DomainError("booking.no_point", point=key)
    return point


async def today_bounds(session: AsyncSession, community_id: int, now: datetime) -> datetime:
    """Midnight of the community's today."""
    zone = await _zone(session, community_id)
    return datetime.combine(now.astimezone(zone).date(), time(0), zone)
