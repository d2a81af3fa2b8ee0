"""The staff desk's 预约 and 投票 pages over plain HTTP (the real web app, the real database):
the manager sees the demo's points and polls, cancels a session (the booked resident is told
through the outbox) and closes a poll early (the result goes out once); a team leader of
another team cannot cancel; an anonymous poll names nobody; forms need their CSRF token."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import col

from bot.app import Linli
from bot.config import Settings
from models.booking_demo import seed_demo_bookings
from models.bookings import KIND, ServicePoint
from models.db import Database
from models.poll_demo import seed_poll_demo
from models.poll_results import PollDraft, create_poll
from models.polls import Poll, PollOption, cast_vote
from models.signups import Signup, Slot
from models.tables import Outbox, Person, Role
from tests.conftest import FakeClock
from tests.desk_client import Desk
from tests.wechat_chat import link_account

MANAGER = frozenset({(Role.MANAGER, None)})


async def _person(db: Database, name: str) -> Person:
    async with db.session() as s:
        return (await s.execute(select(Person).where(col(Person.name) == name))).scalar_one()


async def _first_haircut(db: Database) -> Slot:
    """The coming Saturday's first haircut session (王建国 and 赵敏 hold places in it)."""
    async with db.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == "haircut"))
        ).scalar_one()
        held = select(Signup.slot_id)
        return (
            await s.execute(
                select(Slot)
                .where(col(Slot.kind) == KIND, col(Slot.owner_id) == point.id,
                       col(Slot.held) == 2, col(Slot.id).in_(held))
                .order_by(col(Slot.starts_at))
            )
        ).scalars().first()  # type: ignore[return-value]  # fmt: skip


async def _outbox_for(db: Database, person_id: int, prefix: str) -> int:
    async with db.session() as s:
        found = await s.execute(
            select(func.count())
            .select_from(Outbox)
            .where(col(Outbox.person_id) == person_id, col(Outbox.dedupe_key).startswith(prefix))
        )
        return int(found.scalar_one())


async def test_the_manager_sees_the_points_and_cancels_a_session_the_booked_are_told(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())
    await link_account(demo, "telegram", "31", "王建国")
    wang = await _person(demo, "王建国")
    first = await _first_haircut(demo)
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        home = await liu.get("/console/")
        assert 'href="/console/bookings"' in home.text and 'href="/console/polls"' in home.text
        page = await liu.get("/console/bookings")
        assert page.status_code == 200
        assert "志愿理发" in page.text and "民生普法" in page.text and "银行业务" in page.text
        assert "爽约率 -（0/0，近90天）" in page.text
        assert "03-14 09:00–09:30" in page.text and "2/3" in page.text  # held / capacity
        assert "03-21" not in page.text, "this week and next only"

        detail = await liu.get(f"/console/bookings/{first.id}")
        assert detail.status_code == 200
        assert "王建国" in detail.text and "赵敏" in detail.text and "已预约" in detail.text
        bare = await liu.post(f"/console/bookings/{first.id}/cancel", csrf=False)
        assert bare.status_code == 403
        assert await _outbox_for(demo, wang.id or 0, "signup:slotx:") == 0

        done = await liu.post(f"/console/bookings/{first.id}/cancel")
        assert done.status_code == 303
        after = await liu.get(done.headers["location"])
        assert "这一场已取消" in after.text and "取消这一场</button>" not in after.text
    assert await _outbox_for(demo, wang.id or 0, "signup:slotx:") == 1
    async with demo.session() as s:
        slot = await s.get(Slot, first.id)
        assert slot is not None and slot.status == "cancelled" and slot.held == 0


async def test_a_team_leader_of_another_team_cannot_cancel_and_grid_leaders_see_no_bookings(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())
    first = await _first_haircut(demo)
    async with Desk(linli, settings) as li:  # 李红 leads the stewards, not the barbers
        await li.sign_in("李红")
        page = await li.get("/console/bookings")
        assert page.status_code == 200 and "志愿理发" not in page.text
        assert (await li.get(f"/console/bookings/{first.id}")).status_code == 404
        refused = await li.post(f"/console/bookings/{first.id}/cancel")
        assert refused.status_code == 404
    async with Desk(linli, settings) as zhang:  # 张伟 leads the barbers: his point only
        await zhang.sign_in("张伟")
        page = await zhang.get("/console/bookings")
        assert "志愿理发" in page.text and "民生普法" not in page.text
        assert 'href="/console/polls"' not in page.text
        assert (await zhang.get("/console/polls")).status_code == 403
    async with Desk(linli, settings) as zhu:  # a grid leader: no point's board, and no session
        await zhu.sign_in("朱凡")  # (their grid's residents' bookings: test_desk_grid_and_events)
        page = await zhu.get("/console/bookings")
        assert page.status_code == 200 and "爽约率" not in page.text
        assert (await zhu.get(f"/console/bookings/{first.id}")).status_code == 403
    async with demo.session() as s:
        slot = await s.get(Slot, first.id)
        assert slot is not None and slot.status == "open" and slot.held == 2


async def test_closing_a_poll_early_sends_the_result_once_and_exports_the_tally(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        poll = await seed_poll_demo(s, clock())
        options = list(
            (await s.execute(select(PollOption).where(col(PollOption.poll_id) == poll.id)
                             .order_by(col(PollOption.position)))).scalars()
        )  # fmt: skip
        wang = (await s.execute(select(Person).where(col(Person.name) == "王建国"))).scalar_one()
        await cast_vote(s, poll.id or 0, options[1].id or 0, wang, clock())
    await link_account(demo, "telegram", "31", "王建国")
    key = f"result_push:{poll.id}:"
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        listed = await liu.get("/console/polls")
        assert "虹桥南村外墙改造，选哪一款设计？" in listed.text and "进行中" in listed.text
        page = await liu.get(f"/console/polls/{poll.id}")
        assert page.status_code == 200
        assert "<svg" in page.text and "方案二 暖色彩绘" in page.text
        assert "各网格参与" in page.text and "投票名单" in page.text and "王建国" in page.text
        sheet = await liu.get(f"/console/polls/{poll.id}/export")
        assert sheet.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = load_workbook(io.BytesIO(sheet.content))
        rows = list(book["结果"].iter_rows(values_only=True))
        assert ("方案二 暖色彩绘", 1, "100%") in rows

        assert (await liu.post(f"/console/polls/{poll.id}/close", csrf=False)).status_code == 403
        assert await _outbox_for(demo, wang.id or 0, key) == 0
        closed = await liu.post(f"/console/polls/{poll.id}/close")
        assert closed.status_code == 303
        assert "结果已发出" in (await liu.get(closed.headers["location"])).text
        await liu.get(f"/console/polls/{poll.id}")  # a second press (another tab)
        again = await liu.client.post(
            f"/console/polls/{poll.id}/close", data={"csrf": liu.csrf or ""}
        )
        assert again.status_code == 303
        assert "已经结束" in (await liu.get(again.headers["location"])).text
    assert await _outbox_for(demo, wang.id or 0, key) == 1
    async with demo.session() as s:
        assert (await s.get(Poll, poll.id)).status == "closed"  # type: ignore[union-attr]


async def test_an_anonymous_poll_shows_no_names_and_other_viewers_see_less(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    now = clock()
    async with demo.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        wang = (await s.execute(select(Person).where(col(Person.name) == "王建国"))).scalar_one()
        draft = PollDraft("篮球场晚上几点关灯？", [("21点", None), ("22点", None)],
                          now + timedelta(days=2), anonymous=True)  # fmt: skip
        poll = await create_poll(s, draft, liu, MANAGER, now)
        option = (
            await s.execute(select(PollOption).where(col(PollOption.poll_id) == poll.id).limit(1))
        ).scalar_one()
        await cast_vote(s, poll.id or 0, option.id or 0, wang, now)
    async with Desk(linli, settings) as desk:
        await desk.sign_in("刘芳")
        page = await desk.get(f"/console/polls/{poll.id}")
        assert page.status_code == 200 and "篮球场晚上几点关灯？" in page.text
        assert "匿名投票：不显示谁投了什么" in page.text
        assert "王建国" not in page.text and "投票名单" not in page.text
        book = load_workbook(
            io.BytesIO((await desk.get(f"/console/polls/{poll.id}/export")).content)
        )
        assert "投票名单" not in book.sheetnames
    async with Desk(linli, settings) as zhu:  # a grid leader: not his poll (the whole community's)
        await zhu.sign_in("朱凡")
        assert (await zhu.get("/console/polls")).status_code == 200
        assert (await zhu.get(f"/console/polls/{poll.id}")).status_code == 404
        assert (await zhu.post(f"/console/polls/{poll.id}/close")).status_code == 404
    async with demo.session() as s:
        assert (await s.get(Poll, poll.id)).status == "open"  # type: ignore[union-attr]


async def test_without_a_staff_session_the_pages_send_to_the_sign_in_help(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())
        poll = await seed_poll_demo(s, clock())
    first = await _first_haircut(demo)
    async with Desk(linli, settings) as nobody:
        for path in ("/console/bookings", f"/console/bookings/{first.id}", "/console/polls",
                     f"/console/polls/{poll.id}", f"/console/polls/{poll.id}/export"):  # fmt: skip
            answer = await nobody.get(path)
            assert answer.status_code == 401 and "/web" in answer.text, path
        nobody.client.cookies.set("linli_desk", "a-resident-forged-this")
        assert (await nobody.get("/console/bookings")).status_code == 401
        posted = await nobody.client.post(
            f"/console/bookings/{first.id}/cancel", data={"csrf": "x"}
        )
        assert posted.status_code == 403
        closed = await nobody.client.post(f"/console/polls/{poll.id}/close", data={"csrf": "x"})
        assert closed.status_code == 403
    async with demo.session() as s:
        assert (await s.get(Slot, first.id)).status == "open"  # type: ignore[union-attr]
        assert (await s.get(Poll, poll.id)).status == "open"  # type: ignore[union-attr]


async def test_a_grid_leader_sees_his_grids_poll_but_only_managers_see_who_voted(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    now = clock()
    async with demo.session() as s:
        people = {p.name: p for p in (await s.execute(select(Person))).scalars()}
        zhu, wang = people["朱凡"], people["王建国"]
        leqing = frozenset({(Role.GRID_LEADER, zhu.grid_id)})
        draft = PollDraft("乐清网格的健身器材放在哪里？", [("楼前空地", None), ("小花园", None)],
                          now + timedelta(days=2))  # fmt: skip
        poll = await create_poll(s, draft, zhu, leqing, now)
        option = (
            await s.execute(select(PollOption).where(col(PollOption.poll_id) == poll.id).limit(1))
        ).scalar_one()
        await cast_vote(s, poll.id or 0, option.id or 0, wang, now)
    async with Desk(linli, settings) as desk:
        await desk.sign_in("朱凡")
        home = await desk.get("/console/")
        assert 'href="/console/polls"' in home.text
        assert "乐清网格的健身器材放在哪里？" in (await desk.get("/console/polls")).text
        page = await desk.get(f"/console/polls/{poll.id}")
        assert page.status_code == 200 and "楼前空地" in page.text and "乐清网格" in page.text
        assert "王建国" not in page.text and "投票名单" not in page.text
    async with Desk(linli, settings) as zhou:  # 周杰 leads 乐美网格: not his grid's poll
        await zhou.sign_in("周杰")
        assert "乐清网格的健身器材" not in (await zhou.get("/console/polls")).text
        assert (await zhou.get(f"/console/polls/{poll.id}")).status_code == 404
    async with Desk(linli, settings) as liu:
        await liu.sign_in("刘芳")
        page = await liu.get(f"/console/polls/{poll.id}")
        assert "投票名单" in page.text and "王建国" in page.text
        english = await liu.get(f"/console/lang/en?next=/console/polls/{poll.id}")
        assert english.status_code in (302, 303, 307)
        page = await liu.get(f"/console/polls/{poll.id}")
        assert "Turnout by grid" in page.text and "Who voted" in page.text
        assert "Close the poll now" in page.text
