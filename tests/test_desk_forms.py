"""Polls and service sessions made from the desk, by the chat's use cases: a poll from the chat's
questions as one form (`create_poll`: a grid leader's poll is their grid's; a refused form is
rolled back and comes back filled in; a team leader opens none), and a point's new sessions
from the chat's one sentence (`parse_series`, `add_series`: only for the points one runs)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from bot.app import Linli
from bot.config import Settings
from models.booking_demo import seed_demo_bookings
from models.bookings import KIND, ServicePoint
from models.db import Database
from models.polls import Poll, PollOption
from models.signups import Slot
from models.tables import Person
from tests.conftest import FakeClock
from tests.desk_client import Desk

FORM = {"question": "外墙选哪一款设计？", "options": "青砖\n米白\n\n浅灰", "audience": "grid",
        "count": "household", "secret": "named", "days": "7", "remind": "yes"}  # fmt: skip


async def test_a_grid_leader_opens_a_poll_of_their_grid_from_the_desk(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    async with Desk(linli, settings) as zhu:
        await zhu.sign_in("朱凡")
        listing = await zhu.get("/console/polls")
        assert 'href="/console/polls/new"' in listing.text
        blank = await zhu.get("/console/polls/new")
        assert "本网格居民" in blank.text and "每户一票" in blank.text
        assert (await zhu.post("/console/polls/new", FORM, csrf=False)).status_code == 403

        one_option = await zhu.post("/console/polls/new", {**FORM, "options": "青砖"})
        assert one_option.status_code == 400 and "2 到 9 个选项" in one_option.text
        assert "外墙选哪一款设计？" in one_option.text, "the form comes back filled in"
        too_long = await zhu.post("/console/polls/new", {**FORM, "days": "365"})
        assert too_long.status_code == 400 and "1 到 90" in too_long.text
        forged = await zhu.post("/console/polls/new", {**FORM, "secret": "secret-ballot"})
        assert forged.status_code == 400 and "请从列出的选项里选一个" in forged.text
        async with demo.session() as s:
            assert (await s.execute(select(Poll))).first() is None, "nothing was opened"

        opened = await zhu.post("/console/polls/new", FORM)
        assert opened.status_code == 303
        page = await zhu.get(opened.headers["location"])
        assert page.status_code == 200 and "外墙选哪一款设计？" in page.text
    async with demo.session() as s:
        poll = (await s.execute(select(Poll))).scalar_one()
        zhu_person = (await s.execute(select(Person).where(Person.name == "朱凡"))).scalar_one()
        labels = (
            await s.execute(
                select(PollOption.label).where(PollOption.poll_id == poll.id)
                .order_by(PollOption.position)
            )
        ).scalars().all()  # fmt: skip
    assert poll.grid_id == zhu_person.grid_id and poll.per_household and not poll.anonymous
    assert poll.remind_at is not None and list(labels) == ["青砖", "米白", "浅灰"]


async def test_a_team_leader_opens_no_poll(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    async with Desk(linli, settings) as li:  # 李红 leads a volunteer team: no polls
        await li.sign_in("李红")
        assert (await li.get("/console/polls/new")).status_code == 403
        assert (await li.post("/console/polls/new", FORM)).status_code == 403
    async with demo.session() as s:
        assert (await s.execute(select(Poll))).first() is None


async def _sessions(db: Database, key: str) -> int:
    async with db.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == key))
        ).scalar_one()
        count = await s.execute(
            select(func.count()).select_from(Slot)
            .where(col(Slot.kind) == KIND, col(Slot.owner_id) == point.id)
        )  # fmt: skip
        return int(count.scalar_one())


async def _point_id(db: Database, key: str) -> int:
    async with db.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == key))
        ).scalar_one()
        return point.id or 0


async def test_new_sessions_are_added_in_the_chats_sentence_by_who_runs_the_point(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())
    haircut, law = await _point_id(demo, "haircut"), await _point_id(demo, "law")
    before = await _sessions(demo, "haircut")
    sentence = {"series": "每周三 14:00-15:00，每 30 分钟一场，每场 2 人"}
    async with Desk(linli, settings) as zhang:  # 张伟 leads the barbers
        await zhang.sign_in("张伟")
        page = await zhang.get("/console/bookings")
        assert f'action="/console/bookings/points/{haircut}/series"' in page.text
        assert f'action="/console/bookings/points/{law}/series"' not in page.text
        bad = await zhang.post(f"/console/bookings/points/{haircut}/series", {"series": "下周吧"})
        assert bad.status_code == 400 and "每周六 9:00-11:30" in bad.text
        assert await _sessions(demo, "haircut") == before
        others = await zhang.post(f"/console/bookings/points/{law}/series", sentence)
        assert others.status_code == 404, "not a point he runs"
        made = await zhang.post(f"/console/bookings/points/{haircut}/series", sentence)
        assert made.status_code == 303
        after = await zhang.get(made.headers["location"])
        assert "已新增" in after.text
    added = await _sessions(demo, "haircut") - before
    assert added >= 2 and added % 2 == 0, "two sessions each Wednesday booking is open"
    async with Desk(linli, settings) as zhu:  # a grid leader runs no point
        await zhu.sign_in("朱凡")
        refused = await zhu.post(f"/console/bookings/points/{haircut}/series", sentence)
        assert refused.status_code == 403
    assert await _sessions(demo, "haircut") - before == added
