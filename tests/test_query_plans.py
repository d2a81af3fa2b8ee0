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
