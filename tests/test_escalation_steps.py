"""The clock climbs the escalation ladder in steps: a backlog (an imported year, a clock that
was stopped) is worked off a bounded number of rungs a tick, each rung once, with every
community on its own ladder — however many communities share one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlmodel import col

from models.db import Database
from models.reports import (
    ACTIVE,
    STATE_GROUPS,
    EscalationStep,
    Report,
    ReportEvent,
    ReportFollower,
    ladders,
)
from models.scale import generate
from models.tables import Outbox
from scheduler import jobs
from tests.conftest import FakeClock

RESIDENTS = 4_000  # in each of two districts (a community each)


@pytest.fixture
async def backlog(db: Database, clock: FakeClock) -> Database:
    """A generated district whose open reports were never escalated; the second community's
    second rung waits 30 days (its own ladder), and the first's oldest open report has a
    follower."""
    async with db.session() as s:
        await generate(s, residents=RESIDENTS, now=clock(), outbox_months=0)
        made = await generate(
            s, residents=RESIDENTS, now=clock(), outbox_months=0, seed=31, name="第二街道"
        )
        second = made.community_ids[0]
        await s.execute(
            update(EscalationStep)
            .where(col(EscalationStep.community_id) == second, col(EscalationStep.level) == 2)
            .values(after_minutes=30 * 24 * 60)
        )
        oldest = (
            await s.execute(
                select(Report)
                .where(col(Report.state).in_(ACTIVE), col(Report.community_id) != second)
                .order_by(col(Report.id))
                .limit(1)
            )
        ).scalar_one()
        s.add(ReportFollower(report_id=oldest.id, person_id=oldest.reporter_id))
    return db


async def rungs_due(db: Database, clock: FakeClock) -> set[tuple[int, int]]:
    """(report, level) for every rung an active report is past, by each community's ladder."""
    async with db.session() as s:
        reports = list(
            (await s.execute(select(Report).where(col(Report.state).in_(ACTIVE)))).scalars()
        )
        ladder_of = await ladders(s, sorted({r.community_id for r in reports}))
    due = set()
    for r in reports:
        rungs = ladder_of[r.community_id]
        first = next(m for _, c, m, _ in rungs if c == "untaken")
        for level, condition, after, _ in rungs:
            states = STATE_GROUPS["open"] if condition == "untaken" else ACTIVE
            if r.state in states and r.respond_by <= clock() - timedelta(minutes=after - first):
                assert r.id is not None
                due.add((r.id, level))
    return due


async def test_a_backlog_is_climbed_a_few_rungs_a_tick_each_rung_once(
    backlog: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CASES_STEP", 1)
    monkeypatch.setattr(jobs, "CASES_PER_TICK", 2)
    due = await rungs_due(backlog, clock)
    assert len(due) > 2 * 2, "more than two ticks of work"
    # The first community's reports are past both rungs, the second's only past its first.
    async with backlog.session() as s:
        second = (await s.execute(text("SELECT MAX(id) FROM community"))).scalar_one()
        in_second = set(
            (await s.execute(select(Report.id).where(col(Report.community_id) == second))).scalars()
        )
    assert {lv for rid, lv in due if rid in in_second} == {1}
    assert {lv for rid, lv in due if rid not in in_second} == {1, 2}

    ticks = []
    while done := await jobs.cases(backlog, clock=clock):
        ticks.append(done)
        assert len(ticks) < 50
    assert max(ticks) <= 2, "no tick climbs more than CASES_PER_TICK rungs"
    assert sum(ticks) == len(due)

    async with backlog.session() as s:
        climbed = [
            (rid, int(note.split(":")[0]))
            for rid, note in await s.execute(
                select(ReportEvent.report_id, ReportEvent.note).where(
                    col(ReportEvent.action) == "escalated"
                )
            )
        ]
        told = list(
            (
                await s.execute(
                    select(
                        Outbox.dedupe_key, Outbox.person_id, Outbox.locale, Outbox.choices
                    ).where(col(Outbox.kind) == "report")
                )
            ).all()
        )
    assert sorted(climbed) == sorted(due), "every rung due climbed exactly once"
    # Each climb told the rung's role (a grid leader or the manager), with the task's buttons.
    to_roles = [row for row in told if ":escalated:" in row.dedupe_key]
    # (a role holder without a reachable account is not queued a row, as anywhere else)
    rungs_told = {tuple(map(int, k.split(":")[1:4:2])) for k, *_ in to_roles}
    assert rungs_told <= due and len(rungs_told) >= len(due) // 2
    # (a case not yet taken has no task, so no buttons)
    assert all(row.locale for row in to_roles)
    assert any(row.choices and row.choices[0][1].startswith("task:view:") for row in to_roles)
    # The follower of the oldest open case heard it went up to the manager, once.
    to_follower = [row for row in told if ":escalate.resident_manager:" in row.dedupe_key]
    assert len(to_follower) == 1

    # An ordinary tick afterwards: nothing is due, nothing is climbed twice.
    assert await jobs.cases(backlog, clock=clock) == 0
    clock.advance(days=31)
    assert await jobs.cases(backlog, clock=clock) > 0, "the second community's second rung"
