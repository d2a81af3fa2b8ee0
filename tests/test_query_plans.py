"""The hot path uses indexes: every query of a message, a button, "my cases", the clock's ticks,
the delivery worker's claim and an audience count, explained against a generated district."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from bot.app import Linli
from bot.config import Settings
from handlers.core import Incoming
from models.benefits import load_catalogue
from models.db import Database, utcnow
from models.notices import count_audience
from models.outbox import claim
from models.people import Scope
from models.scale import generate
from scheduler import jobs
from tests.conftest import FakeClock
from tests.plans import LARGE, Plan, explain, recording

RESIDENTS = 3000


@pytest.fixture
async def district(db: Database, clock: FakeClock) -> Database:
    """A generated district of RESIDENTS people (one community); PostgreSQL analyses it (SQLite's
    planner, without statistics, assumes large tables, as an un-analysed production file)."""
    async with db.session() as s:
        made = await generate(s, residents=RESIDENTS, now=clock())
    assert made.rows["person"] == RESIDENTS
    if db.is_sqlite:
        return db
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("ANALYZE"))
    return db


def _scans(plans: list[Plan]) -> list[str]:
    return [
        f"{', '.join(p.scans)} in: {p.statement[:300]}\n  " + "\n  ".join(p.lines)
        for p in plans
        if p.scans
    ]


async def test_a_message_a_button_and_my_cases_use_indexes(
    district: Database, settings: Settings, clock: FakeClock
) -> None:
    linli = Linli(settings, db=district, clock=clock)
    async with district.session() as s:
        chat = (
            await s.execute(
                text(
                    "SELECT a.chat_id FROM channelaccount a"
                    " JOIN person p ON p.id = a.person_id"
                    " JOIN rolegrant g ON g.person_id = p.id AND g.role = 'volunteer'"
                    " WHERE a.channel = 'telegram' AND p.verified ORDER BY a.id LIMIT 1"
                )
            )
        ).scalar_one()
    said = iter(range(1, 100))

    async def send(words: str = "", payload: str | None = None) -> str:
        inc = Incoming(
            "telegram",
            chat,
            chat,
            text=words,
            payload=payload,
            message_id=f"{next(said)}",
            received_at=clock(),
        )
        replies = await linli.handle(inc)
        assert replies, f"no answer to {words or payload!r}"
        return replies[-1].choices[0].payload if replies[-1].choices else ""

    with recording(district) as rec:
        await send("/start")
        await send("帮助")
        first = await send("楼道里堆满了杂物")
        if first:
            await send(payload=first)
        await send("/cancel")
        await send("我的事项")
    assert len(rec.statements) >= 3
    assert _scans(await explain(district, rec)) == []


async def test_the_clock_and_the_delivery_claim_use_indexes(district: Database) -> None:
    programmes = load_catalogue()
    with recording(district) as rec:
        await jobs.reminders(district)
        await jobs.signups(district)
        await jobs.notices(district)
        await jobs.cases(district)
        await jobs.progress(district)
        await jobs.housekeeping(district, retention_days=7)
        async with district.session() as s:
            claimed = await claim(s, utcnow(), 50, timedelta(seconds=60))
        assert claimed, "the escalations the clock made are claimed"
    assert len(rec.statements) >= 5
    assert _scans(await explain(district, rec)) == []
    # The daily outreach scan reads the register by birth date, through an index.
    with recording(district) as rec:
        await jobs.eligibility(district, programmes)
    assert _scans(await explain(district, rec)) == []


async def test_an_audience_count_uses_indexes(district: Database) -> None:
    async with district.session() as s:
        cid = (await s.execute(text("SELECT MIN(id) FROM community"))).scalar_one()
        grid = (await s.execute(text("SELECT MIN(id) FROM grid"))).scalar_one()
    with recording(district) as rec:
        async with district.session() as s:
            reach = await count_audience(
                s, Scope(cid, (grid,)), "grid", grid, "general", date(2026, 3, 7)
            )
    assert 0 < reach.reachable <= reach.people
    assert _scans(await explain(district, rec)) == []


def test_the_large_tables_are_real_tables() -> None:
    from sqlmodel import SQLModel

    from models import load_all

    load_all()
    tables = set(SQLModel.metadata.tables)
    assert LARGE - tables == set(), "a table in tests/plans.py LARGE was renamed"


async def test_the_events_hot_queries_use_indexes(district: Database, clock: FakeClock) -> None:
    """Issue 11: the list of events, 我的活动, a sign-up, the door poster's scan, my meetings, the
    organiser's list and the RSVP reminder, on a district with an activity and a meeting."""
    from models.event_checkin import event_of_token, poster_of
    from models.events import create_event, join, roster, upcoming_for
    from models.meetings import create_meeting, meetings_of, remind_unanswered
    from models.signups import person_signups
    from models.tables import Person

    async with district.session() as s:
        manager_id = (
            await s.execute(text("SELECT MIN(person_id) FROM rolegrant WHERE role = 'manager'"))
        ).scalar_one()
        manager = await s.get(Person, manager_id)
        assert manager is not None
        people = (
            (
                await s.execute(
                    text(
                        "SELECT id FROM person WHERE community_id = :c AND verified AND id <> :m"
                        " ORDER BY id LIMIT 20"
                    ),
                    {"c": manager.community_id, "m": manager_id},
                )
            )
            .scalars()
            .all()
        )
        start = clock() + timedelta(hours=20)
        activity = await create_event(
            s, organiser=manager, title="学雷锋便民摊位", place="广场", starts_at=start,
            ends_at=start + timedelta(hours=2), capacity=5, now=clock(),
        )  # fmt: skip
        _meeting, _told = await create_meeting(
            s, organiser=manager, title="议事协商会", place="议事厅", starts_at=start,
            ends_at=start + timedelta(hours=1), agenda="电表", invitees=list(people[:10]),
            now=clock(),
        )  # fmt: skip
        token = (await poster_of(s, activity.id or 0, manager_id)).token
        # The invitees a reminder can reach: those with a channel account (85 % of residents).
        reachable = (
            await s.execute(
                text(
                    "SELECT COUNT(DISTINCT person_id) FROM channelaccount"
                    f" WHERE person_id IN ({', '.join(str(p) for p in people[:10])})"
                )
            )
        ).scalar_one()
        resident = await s.get(Person, people[0])
        assert resident is not None
    with recording(district) as rec:
        async with district.session() as s:
            assert await upcoming_for(s, resident, clock())
            await join(s, activity.id or 0, people[0], clock())
            await person_signups(s, people[0], clock())
            await event_of_token(s, token)
            assert await meetings_of(s, people[0], clock())
            await roster(s, activity.id or 0, manager_id)
            assert await remind_unanswered(s, clock()) == reachable > 0
    assert len(rec.statements) >= 6
    assert _scans(await explain(district, rec)) == []
