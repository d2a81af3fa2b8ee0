"""The events' demo data: the Women's Day DIY workshop and the 议事协商会 about the garage meters."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.events.duties import add_duties
from models.events.organising import create_event, join
from models.events.tables import Audience, Event, EventKind
from models.signups import Slot
from models.tables import Person, Team

DEMO_WORKSHOP = "三八节 志愿者妈妈亲子DIY手工坊"
DEMO_MEETING = "议事协商会：车库电表改造"
DEMO_CODE = "3821"  # the workshop's check-in code on the door poster (the README uses it)


async def seed_demo_events(session: AsyncSession, now: datetime) -> tuple[Event, Event]:
    """The demo's Women's Day DIY workshop for volunteer mothers (in 15 minutes, one place left:
    the next sign-up fills it and the one after waits; two 布置场地 helper duties offered to the
    grid's service team) and the 议事协商会 about the garage meters with its invitees."""
    people = {
        p.name: p
        for p in (
            await session.execute(
                select(Person).where(col(Person.name).in_(["刘芳", "李红", "王建国", "朱凡"]))
            )
        ).scalars()
    }
    manager = people["刘芳"]
    start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    workshop = await create_event(
        session,
        organiser=manager,
        title=DEMO_WORKSHOP,
        place="社区党群服务中心二楼活动室",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        capacity=3,
        max_party=2,
        audience=Audience.VOLUNTEERS,
        reminders=[10],
        description="做布艺小花送妈妈，可带 1 个孩子。",
        now=now,
    )
    slot = await session.get(Slot, workshop.slot_id)
    assert slot is not None
    slot.code = DEMO_CODE
    await join(session, workshop.id or 0, people["李红"].id or 0, now, companions=1)
    team = (
        await session.execute(select(Team.id).where(col(Team.name) == "乐清网格红管家服务队"))
    ).scalar_one_or_none()
    await add_duties(session, workshop.id or 0, manager.id or 0, "布置场地", 2, now, team_id=team)
    meeting_start = (now + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    meeting = await create_event(
        session,
        organiser=manager,
        kind=EventKind.MEETING,
        title=DEMO_MEETING,
        place="社区议事厅",
        starts_at=meeting_start,
        ends_at=meeting_start + timedelta(hours=1, minutes=30),
        capacity=20,
        audience=Audience.INVITEES,
        agenda="1. 车库电表统一迁移方案（供电所党支部介绍）2. 费用分摊 3. 施工时间",
        invitees=[people["王建国"].id or 0, people["朱凡"].id or 0],
        now=now,
    )
    return workshop, meeting
