"""Organisers and helpers in the chat, on Telegram and WeChat: a duty taken signs the volunteer
up as helper and, after check-in and the end, credits their hours once; a one-tap rating; the
organiser creates, announces (a notice with the sign-up button), edits, exports and cancels."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import col

from models.event_demo import DEMO_CODE, seed_demo_events
from models.events import Event, EventDuty, EventRating
from models.signups import Signup, Slot, check_invariants
from models.tables import Person
from models.tasks import Task, VolunteerHours, credit_hours
from tests.chat import Chat, labels
from tests.conftest import FakeClock


async def _signup(chat: Chat, event_id: int, name: str) -> Signup | None:
    async with chat.db.session() as s:
        event = await s.get(Event, event_id)
        assert event is not None
        return (
            (
                await s.execute(
                    select(Signup)
                    .join(Person, col(Person.id) == Signup.person_id)
                    .where(col(Signup.slot_id) == event.slot_id, col(Person.name) == name)
                    .order_by(col(Signup.id).desc())
                )
            )
            .scalars()
            .first()
        )


async def test_a_duty_makes_a_helper_whose_hours_count_once(chat: Chat, clock: FakeClock) -> None:
    zhang = await chat.person("张伟")
    li = await chat.person("李红")
    liu = await chat.person("刘芳")
    async with chat.db.session() as s:
        workshop_row, _meeting = await seed_demo_events(s, clock())
        workshop = workshop_row.id or 0
    await chat.deliver()
    assert zhang.told("布置场地")  # the duty, pushed to the grid's service team
    await zhang.press("接单")
    helper = await _signup(chat, workshop, "张伟")
    assert helper is not None and helper.status == "booked" and helper.booked_as == "helper"
    async with chat.db.session() as s:
        slot = (
            await s.execute(
                select(Slot)
                .join(Event, col(Event.slot_id) == Slot.id)
                .where(col(Event.id) == workshop)
            )
        ).scalar_one()
        assert (slot.capacity, slot.held) == (4, 3)  # a place added for the helper
    await zhang.send(f"签到 {DEMO_CODE}")
    assert "签到成功" in zhang.last_text

    await liu.press_payload(f"ev:end:{workshop}")
    assert "还没开始" in liu.last_text  # not before it starts
    clock.advance(minutes=45)  # it started 15 minutes after the demo was loaded
    await liu.press_payload(f"ev:end:{workshop}")
    assert "活动已结束" in liu.last_text
    async with chat.db.session() as s:
        assert await credit_hours(s, clock()) == 1
        assert await credit_hours(s, clock()) == 0  # once
    await chat.deliver()
    assert zhang.told("小时已计入您的志愿时长") and zhang.told("给这次活动打个分吧")
    await zhang.send("我的活动")  # the rating is offered there too (a missed push, the console)
    assert "已结束，等您打分" in zhang.last_text
    await zhang.press("打分")
    await zhang.press("很好")
    assert "谢谢您的评价" in zhang.last_text
    await zhang.send("我的活动")
    assert "等您打分" not in zhang.last_text
    await li.press_payload(f"ev:rate:{workshop}:5")  # she signed up but did not come
    assert "签到参加了活动的人才能打分" in li.last_text
    async with chat.db.session() as s:
        hours = (await s.execute(select(VolunteerHours))).scalars().all()
        assert [(h.minutes) for h in hours] == [30]  # 15 minutes before to 30 after the start
        ratings = (await s.execute(select(EventRating.stars))).scalars().all()
        assert ratings == [5]
        duties = (
            await s.execute(select(Task.state).join(EventDuty, col(EventDuty.task_id) == Task.id))
        ).scalars()
        assert sorted(duties) == ["done", "open"]
    no_show = await _signup(chat, workshop, "李红")
    assert no_show is not None and no_show.status == "no_show"


async def test_the_organiser_creates_announces_edits_exports_and_cancels(
    chat: Chat, clock: FakeClock
) -> None:
    wang = await chat.person("王建国")
    liu = await chat.person("刘芳")
    await liu.send("活动")
    await liu.press("发起活动")
    assert "活动叫什么名字" in liu.last_text
    await liu.send("学雷锋便民摊位")
    assert "是什么类型" in liu.last_text
    await liu.press("🎉 活动")
    await liu.send("明天下午")
    assert "没看懂这个时间" in liu.last_text  # asked again, nothing made
    await liu.send("3月10日 14:00-16:00")
    await liu.send("社区广场")
    await liu.send("二十")
    assert "请发数字" in liu.last_text
    await liu.send("2")
    await liu.press("全体居民")
    await liu.send("4")
    assert "什么时候提醒" in liu.last_text
    await liu.press("提前 2 小时")
    assert liu.told("活动已发布") and liu.told("学雷锋便民摊位")
    async with chat.db.session() as s:
        event = (
            await s.execute(select(Event).where(col(Event.title) == "学雷锋便民摊位"))
        ).scalar_one()
        duties = (
            await s.execute(
                select(func.count())
                .select_from(EventDuty)
                .where(col(EventDuty.event_id) == event.id)
            )
        ).scalar_one()
    assert duties == 4 and event.audience == "all" and event.reminders == [120]
    eid = event.id

    await liu.press_payload(f"ev:list:{eid}")
    assert "导出名单" in " ".join(labels([liu.last]))
    await liu.press("发通知")
    assert "已发通知给" in liu.last_text
    await chat.deliver()
    assert wang.told("学雷锋便民摊位")
    await wang.press("✅ 报名")  # the button inside the notice
    assert "报名成功" in wang.last_text

    await liu.press_payload(f"ev:edit:{eid}")
    await liu.press("地点")
    await liu.send("社区文化广场东侧")
    assert "已通知 1 位" in liu.last_text
    await chat.deliver()
    assert wang.told("活动有变动") and wang.told("社区文化广场东侧")

    await liu.press_payload(f"ev:xlsx:{eid}")
    if chat.telegram:  # a file in the chat; a WeChat official account sends no files
        assert chat.api is not None
        _method, name, data = chat.api.uploads[-1]
        assert name == f"event-{eid}-roster.xlsx"
        sheet = load_workbook(io.BytesIO(data)).active
        assert sheet is not None
        assert [row[0] for row in sheet.iter_rows(values_only=True)][2:] == ["王建国"]
    else:
        assert "微信里不能发文件" in liu.last_text

    await wang.press_payload(f"ev:drop:{eid}")  # a resident's forged organiser button
    assert "没有权限" in wang.last_text
    await liu.press_payload(f"ev:drop:{eid}")
    assert "已通知 1 人" in liu.last_text
    await chat.deliver()
    assert wang.told("取消了")
    async with chat.db.session() as s:
        assert all((await check_invariants(s)).values())
        cancelled = await s.get(Event, eid)
        assert cancelled is not None and cancelled.cancelled_at is not None
