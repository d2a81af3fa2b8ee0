"""The demo's vote and survey (DOMAIN.md stories 2 and 5): 虹桥南村's wall designs, chosen per
household, and the red stewards' satisfaction survey. Pictures are drawn at seed time
(illustrative, not real designs); 王丽 joins 王建国's household so the household rule can be tried."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.charts import card_picture
from models.media import keep_drawn
from models.polls import Poll, PollAudience, PollOption, PollStatus
from models.surveys import seed_survey_demo
from models.tables import Person, Team

WALL_QUESTION = "虹桥南村外墙改造，选哪一款设计？"
DESIGNS = (
    ("方案一 青瓦白墙", "江南风格，素雅耐脏", ("#ecf0f1", "#7f8c8d")),
    ("方案二 暖色彩绘", "米黄墙面，楼道口彩绘", ("#f6e3b4", "#e67e22")),
    ("方案三 简约灰", "浅灰涂料，深灰腰线", ("#d5d8dc", "#566573")),
)


async def seed_poll_demo(session: AsyncSession, now: datetime) -> Poll:
    """The wall-design poll (per household, 虹桥南村, closing in three days), 王丽, the survey."""
    people = {p.name: p for p in (await session.execute(select(Person))).scalars()}
    manager, wang = people["刘芳"], people["王建国"]
    if "王丽" not in people:
        session.add(
            Person(
                community_id=wang.community_id,
                grid_id=wang.grid_id,
                household_id=wang.household_id,
                name="王丽",
                phone="13800000010",
                birth_date=now.date().replace(year=now.year - 36, day=1),
                verified=True,
                verified_at=now,
                created_at=now,
            )
        )
    closes = now + timedelta(days=3)
    poll = Poll(
        community_id=manager.community_id,
        question=WALL_QUESTION,
        description="老旧小区改造：三款外墙设计图，每户一票，结果决定施工方案。",
        audience=PollAudience.RESIDENTS,
        estate="虹桥南村",
        per_household=True,
        status=PollStatus.OPEN,
        opens_at=now,
        closes_at=closes,
        remind_at=closes - timedelta(hours=24),
        created_by_id=manager.id or 0,
        created_at=now,
    )
    session.add(poll)
    await session.flush()
    for position, (label, note, colours) in enumerate(DESIGNS, 1):
        ref = await keep_drawn(session, card_picture(label, note, colours), "demo:design", now)
        session.add(
            PollOption(poll_id=poll.id or 0, position=position, label=label, picture_ref=ref)
        )
    team = (
        await session.execute(select(Team).where(col(Team.name) == "乐清网格红管家服务队"))
    ).scalar_one_or_none()
    await seed_survey_demo(
        session, manager.community_id, manager.id or 0, team.id if team else None, now
    )
    await session.flush()
    return poll
