"""The desk for a grid leader's day: the 预约 page shows the bookings of their own grids'
residents (who booked, who did not come, what was booked for them) and nobody else's; "打开工作台"
typed in the chat gets staff the link as "/web" does; and an event is created, moved and
cancelled from the desk with the chat's own use cases (everyone signed up is told)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from bot.app import Linli
from bot.config import Settings
from models.booking_demo import seed_demo_bookings
from models.bookings import KIND, ServicePoint, book
from models.db import Database
from models.events import Event, join
from models.signups import Signup, Slot, close_ended_slots
from models.tables import Outbox, Person
from tests.chat import Chat
from tests.conftest import FakeClock
from tests.desk_client import Desk
from tests.wechat_chat import link_account


async def _person(db: Database, name: str) -> Person:
    async with db.session() as s:
        return (await s.execute(select(Person).where(col(Person.name) == name))).scalar_one()


async def _haircuts(db: Database) -> list[Slot]:
    async with db.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == "haircut"))
        ).scalar_one()
        rows = await s.execute(
            select(Slot)
            .where(col(Slot.kind) == KIND, col(Slot.owner_id) == point.id)
            .order_by(col(Slot.starts_at))
        )
        return list(rows.scalars())


async def test_a_grid_leader_sees_the_bookings_of_their_grid_only(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, clock())  # 王建国 (乐清) and 赵敏 (乐美) book a haircut
    sessions = await _haircuts(demo)
    first = next(slot for slot in sessions if slot.held == 2)
    later = next(slot for slot in sessions if slot.starts_at > first.ends_at + timedelta(days=2))
    zhu, chen = await _person(demo, "朱凡"), await _person(demo, "陈秀英")
    async with demo.session() as s:  # 朱凡 books for 陈秀英, who has no phone (代办)
        await book(s, later.id or 0, chen.id or 0, clock(), booked_by_id=zhu.id,
                   booked_as="grid_leader")  # fmt: skip
    clock.now = first.ends_at + timedelta(minutes=5)
    async with demo.session() as s:  # the clock's job: who was booked and did not come
        assert await close_ended_slots(s, clock()) >= 1

    async with Desk(linli, settings) as desk:
        await desk.sign_in("朱凡")  # leads 乐清网格
        home = await desk.get("/console/")
        assert 'href="/console/bookings"' in home.text
        page = await desk.get("/console/bookings")
        assert page.status_code == 200
        mine = page.text.split('id="grid-bookings"')[1].split("</section>")[0]
        assert "王建国" in mine and "未到场" in mine, "his resident who did not come"
        assert "陈秀英" in mine and "朱凡" in mine, "the booking he made for her (代办)"
        assert "赵敏" not in page.text, "乐美网格's resident is not his"
        assert "待服务 1 个 · 近30天未到场 1 个 · 代办 1 个" in mine
        assert "取消这一场" not in page.text, "read-only"
        # A session's list of names is the point team's: not a grid leader's by URL either.
        assert (await desk.get(f"/console/bookings/{first.id}")).status_code == 403
        refused = await desk.post(f"/console/bookings/{later.id}/cancel")
        assert refused.status_code == 403

    async with Desk(linli, settings) as desk:
        await desk.sign_in("周杰")  # leads 乐美网格
        page = await desk.get("/console/bookings")
        assert "赵敏" in page.text and "王建国" not in page.text and "陈秀英" not in page.text
    async with demo.session() as s:
        slot = await s.get(Slot, later.id)
        assert slot is not None and slot.status == "open" and slot.held == 1


async def test_typing_open_the_desk_gets_staff_the_link_and_residents_the_polite_no(
    chat: Chat, demo: Database
) -> None:
    liu = await chat.person("刘芳")
    await liu.send("打开工作台")
    assert "/console/login/" in liu.last_text and "10分钟内有效" in liu.last_text
    zhu = await chat.person("朱凡")
    await zhu.send("staff desk")
    assert "/console/login/" in zhu.last_text
    wang = await chat.person("王建国")
    await wang.send("网页版")
    assert "只对网格长、社区工作人员和队长开放" in wang.last_text
    assert "/console/login/" not in wang.last_text


async def _outbox(db: Database, person_id: int, text_key: str) -> int:
    async with db.session() as s:
        found = await s.execute(
            select(func.count())
            .select_from(Outbox)
            .where(col(Outbox.person_id) == person_id, col(Outbox.text_key) == text_key)
        )
        return int(found.scalar_one())


async def test_an_event_is_created_moved_and_cancelled_from_the_desk(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    form = {"title": "社区义诊", "date": "2026-03-20", "start": "09:00", "end": "11:00",
            "place": "社区服务中心", "capacity": "30", "audience": "all", "helpers": "2",
            "reminders": "default", "description": "量血压、测血糖"}  # fmt: skip
    async with Desk(linli, settings) as desk:
        await desk.sign_in("朱凡")
        listing = await desk.get("/console/events")
        assert 'href="/console/events/new"' in listing.text
        blank = await desk.get("/console/events/new")
        assert blank.status_code == 200 and 'name="audience"' in blank.text
        assert "有孩子的家庭" in blank.text, "the chat's audience choices"
        bare = await desk.post("/console/events/new", {**form}, csrf=False)
        assert bare.status_code == 403

        past = await desk.post("/console/events/new", {**form, "date": "2026-03-01"})
        assert past.status_code == 400 and "时间已经过去了" in past.text
        assert 'value="社区义诊"' in past.text, "the form comes back filled in"
        wrong = await desk.post("/console/events/new", {**form, "capacity": "0"})
        assert wrong.status_code == 400 and "名额数不对" in wrong.text
        forged = await desk.post("/console/events/new", {**form, "audience": "invitees"})
        assert forged.status_code == 400
        async with demo.session() as s:
            assert (await s.execute(select(Event))).first() is None, "nothing was created"

        created = await desk.post("/console/events/new", form)
        assert created.status_code == 303
        page = await desk.get(created.headers["location"])
        assert "活动已创建" in page.text and "社区义诊" in page.text and "0/30" in page.text
        async with demo.session() as s:
            event = (await s.execute(select(Event))).scalar_one()
        event_id = event.id or 0

        await link_account(demo, "telegram", "31", "王建国")
        wang = await _person(demo, "王建国")
        async with demo.session() as s:  # a resident signs up in the chat's way
            await join(s, event_id, wang.id or 0, clock())

        edit = await desk.get(f"/console/events/{event_id}/edit")
        assert 'value="2026-03-20"' in edit.text and 'value="09:00"' in edit.text
        moved = await desk.post(
            f"/console/events/{event_id}/edit",
            {"date": "2026-03-21", "start": "14:00", "end": "16:00", "place": "惠泽苑"},
        )
        assert moved.status_code == 303
        after = await desk.get(moved.headers["location"])
        assert "已修改，通知了 1 人" in after.text and "惠泽苑" in after.text
        assert "2026-03-21 14:00–16:00" in after.text
        bad = await desk.post(
            f"/console/events/{event_id}/edit",
            {"date": "2026-03-21", "start": "16:00", "end": "14:00", "place": "惠泽苑"},
        )
        assert bad.status_code == 400 and "没看懂这个时间" in bad.text

        cancelled = await desk.post(f"/console/events/{event_id}/cancel")
        assert cancelled.status_code == 303
        final = await desk.get(cancelled.headers["location"])
        assert "这个活动已取消" in final.text and "取消这个活动</button>" not in final.text
    assert await _outbox(demo, wang.id or 0, "events.changed") == 1
    async with demo.session() as s:
        event = await s.get(Event, event_id)
        assert event is not None and event.cancelled_at is not None
        signup = (await s.execute(select(Signup))).scalar_one()
        assert signup.status == "cancelled"


async def test_only_organisers_move_an_event_and_residents_volunteers_create_none(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    form = {"title": "读书会", "date": "2026-03-20", "start": "19:00", "end": "20:00",
            "place": "图书室", "capacity": "12", "audience": "all", "helpers": "0",
            "reminders": "none", "description": ""}  # fmt: skip
    async with Desk(linli, settings) as zhu:
        await zhu.sign_in("朱凡")
        created = await zhu.post("/console/events/new", form)
        event_id = created.headers["location"].split("/")[-1].split("?")[0]
        assert (await zhu.get("/console/events/99999/edit")).status_code == 404
    async with Desk(linli, settings) as zhou:  # another grid leader: not the organiser
        await zhou.sign_in("周杰")
        assert (await zhou.get(f"/console/events/{event_id}/edit")).status_code == 403
        moved = await zhou.post(
            f"/console/events/{event_id}/edit",
            {"date": "2026-03-22", "start": "19:00", "end": "20:00", "place": "别处"},
        )
        assert moved.status_code == 403
        assert (await zhou.post(f"/console/events/{event_id}/cancel")).status_code == 403
    async with Desk(linli, settings) as li:  # a team leader (队长) organises no events
        await li.sign_in("李红")
        assert 'href="/console/events/new"' not in (await li.get("/console/events")).text
        assert (await li.get("/console/events/new")).status_code == 403
        assert (await li.post("/console/events/new", form)).status_code == 403
    async with demo.session() as s:
        [event] = (await s.execute(select(Event))).scalars().all()
        assert event.place == "图书室" and event.cancelled_at is None
