"""Events on the sign-up engine: audiences, companions, changes, cancel, meetings, calendar files."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlmodel import col

from models.db import Database
from models.errors import DomainError
from models.events import (
    Audience,
    Change,
    Event,
    EventKind,
    cancel_event,
    change_event,
    create_event,
    get_event,
    ics,
    join,
    upcoming_for,
)
from models.meetings import answer_rsvp, post_minutes, remind_unanswered
from models.signups import SignupReminder, check_invariants
from models.tables import ChannelAccount, Outbox, Person
from tests.conftest import FakeClock


async def _people(db: Database) -> dict[str, Person]:
    """The demo people, each given a Telegram account (so messages to them are queued)."""
    async with db.session() as s:
        people = {p.name: p for p in (await s.execute(select(Person))).scalars()}
        for p in people.values():
            s.add(
                ChannelAccount(
                    channel="telegram", external_id=f"t{p.id}", chat_id=f"t{p.id}", person_id=p.id
                )
            )
        return people


async def _texts(db: Database, person: Person, key: str) -> list[dict[str, object]]:
    async with db.session() as s:
        rows = await s.execute(
            select(Outbox).where(col(Outbox.person_id) == person.id, col(Outbox.text_key) == key)
        )
        return [r.values for r in rows.scalars()]


async def _workshop(db: Database, clock: FakeClock, organiser: Person, **kw: object) -> Event:
    async with db.session() as s:
        params: dict[str, object] = {
            "organiser": organiser,
            "title": "三八节 DIY 胸针",
            "place": "虹南社区活动室",
            "starts_at": clock() + timedelta(days=3),
            "ends_at": clock() + timedelta(days=3, hours=2),
            "capacity": 3,
            "now": clock(),
            "max_party": 2,
        }
        params.update(kw)
        return await create_event(s, **params)  # type: ignore[arg-type]


async def test_audiences_decide_who_sees_and_who_may_join(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    manager = people["刘芳"]
    volunteers = await _workshop(demo, clock, manager, audience=Audience.VOLUNTEERS)
    everyone = await _workshop(demo, clock, manager, title="环保出行")
    async with demo.session() as s:
        seen_by_wang = [e.title for e, _ in await upcoming_for(s, people["王建国"], clock())]
        seen_by_li = [e.title for e, _ in await upcoming_for(s, people["李红"], clock())]
    assert seen_by_wang == ["环保出行"]
    assert sorted(seen_by_li) == sorted(["三八节 DIY 胸针", "环保出行"])
    async with demo.session() as s:
        with pytest.raises(DomainError) as err:
            await join(s, volunteers.id or 0, people["王建国"].id or 0, clock())
    assert err.value.key == "events.volunteers_only"
    async with demo.session() as s:
        assert (await join(s, everyone.id or 0, people["王建国"].id or 0, clock())).booked


async def test_organising_needs_a_staff_role_and_sane_input(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    with pytest.raises(DomainError) as err:
        await _workshop(demo, clock, people["王建国"])
    assert err.value.key == "error.forbidden"
    with pytest.raises(DomainError) as err:
        await _workshop(demo, clock, people["刘芳"], starts_at=clock() - timedelta(hours=1))
    assert err.value.key == "events.in_the_past"
    with pytest.raises(DomainError) as err:
        await _workshop(demo, clock, people["刘芳"], audience=Audience.GRID)
    assert err.value.key == "events.bad_audience"
    async with demo.session() as s:
        assert (await s.execute(select(Event))).first() is None


async def test_companions_and_the_last_two_places_at_once(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    event = await _workshop(demo, clock, people["刘芳"], capacity=3)
    async with demo.session() as s:
        await join(s, event.id or 0, people["王建国"].id or 0, clock())  # one place left … two

    async def go(name: str, companions: int) -> str:
        async with demo.session() as s:
            result = await join(
                s, event.id or 0, people[name].id or 0, clock(), companions=companions
            )
            return result.signup.status

    with pytest.raises(DomainError):
        await go("李红", 2)  # three people: over the limit of two per sign-up
    statuses = await asyncio.gather(go("李红", 1), go("张伟", 0))
    assert sorted(statuses) in (["booked", "booked"], ["booked", "waiting"])
    async with demo.session() as s:
        invariants = await check_invariants(s)
        _, slot = await get_event(s, event.id or 0)
    assert all(invariants.values())
    assert slot.held <= slot.capacity == 3


async def test_a_change_of_time_tells_everyone_and_moves_their_reminders(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    event = await _workshop(demo, clock, people["刘芳"], capacity=1)
    for name in ("王建国", "李红"):  # 李红 waits
        async with demo.session() as s:
            await join(s, event.id or 0, people[name].id or 0, clock())
    async with demo.session() as s:
        with pytest.raises(DomainError):
            await change_event(
                s, event.id or 0, people["王建国"].id or 0, Change(place="x"), clock()
            )
    async with demo.session() as s:
        told = await change_event(
            s,
            event.id or 0,
            people["刘芳"].id or 0,
            Change(starts_at=clock() + timedelta(days=4), place="虹桥南村广场"),
            clock(),
        )
    assert told == 2
    changed = await _texts(demo, people["李红"], "events.changed")
    assert changed and changed[0]["place_before"] == "虹南社区活动室"
    assert changed[0]["place"] == "虹桥南村广场"
    async with demo.session() as s:
        due = sorted((await s.execute(select(SignupReminder.due_at))).scalars())
    start = clock() + timedelta(days=4)
    assert due == [start - timedelta(hours=48), start - timedelta(hours=2)]


async def test_a_cancelled_event_tells_everyone_waitlist_included(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    event = await _workshop(demo, clock, people["刘芳"], capacity=1)
    for name in ("王建国", "李红"):
        async with demo.session() as s:
            await join(s, event.id or 0, people[name].id or 0, clock())
    async with demo.session() as s:
        assert await cancel_event(s, event.id or 0, people["刘芳"].id or 0, clock()) == 2
    for name in ("王建国", "李红"):
        assert await _texts(demo, people[name], "signup.cancelled_notice")


async def test_a_meeting_with_invitees_rsvp_reminder_and_minutes(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    invitees = [people["王建国"].id or 0, people["赵敏"].id or 0]
    meeting = await _workshop(
        demo,
        clock,
        people["刘芳"],
        kind=EventKind.MEETING,
        title="车库电表议事协商会",
        audience=Audience.INVITEES,
        invitees=invitees,
        capacity=10,
        starts_at=clock() + timedelta(hours=20),
        ends_at=clock() + timedelta(hours=22),
    )
    async with demo.session() as s:
        with pytest.raises(DomainError) as err:
            await join(s, meeting.id or 0, people["李红"].id or 0, clock())
        assert err.value.key == "events.invitees_only"
        await answer_rsvp(s, meeting.id or 0, people["王建国"].id or 0, "yes", clock())
        with pytest.raises(DomainError):
            await answer_rsvp(s, meeting.id or 0, people["李红"].id or 0, "yes", clock())
    for _ in range(2):  # once only
        async with demo.session() as s:
            await remind_unanswered(s, clock())
    assert len(await _texts(demo, people["赵敏"], "events.rsvp_reminder")) == 1
    assert not await _texts(demo, people["王建国"], "events.rsvp_reminder")
    async with demo.session() as s:
        told = await post_minutes(
            s, meeting.id or 0, people["刘芳"].id or 0, "决定：电表按户安装。", clock()
        )
    assert told == 2
    assert (await _texts(demo, people["赵敏"], "events.minutes"))[0][
        "minutes"
    ] == "决定：电表按户安装。"


async def test_the_calendar_file_reads_back(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    event = await _workshop(demo, clock, people["刘芳"])
    async with demo.session() as s:
        event, slot = await get_event(s, event.id or 0)
    parsed = Calendar.from_ical(ics(event, slot))
    item = next(iter(parsed.walk("VEVENT")))
    assert str(item["SUMMARY"]) == "三八节 DIY 胸针"
    assert str(item["LOCATION"]) == "虹南社区活动室"
    assert item.decoded("DTSTART") == slot.starts_at


async def test_families_with_children_only(demo: Database, clock: FakeClock) -> None:
    people = await _people(demo)
    event = await _workshop(demo, clock, people["刘芳"], audience=Audience.FAMILIES)
    wang = people["王建国"]
    async with demo.session() as s:
        with pytest.raises(DomainError) as err:
            await join(s, event.id or 0, wang.id or 0, clock())
        assert err.value.key == "events.families_only"
        s.add(
            Person(
                community_id=wang.community_id,
                grid_id=wang.grid_id,
                household_id=wang.household_id,
                name="王小宝",
                birth_date=date(2019, 5, 1),
            )
        )
    async with demo.session() as s:
        assert (await join(s, event.id or 0, wang.id or 0, clock())).booked
