"""Service points: session series, the booking rules as data, reminders at sensible hours."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.bookings import (
    ServicePoint,
    add_series,
    book,
    extend_series,
    parse_series,
    points,
    sessions,
    todays_list,
)
from models.db import Database
from models.errors import DomainError
from models.signups import SignupReminder, Slot, close_ended_slots
from models.tables import Community, Person, Role, RoleGrant, Street, Team, TeamMember
from tests.conftest import FakeClock

# The fake clock starts on Saturday 2026-03-07 10:00 in Asia/Shanghai (02:00 UTC).


def test_a_series_is_read_from_a_managers_sentence() -> None:
    spec = parse_series("每周六 9:00–11:30，每 30 分钟一场，每场 3 人")
    assert (spec.weekday, spec.start, spec.end, spec.every_minutes, spec.capacity) == (
        5,
        time(9, 0),
        time(11, 30),
        30,
        3,
    )
    assert parse_series("Sat 9:00-10:00 every 20 min 2 places").every_minutes == 20
    assert parse_series("礼拜三 14点-16点 每60分钟一场 每场5人").weekday == 2
    for bad in (
        "每周六",
        "每周八 9:00-10:00 每30分钟 每场3人",
        "每周六 11:00-9:00 每30分钟 每场3人",
    ):
        with pytest.raises(DomainError):
            parse_series(bad)


class Station:
    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.clock = clock

    async def setup(self, **rules: object) -> Station:
        async with self.db.session() as s:
            street = Street(name="街道")
            s.add(street)
            await s.flush()
            community = Community(street_id=street.id or 0, name="社区")
            s.add(community)
            await s.flush()
            self.community_id = community.id or 0
            team = Team(community_id=self.community_id, name="理发志愿队")
            s.add(team)
            await s.flush()
            self.people = {}
            for name in ("王", "李", "队员", "经理"):
                p = Person(community_id=self.community_id, name=name, verified=True)
                s.add(p)
                await s.flush()
                self.people[name] = p.id or 0
            s.add(TeamMember(team_id=team.id or 0, person_id=self.people["队员"]))
            s.add(
                RoleGrant(
                    person_id=self.people["经理"], role=Role.MANAGER, community_id=self.community_id
                )
            )
            point = ServicePoint(
                community_id=self.community_id,
                key="haircut",
                name="志愿理发",
                team_id=team.id,
                place="惠泽苑",
                **rules,  # type: ignore[arg-type]
            )
            s.add(point)
            await s.flush()
            self.point_id = point.id or 0
            _, self.made = await add_series(
                s, self.point_id, parse_series("每周六 9:00-11:30 每30分钟 每场2人"), self.clock()
            )
        return self

    async def sessions(self) -> list[int]:
        async with self.db.session() as s:
            return [slot.id or 0 for slot in await sessions(s, self.point_id, self.clock())]

    async def book(self, slot_id: int, name: str) -> str:
        async with self.db.session() as s:
            return (await book(s, slot_id, self.people[name], self.clock())).signup.status


@pytest.fixture
async def station(db: Database, clock: FakeClock) -> Station:
    return await Station(db, clock).setup(per_person_limit=1, opens_days_ahead=14)


async def test_sessions_are_made_on_the_weekday_as_far_as_booking_is_open(station: Station) -> None:
    # It is 10:00: today's 10:30 and 11:00 are still to come, then two Saturdays of five each.
    assert station.made == 2 + 5 + 5
    async with station.db.session() as s:
        summary = await points(s, station.community_id, station.clock())
        listed = await sessions(s, station.point_id, station.clock())
    assert [p.point.name for p in summary] == ["志愿理发"]
    # 10:00 and 10:30 close 30 minutes before they start; the first bookable is 11:00 today.
    assert listed[0].starts_at == datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    assert summary[0].next_free is not None and summary[0].next_free.id == listed[0].id


async def test_one_haircut_a_week_says_when_the_next_is_possible(station: Station) -> None:
    ids = await station.sessions()  # 11:00 today, then 03-14 09:00, 09:30, …, then 03-21
    assert await station.book(ids[0], "王") == "booked"
    assert await station.book(ids[1], "王") == "booked"  # another week
    with pytest.raises(DomainError) as err:
        await station.book(ids[2], "王")  # the same week as ids[1]
    assert err.value.key == "booking.limit"
    assert err.value.values["next"] == "03-16"  # the Monday after
    assert await station.book(ids[6], "王") == "booked"  # 03-21


async def test_booking_opens_days_ahead_and_closes_before_the_start(
    db: Database, clock: FakeClock
) -> None:
    station = await Station(db, clock).setup(opens_days_ahead=7)
    ids = await station.sessions()
    # today's 11:00, and next Saturday's up to 10:00 (exactly 7 days ahead); 10:30 not yet
    assert len(ids) == 1 + 3
    async with db.session() as s:
        later = await s.execute(
            select(Slot.id).where(col(Slot.id) > ids[-1]).order_by(col(Slot.id)).limit(1)
        )
        not_yet = later.scalar_one()
    with pytest.raises(DomainError) as err:
        await station.book(not_yet, "王")
    assert err.value.key == "booking.not_open_yet"
    assert err.value.values["opens"] == "03-07 10:30"
    clock.advance(minutes=40)  # 10:40: the 11:00 session closes at 10:30
    with pytest.raises(DomainError) as err:
        await station.book(ids[0], "王")
    assert err.value.key == "booking.closed"


async def test_repeated_no_shows_pause_booking(db: Database, clock: FakeClock) -> None:
    station = await Station(db, clock).setup(no_show_limit=2, no_show_pause_days=14)
    ids = await station.sessions()
    assert await station.book(ids[0], "王") == "booked"
    assert await station.book(ids[1], "王") == "booked"
    clock.advance(days=7)  # both sessions over, 王 never came
    async with db.session() as s:
        assert await close_ended_slots(s, clock()) >= 2
        await extend_series(s, clock())
    later = await station.sessions()
    with pytest.raises(DomainError) as err:
        await station.book(later[0], "王")
    assert err.value.key == "booking.no_show_pause"
    assert err.value.values == {"count": 2, "until": "03-28"}
    assert await station.book(later[0], "李") == "booked"


async def test_the_day_before_reminder_is_in_the_evening_not_at_night(station: Station) -> None:
    ids = await station.sessions()
    saturday = ids[1]  # 03-14 09:00 local
    await station.book(saturday, "王")
    async with station.db.session() as s:
        due = dict((r.label, r.due_at) for r in (await s.execute(select(SignupReminder))).scalars())
    assert due["day"] == datetime(2026, 3, 13, 10, 0, tzinfo=UTC)  # 18:00 on Friday, local
    assert due["hour"] == datetime(2026, 3, 14, 0, 0, tzinfo=UTC)  # 08:00 local


async def test_only_the_team_and_managers_see_todays_list(station: Station) -> None:
    ids = await station.sessions()
    await station.book(ids[0], "王")
    async with station.db.session() as s:
        with pytest.raises(DomainError):
            await todays_list(s, station.point_id, station.people["李"], station.clock())
        for name in ("队员", "经理"):
            today = await todays_list(s, station.point_id, station.people[name], station.clock())
            booked = [len(signups) for _slot, signups in today]
            assert sum(booked) == 1
