"""The staff desk's 预约 page: the chat's board (📊 预约情况, `session_board`) for the points a
viewer runs, this week and next, and one session's list of who booked (and who booked for them).

Scoped like the chat: a manager sees the community's points, a team leader their teams' points;
grid leaders see none (the chat's board is for the point's team and managers only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.booking_desk import SessionCount, managed_points, names_of, session_board
from models.bookings import KIND, ServicePoint, may_manage_point, point_of
from models.bookings import _zone as zone_of
from models.console import Viewer
from models.errors import DomainError
from models.signups import Signup, SignupStatus, Slot

SHOWN = (*(s.value for s in SignupStatus),)


@dataclass(frozen=True)
class PointBoard:
    point: ServicePoint
    rows: list[SessionCount]
    missed: int  # no-shows over the last 90 days …
    expected: int  # … of the people expected


@dataclass(frozen=True)
class Booked:
    signup: Signup
    name: str
    booked_by: str | None  # 代办: who booked for them


def may_see_bookings(viewer: Viewer) -> bool:
    """The navigation's rule: managers and team leaders (grid leaders: the chat shows them none)."""
    return viewer.is_manager or bool(viewer.teams)


async def desk_points(session: AsyncSession, viewer: Viewer) -> list[ServicePoint]:
    """The points this viewer runs: all for a manager, their led teams' points for a team leader."""
    points = await managed_points(session, viewer.id)
    if viewer.is_manager:
        return points
    return [p for p in points if p.team_id in viewer.teams]


async def two_weeks(session: AsyncSession, viewer: Viewer, now: datetime) -> list[PointBoard]:
    """Each point's sessions from today to the end of next week, with the no-show rate."""
    zone = await zone_of(session, viewer.community_id)
    today = now.astimezone(zone).date()
    until = datetime.combine(today + timedelta(days=14 - today.weekday()), time(0), zone)
    out = []
    for point in await desk_points(session, viewer):
        _p, rows, (missed, expected) = await session_board(
            session, point.id or 0, viewer.id, now, limit=200
        )
        out.append(
            PointBoard(point, [r for r in rows if r.slot.starts_at < until], missed, expected)
        )
    return out


async def session_people(
    session: AsyncSession, viewer: Viewer, slot_id: int
) -> tuple[Slot, ServicePoint, list[Booked]]:
    """One session and everyone who booked it (any state), in booking order; DomainError when
    it is not a session of a point this viewer runs."""
    slot = await session.get(Slot, slot_id)
    if slot is None or slot.kind != KIND:
        raise DomainError("signup.not_found")
    point = await point_of(session, slot)
    if point.id not in {p.id for p in await desk_points(session, viewer)}:
        raise DomainError("signup.not_found")
    if not await may_manage_point(session, point, viewer.id):
        raise DomainError("signup.not_found")
    rows = await session.execute(
        select(Signup)
        .where(col(Signup.slot_id) == slot_id, col(Signup.status).in_(SHOWN))
        .order_by(col(Signup.created_at), col(Signup.id))
    )
    signups = list(rows.scalars())
    ids = {s.person_id for s in signups} | {s.booked_by_id for s in signups if s.booked_by_id}
    names = await names_of(session, ids)
    people = [
        Booked(
            s,
            names.get(s.person_id, "?"),
            names.get(s.booked_by_id) if s.booked_by_id and s.booked_by_id != s.person_id else None,
        )
        for s in signups
    ]
    return slot, point, people
