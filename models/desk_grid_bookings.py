"""The staff desk's 预约 page for a grid leader: read-only, the bookings of their grids' residents.

A grid leader runs no service point, but looks after the people of their grids: who booked what
(a haircut, a health check), who did not come (so someone can ask why, or book again for an
old person), and which bookings were made for someone (代办: by family or by staff). The rows
are the residents' own sign-ups at any service point of the community, from 30 days ago to
the end of next week; another grid's residents never appear. A manager sees every grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.booking_desk import names_of
from models.bookings import KIND, ServicePoint
from models.bookings import _zone as zone_of
from models.console import Viewer
from models.signups import Signup, SignupStatus, Slot
from models.tables import Grid, Person

PAST_DAYS = 30
MAX_ROWS = 500
SHOWN = (
    SignupStatus.BOOKED,
    SignupStatus.WAITING,
    SignupStatus.OFFERED,
    SignupStatus.CHECKED_IN,
    SignupStatus.NO_SHOW,
    SignupStatus.CANCELLED,
)


@dataclass(frozen=True)
class GridBooking:
    """One resident's booking: who, which grid, where and when, its state, and who booked it."""

    name: str
    grid: str
    point: str
    starts_at: datetime
    status: str
    booked_by: str | None  # 代办: someone else booked it


@dataclass(frozen=True)
class GridBookings:
    rows: list[GridBooking]
    upcoming: int  # booked or waiting, still to come
    no_shows: int  # did not come, in the last 30 days
    for_them: int  # booked by someone else (代办)


def may_see_grid_bookings(viewer: Viewer) -> bool:
    """Grid leaders (their grids) and managers (every grid)."""
    return viewer.is_grid_leader or viewer.is_manager


async def grid_bookings(session: AsyncSession, viewer: Viewer, now: datetime) -> GridBookings:
    """The bookings of the residents of the viewer's grids (newest session first)."""
    zone = await zone_of(session, viewer.community_id)
    today = now.astimezone(zone).date()
    until = datetime.combine(today + timedelta(days=14 - today.weekday()), time(0), zone)
    query = (
        select(Signup, Slot, Person, ServicePoint.name, Grid.name)
        .join(Slot, col(Slot.id) == Signup.slot_id)
        .join(Person, col(Person.id) == Signup.person_id)
        .join(ServicePoint, col(ServicePoint.id) == Slot.owner_id)
        .outerjoin(Grid, col(Grid.id) == Person.grid_id)
        .where(
            col(Slot.kind) == KIND,
            col(Slot.community_id) == viewer.community_id,
            col(Person.community_id) == viewer.community_id,
            col(Slot.starts_at) >= now - timedelta(days=PAST_DAYS),
            col(Slot.starts_at) < until,
            col(Signup.status).in_([s.value for s in SHOWN]),
        )
    )
    grids = viewer.scope.grids if viewer.scope is not None else ()
    if not viewer.is_manager:
        query = query.where(col(Person.grid_id).in_(grids or (-1,)))
    found = (
        await session.execute(
            query.order_by(col(Slot.starts_at).desc(), col(Signup.id)).limit(MAX_ROWS)
        )
    ).all()
    by = {s.booked_by_id for s, *_ in found if s.booked_by_id and s.booked_by_id != s.person_id}
    names = await names_of(session, by)
    rows = [
        GridBooking(
            name=person.name,
            grid=grid or "",
            point=point,
            starts_at=slot.starts_at,
            status=signup.status,
            booked_by=names.get(signup.booked_by_id)
            if signup.booked_by_id and signup.booked_by_id != signup.person_id
            else None,
        )
        for signup, slot, person, point, grid in found
    ]
    waiting = {SignupStatus.BOOKED, SignupStatus.WAITING, SignupStatus.OFFERED}
    return GridBookings(
        rows=rows,
        upcoming=sum(1 for r in rows if r.status in waiting and r.starts_at > now),
        no_shows=sum(1 for r in rows if r.status == SignupStatus.NO_SHOW),
        for_them=sum(1 for r in rows if r.booked_by),
    )
