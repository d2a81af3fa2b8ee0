"""Service points (七彩微阵地: haircut, legal advice, health check …) and their bookable sessions.

A service point is data: its team, place, what to bring, and its booking rules (places per
session, at most N bookings per person per period, booking opens X days ahead and closes Y
minutes before, a pause after repeated no-shows). Its sessions are slots of the sign-up engine
(`models/signups/`, kind "service"); a `SessionSeries` ("每周六 9:00–11:30，每 30 分钟一场，
每场 3 人") makes them, as far ahead as booking is open, and the clock keeps extending it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Index, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.outbox import enqueue
from models.signups import (
    HOLDING,
    Signup,
    SignupResult,
    Slot,
    SlotKind,
    SlotStatus,
    create_slot,
    register_kind,
    sign_up,
)
from models.tables import Community, Person, Role, RoleGrant, Team, TeamMember

KIND = "service"
# Counting periods (e.g. "one haircut a week") start on Mondays: 2024-01-01 was one.
_PERIOD_EPOCH = date(2024, 1, 1)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ServicePoint(SQLModel, table=True):
    """A place where a team offers a service in sessions (志愿理发 at 惠泽苑), with its rules."""

    __table_args__ = (Index("ix_servicepoint_community_key", "community_id", "key", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    key: str = Field(max_length=32)  # "haircut": stable, for files and commands
    name: str = Field(max_length=64)  # 志愿理发
    colour: str | None = Field(default=None, max_length=8)  # 红 (the seven-colour stations)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    place: str = Field(max_length=128)  # 惠泽苑七彩微阵地
    latitude: float | None = None
    longitude: float | None = None
    bring: str | None = Field(default=None, max_length=128)  # 社保卡、身份证
    description: str | None = Field(default=None, max_length=256)
    keywords: str = Field(default="", max_length=256)  # free-text words: "理发 剪头发 haircut"
    # The rules, as data.
    capacity: int = 3  # places per session, unless a session says otherwise
    session_minutes: int = 30
    per_person_limit: int | None = None  # open bookings per person per period; None: no limit
    limit_period_days: int = 7
    opens_days_ahead: int = 14
    closes_minutes_before: int = 30
    claim_minutes: int = 10
    no_show_limit: int | None = 2  # this many no-shows within the window …
    no_show_window_days: int = 30
    no_show_pause_days: int = 14  # … pause booking this long after the last one
    remind_evening_hour: int = 18  # the day-before reminder, community time (never at night)
    active: bool = True
    created_at: datetime = _ts(default_factory=utcnow)


class SessionSeries(SQLModel, table=True):
    """Repeating sessions of a service point: a weekday, a time range, a session length."""

    id: int | None = Field(default=None, primary_key=True)
    point_id: int = Field(foreign_key="servicepoint.id", index=True)
    weekday: int  # 0 Monday … 6 Sunday
    start: time
    end: time
    every_minutes: int
    capacity: int
    starts_on: date
    until: date | None = None
    generated_until: date | None = None  # sessions exist up to this date
    # When the booking horizon next moves past `generated_until` (the next community day; None:
    # `until` is reached): the clock's tick reads only the series due, through an index.
    extend_after: datetime | None = _ts(default=None, index=True)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts(default_factory=utcnow)


# --- the kind of slot ----------------------------------------------------------------------------


async def _zone(session: AsyncSession, community_id: int) -> ZoneInfo:
    community = await session.get(Community, community_id)
    return ZoneInfo(community.timezone if community else "Asia/Shanghai")


def when_text(slot: Slot, zone: ZoneInfo) -> str:
    """'03-07 09:00–09:30' in the community's time."""
    start = slot.starts_at.astimezone(zone)
    end = slot.ends_at.astimezone(zone)
    return f"{start:%m-%d %H:%M}–{end:%H:%M}"


async def point_of(session: AsyncSession, slot: Slot) -> ServicePoint:
    point = await session.get(ServicePoint, slot.owner_id)
    if point is None:
        raise DomainError("signup.not_found")
    return point


async def _describe(session: AsyncSession, slot: Slot) -> dict[str, Any]:
    point = await point_of(session, slot)
    team = await session.get(Team, point.team_id) if point.team_id else None
    return {
        "title": point.name,
        "when": when_text(slot, await _zone(session, slot.community_id)),
        "place": point.place,
        "team": team.name if team else "",
        "bring": point.bring or "",
    }


async def may_manage_point(session: AsyncSession, point: ServicePoint, person_id: int) -> bool:
    """The point's team members and the community's managers run its sessions."""
    if point.team_id is not None:
        member = await session.get(TeamMember, (point.team_id, person_id))
        # A member still waiting for approval, or marked inactive, does not run sessions.
        if member is not None and member.approved and member.active:
            return True
    grant = await session.execute(
        select(RoleGrant.id).where(
            col(RoleGrant.person_id) == person_id,
            col(RoleGrant.role) == Role.MANAGER,
            col(RoleGrant.community_id) == point.community_id,
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    return grant.first() is not None


async def _may_manage(session: AsyncSession, slot: Slot, person_id: int) -> bool:
    return await may_manage_point(session, await point_of(session, slot), person_id)


def period_start(day: date, days: int) -> date:
    """The first day of the counting period that contains `day` (weeks start on Monday)."""
    return day - timedelta(days=(day - _PERIOD_EPOCH).days % days)


async def _check(session: AsyncSession, slot: Slot, person_id: int, now: datetime) -> None:
    """The point's rules; each refusal says which rule and when booking becomes possible."""
    point = await point_of(session, slot)
    zone = await _zone(session, slot.community_id)
    if not point.active:
        raise DomainError("booking.point_closed")
    opens = slot.starts_at - timedelta(days=point.opens_days_ahead)
    if now < opens:
        raise DomainError("booking.not_open_yet", opens=f"{opens.astimezone(zone):%m-%d %H:%M}")
    if now > slot.starts_at - timedelta(minutes=point.closes_minutes_before):
        raise DomainError("booking.closed", minutes=point.closes_minutes_before)
    if point.no_show_limit:
        window = now - timedelta(days=point.no_show_window_days)
        missed = await _no_show_times(session, person_id, point, window)
        if len(missed) >= point.no_show_limit:
            until = missed[-1] + timedelta(days=point.no_show_pause_days)
            if now < until:
                raise DomainError(
                    "booking.no_show_pause",
                    count=len(missed),
                    until=f"{until.astimezone(zone):%m-%d}",
                )
    if point.per_person_limit:
        first = period_start(slot.starts_at.astimezone(zone).date(), point.limit_period_days)
        start = datetime.combine(first, time(0), zone)
        end = start + timedelta(days=point.limit_period_days)
        taken = await session.execute(
            select(func.count())
            .select_from(Signup)
            .join(Slot, col(Slot.id) == Signup.slot_id)
            .where(
                col(Signup.person_id) == person_id,
                col(Signup.status).in_(HOLDING),
                col(Slot.kind) == KIND,
                col(Slot.owner_id) == point.id,
                col(Slot.starts_at) >= start,
                col(Slot.starts_at) < end,
            )
        )
        if int(taken.scalar_one()) >= point.per_person_limit:
            raise DomainError(
                "booking.limit",
                limit=point.per_person_limit,
                days=point.limit_period_days,
                next=f"{end:%m-%d}",
            )


async def _no_show_times(
    session: AsyncSession, person_id: int, point: ServicePoint, since: datetime
) -> list[datetime]:
    rows = await session.execute(
        select(col(Slot.starts_at))
        .join(Signup, col(Signup.slot_id) == Slot.id)
        .where(
            col(Signup.person_id) == person_id,
            col(Signup.status) == "no_show",
            col(Slot.kind) == KIND,
            col(Slot.owner_id) == point.id,
            col(Slot.starts_at) >= since,
        )
        .order_by(col(Slot.starts_at))
    )
    return list(rows.scalars())


def reminder_times(slot: Slot, zone: ZoneInfo, evening_hour: int) -> list[tuple[str, datetime]]:
    """The evening before (at `evening_hour`, community time) and one hour before."""
    local = slot.starts_at.astimezone(zone)
    evening = datetime.combine(local.date() - timedelta(days=1), time(evening_hour), zone)
    return [("day", evening), ("hour", slot.starts_at - timedelta(hours=1))]


async def _reminders(session: AsyncSession, slot: Slot) -> list[tuple[str, datetime]]:
    point = await point_of(session, slot)
    return reminder_times(slot, await _zone(session, slot.community_id), point.remind_evening_hour)


class ServiceRating(SQLModel, table=True):
    """A resident's one-tap rating of a session they came to: 居民评议 of the point's team."""

    id: int | None = Field(default=None, primary_key=True)
    signup_id: int = Field(foreign_key="signup.id", unique=True)
    point_id: int = Field(foreign_key="servicepoint.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    stars: int
    created_at: datetime = _ts(default_factory=utcnow)


def rating_buttons(signup_id: int) -> list[list[str]]:
    """Five stars … one star: one tap."""
    return [[f"btn.stars_{n}", f"bk:rate:{signup_id}:{n}"] for n in (5, 4, 3, 2, 1)]


async def _after_service(
    session: AsyncSession, slot: Slot, came: list[Signup], now: datetime
) -> None:
    """After a session, everyone who came is asked for a one-tap rating of the team."""
    values = await _describe(session, slot)
    for signup in came:
        await enqueue(
            session,
            person_id=signup.person_id,
            kind="booking",
            dedupe_key=f"booking:rate:{signup.id}",
            now=now,
            text_key="booking.rate_ask",
            values=values,
            choices=rating_buttons(signup.id or 0),
            priority=3,
        )


async def rate_session(
    session: AsyncSession, signup_id: int, person_id: int, stars: int, now: datetime
) -> ServiceRating:
    """One tap by the person who came (checked in); a second tap changes the stars."""
    signup = await session.get(Signup, signup_id)
    if signup is None or signup.person_id != person_id or not 1 <= stars <= 5:
        raise DomainError("signup.not_found")
    if signup.status != "checked_in":
        raise DomainError("booking.rate_only_came")
    slot = await session.get(Slot, signup.slot_id)
    if slot is None or slot.kind != KIND:
        raise DomainError("signup.not_found")
    point = await point_of(session, slot)
    rating = (
        await session.execute(
            select(ServiceRating).where(col(ServiceRating.signup_id) == signup_id)
        )
    ).scalar_one_or_none()
    if rating is None:
        rating = ServiceRating(
            signup_id=signup_id,
            point_id=point.id or 0,
            team_id=point.team_id,
            person_id=person_id,
            stars=stars,
            created_at=now,
        )
        session.add(rating)
    rating.stars, rating.created_at = stars, now
    await session.flush()
    return rating


async def team_ratings(session: AsyncSession, community_id: int) -> list[tuple[int, int, datetime]]:
    """(team, stars, when) of every session rating in a community (居民评议 per team)."""
    rows = await session.execute(
        select(col(ServiceRating.team_id), col(ServiceRating.stars), col(ServiceRating.created_at))
        .join(ServicePoint, col(ServicePoint.id) == ServiceRating.point_id)
        .where(
            col(ServicePoint.community_id) == community_id, col(ServiceRating.team_id).is_not(None)
        )
    )
    return [(int(t), int(s), at) for t, s, at in rows.all()]


SERVICE = register_kind(
    SlotKind(
        name=KIND,
        describe=_describe,
        may_manage=_may_manage,
        check=_check,
        reminders=_reminders,
        after_slot=_after_service,
        texts={
            "offer": "booking.offer",
            "reminder": "booking.reminder",
            "reminder_late": "booking.reminder_late",
            "cancelled_notice": "booking.cancelled_notice",
        },
    )
)


# --- booking ------------------------------------------------------------------------------------


async def book(
    session: AsyncSession,
    slot_id: int,
    person_id: int,
    now: datetime,
    *,
    booked_by_id: int | None = None,
    booked_as: str = "self",
) -> SignupResult:
    """Book a place in a session (or join its waitlist), by the point's rules."""
    slot = await session.get(Slot, slot_id)
    person = await session.get(Person, person_id)
    if slot is None or slot.kind != KIND or person is None:
        raise DomainError("signup.not_found")
    if person.community_id != slot.community_id:  # a forged id of another community's session
        raise DomainError("signup.not_found")
    return await sign_up(
        session, slot_id, person_id, now, booked_by_id=booked_by_id, booked_as=booked_as
    )


@dataclass(frozen=True)
class PointSummary:
    point: ServicePoint
    next_free: Slot | None  # the soonest session with a free place
    sessions: int  # bookable sessions ahead


def _bookable(point: ServicePoint, now: datetime) -> Any:
    return (
        (col(Slot.kind) == KIND)
        & (col(Slot.owner_id) == point.id)
        & (col(Slot.status) == SlotStatus.OPEN)
        & (col(Slot.starts_at) > now + timedelta(minutes=point.closes_minutes_before))
        & (col(Slot.starts_at) <= now + timedelta(days=point.opens_days_ahead))
    )


async def points(session: AsyncSession, community_id: int, now: datetime) -> list[PointSummary]:
    """The community's open service points with their next free time, in a stable order."""
    found = await session.execute(
        select(ServicePoint)
        .where(col(ServicePoint.community_id) == community_id, col(ServicePoint.active))
        .order_by(col(ServicePoint.id))
    )
    out: list[PointSummary] = []
    for point in found.scalars():
        where = _bookable(point, now)
        next_free = (
            await session.execute(
                select(Slot)
                .where(where, col(Slot.held) < col(Slot.capacity))
                .order_by(col(Slot.starts_at))
                .limit(1)
            )
        ).scalar_one_or_none()
        count = await session.execute(select(func.count()).select_from(Slot).where(where))
        out.append(PointSummary(point, next_free, int(count.scalar_one())))
    return out


async def sessions(
    session: AsyncSession, point_id: int, now: datetime, limit: int = 12
) -> list[Slot]:
    """A point's bookable sessions, soonest first (full ones too: they offer the waitlist)."""
    point = await session.get(ServicePoint, point_id)
    if point is None or not point.active:
        raise DomainError("signup.not_found")
    rows = await session.execute(
        select(Slot).where(_bookable(point, now)).order_by(col(Slot.starts_at)).limit(limit)
    )
    return list(rows.scalars())


async def todays_list(
    session: AsyncSession, point_id: int, person_id: int, now: datetime
) -> list[tuple[Slot, list[Signup]]]:
    """今日名单: today's sessions of the point with their sign-ups (for its team and managers)."""
    point = await session.get(ServicePoint, point_id)
    if point is None or not await may_manage_point(session, point, person_id):
        raise DomainError("signup.not_allowed")
    zone = await _zone(session, point.community_id)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), zone)
    rows = await session.execute(
        select(Slot)
        .where(
            col(Slot.kind) == KIND,
            col(Slot.owner_id) == point_id,
            col(Slot.starts_at) >= start,
            col(Slot.starts_at) < start + timedelta(days=1),
        )
        .order_by(col(Slot.starts_at))
    )
    out = []
    for slot in rows.scalars():
        signups = await session.execute(
            select(Signup)
            .where(col(Signup.slot_id) == slot.id, col(Signup.status).in_(HOLDING))
            .order_by(col(Signup.created_at), col(Signup.id))
        )
        out.append((slot, list(signups.scalars())))
    return out


async def no_show_rate(session: AsyncSession, point_id: int, since: datetime) -> tuple[int, int]:
    """(no-shows, sign-ups that came or not) for a point's ended sessions since a time."""
    rows = await session.execute(
        select(col(Signup.status), func.count())
        .join(Slot, col(Slot.id) == Signup.slot_id)
        .where(
            col(Slot.kind) == KIND,
            col(Slot.owner_id) == point_id,
            col(Slot.starts_at) >= since,
            col(Signup.status).in_(("no_show", "checked_in")),
        )
        .group_by(col(Signup.status))
    )
    counts = dict(rows.all())
    missed = int(counts.get("no_show", 0))
    return missed, missed + int(counts.get("checked_in", 0))


# --- series ---------------------------------------------------------------------------------------

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_EN_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SeriesSpec:
    weekday: int
    start: time
    end: time
    every_minutes: int
    capacity: int


def parse_series(text: str) -> SeriesSpec:
    """'每周六 9:00–11:30，每 30 分钟一场，每场 3 人' (or 'Sat 9:00-11:30 every 30 min 3 places')."""
    s = unicodedata.normalize("NFKC", text).lower()
    weekday = None
    m = re.search(r"(?:周|星期|礼拜)([一二三四五六日天七1-7])", s)
    if m:
        d = m.group(1)
        weekday = int(d) - 1 if d.isdigit() else _WEEKDAYS[d]
    else:
        for i, name in enumerate(_EN_WEEKDAYS):
            if re.search(rf"\b{name}", s):
                weekday = i
                break
    times = re.findall(r"(\d{1,2})[:：点](\d{2})?", s)
    every = re.search(r"每\s*(\d+)\s*分钟|every\s*(\d+)\s*min", s)
    cap = re.search(r"每场\s*(\d+)\s*(?:人|位|个)|(\d+)\s*(?:places|people|seats)", s)
    if weekday is None or len(times) < 2 or every is None or cap is None:
        raise DomainError("booking.bad_series")
    (h1, m1), (h2, m2) = times[0], times[1]
    start, end = time(int(h1), int(m1 or 0)), time(int(h2), int(m2 or 0))
    minutes = int(every.group(1) or every.group(2))
    capacity = int(cap.group(1) or cap.group(2))
    if end <= start or not 5 <= minutes <= 480 or not 1 <= capacity <= 500:
        raise DomainError("booking.bad_series")
    return SeriesSpec(weekday, start, end, minutes, capacity)


async def add_series(
    session: AsyncSession,
    point_id: int,
    spec: SeriesSpec,
    now: datetime,
    *,
    person_id: int | None = None,
    until: date | None = None,
) -> tuple[SessionSeries, int]:
    """A repeating series of sessions; sessions are made as far ahead as booking is open."""
    point = await session.get(ServicePoint, point_id)
    if point is None:
        raise DomainError("signup.not_found")
    if person_id is not None and not await may_manage_point(session, point, person_id):
        raise DomainError("signup.not_allowed")
    zone = await _zone(session, point.community_id)
    series = SessionSeries(
        point_id=point_id,
        weekday=spec.weekday,
        start=spec.start,
        end=spec.end,
        every_minutes=spec.every_minutes,
        capacity=spec.capacity,
        starts_on=now.astimezone(zone).date(),
        until=until,
        created_by_id=person_id,
        created_at=now,
    )
    session.add(series)
    await session.flush()
    made = await _extend(session, point, series, zone, now)
    return series, made


async def _extend(
    session: AsyncSession, point: ServicePoint, series: SessionSeries, zone: ZoneInfo, now: datetime
) -> int:
    today = now.astimezone(zone).date()
    horizon = today + timedelta(days=point.opens_days_ahead)
    if series.until is not None:
        horizon = min(horizon, series.until)
    day = max(
        series.starts_on,
        (series.generated_until or series.starts_on - timedelta(days=1)) + timedelta(days=1),
    )
    made = 0
    while day <= horizon:
        if day.weekday() == series.weekday:
            start = datetime.combine(day, series.start, zone)
            last = datetime.combine(day, series.end, zone)
            while start + timedelta(minutes=series.every_minutes) <= last:
                end = start + timedelta(minutes=series.every_minutes)
                if start > now:
                    await create_slot(
                        session,
                        community_id=point.community_id,
                        kind=KIND,
                        owner_id=point.id or 0,
                        starts_at=start,
                        ends_at=end,
                        capacity=series.capacity,
                        claim_minutes=point.claim_minutes,
                        now=now,
                    )
                    made += 1
                start = end
        day += timedelta(days=1)
    series.generated_until = max(horizon, series.generated_until or horizon)
    if series.until is not None and series.generated_until >= series.until:
        series.extend_after = None
    else:
        series.extend_after = datetime.combine(today + timedelta(days=1), time(0), zone)
    return made


async def extend_series(session: AsyncSession, now: datetime) -> int:
    """Clock job: every series whose horizon moved (a new day) gets its sessions up to it."""
    rows = await session.execute(
        select(SessionSeries, ServicePoint)
        .join(ServicePoint, col(ServicePoint.id) == SessionSeries.point_id)
        .where(col(SessionSeries.extend_after) <= now, col(ServicePoint.active))
    )
    made = 0
    zones: dict[int, ZoneInfo] = {}
    for series, point in rows.all():
        if point.community_id not in zones:
            zones[point.community_id] = await _zone(session, point.community_id)
        made += await _extend(session, point, series, zones[point.community_id], now)
    return made
