"""The daily scan beyond the first approach: family members, re-certification, idempotence."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from models.benefits import (
    ApplicationStatus,
    BenefitApplication,
    BenefitOutreach,
    load_catalogue,
    run_outreach,
)
from models.db import Database
from models.register import ResidentRecord
from models.tables import Outbox, Person
from models.tasks import Task
from tests.conftest import FakeClock
from tests.telegram_chat import link, person_named

PROGRAMMES = load_catalogue()


async def scan(db: Database, clock: FakeClock) -> dict[str, int]:
    async with db.session() as s:
        return await run_outreach(s, PROGRAMMES, clock())


async def outbox_keys(db: Database, person_id: int) -> list[str]:
    async with db.session() as s:
        rows = await s.execute(select(Outbox.text_key).where(Outbox.person_id == person_id))
        return [k for k in rows.scalars() if k]


async def test_a_daughter_in_the_household_gets_the_one_tap_too(
    demo: Database, clock: FakeClock
) -> None:
    chen = await person_named(demo, "陈秀英")
    async with demo.session() as s:
        daughter = Person(community_id=chen.community_id, grid_id=chen.grid_id,
                          household_id=chen.household_id, name="陈丽", verified=True)  # fmt: skip
        s.add(daughter)
    await link(demo, 77, "陈丽")
    counts = await scan(demo, clock)
    assert (counts["approached"], counts["messaged"]) == (1, 0)
    daughter = await person_named(demo, "陈丽")
    assert await outbox_keys(demo, daughter.id) == ["benefit.outreach_soon_family"]
    async with demo.session() as s:
        outreach = (await s.execute(select(BenefitOutreach))).scalar_one()
        assert outreach.family_reached == 1 and outreach.task_id is not None  # she has no account
        row = (await s.execute(select(Outbox).where(Outbox.person_id == daughter.id))).scalar_one()
    assert row.choices == [["benefit.btn_apply_for", f"bapply:{chen.id}:zlj"]]
    await scan(demo, clock)
    assert len(await outbox_keys(demo, daughter.id)) == 1


async def test_re_certification_reminds_once_and_a_missed_one_becomes_a_visit(
    demo: Database, clock: FakeClock
) -> None:
    wang = await person_named(demo, "王建国")
    zhu = await person_named(demo, "朱凡")
    await link(demo, 41, "王建国")
    async with demo.session() as s:
        record = await s.get(ResidentRecord, wang.id)
        assert record is not None
        s.add(
            BenefitApplication(
                community_id=wang.community_id,
                grid_id=wang.grid_id,
                person_id=wang.id,
                programme="zlj",
                status=ApplicationStatus.APPROVED,
                filed_by_id=wang.id,
                birth_date=date(1944, 1, 1),
                band_min_age=80,
                monthly_yuan=50,
                paid_from=date(2024, 2, 1),
                valid_until=clock().date() + timedelta(days=20),
                submitted_at=clock() - timedelta(days=340),
                updated_at=clock() - timedelta(days=330),
                decided_at=clock() - timedelta(days=330),
            )
        )
    first = await scan(demo, clock)
    assert first["recert"] == 1
    async with demo.session() as s:  # he is reachable and walks well: no visit yet
        assert (
            await s.execute(select(Task).where(Task.subject_person_id == wang.id))
        ).first() is None
    assert (await scan(demo, clock))["recert"] == 0
    assert (await outbox_keys(demo, wang.id)).count("benefit.recert_reminder") == 1
    clock.advance(days=8)  # no re-certification filed within 7 days of the reminder
    await scan(demo, clock)
    async with demo.session() as s:
        tasks = (await s.execute(select(Task).where(Task.subject_person_id == wang.id))).scalars()
        visit = list(tasks)
        periods = (await s.execute(select(func.count()).select_from(BenefitOutreach))).scalar_one()
    assert len(visit) == 1 and visit[0].assignee_id == zhu.id
    assert "资格认证已过期" in visit[0].detail and "王建国" in visit[0].title
    assert periods == 2  # 陈秀英's approach and his re-certification
