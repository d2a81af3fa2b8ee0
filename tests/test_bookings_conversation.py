"""Bookings at the seven micro-stations, in the chat, on Telegram and WeChat: a haircut in three
taps, the waitlist that promotes itself, offers that lapse, the refusals, 代办, reminders, 今日名单
with check-in by tap and by code, no-shows and their rule, the rating, the manager's board.

The fake clock starts on Saturday 2026-03-07 10:00 in Asia/Shanghai; the demo's sessions are
on Saturdays, so "the coming Saturday" is 03-14.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from models.booking_demo import seed_demo_bookings
from models.bookings import ServicePoint, ServiceRating
from models.signups import (
    Signup,
    Slot,
    check_invariants,
    close_ended_slots,
    expire_offers,
    fire_signup_reminders,
)
from models.tables import Person
from tests.chat import Chat, labels
from tests.conftest import FakeClock

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST = "03-14 09:00–09:30"  # the first haircut session of the coming Saturday (2 of 3 taken)


async def _demo(chat: Chat, clock: FakeClock) -> None:
    async with chat.db.session() as s:
        await seed_demo_bookings(s, clock())


async def _slot(chat: Chat, key: str, local: str) -> Slot:
    """The session of point `key` starting at `local` ('2026-03-14 09:00', Shanghai time)."""
    start = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI)
    async with chat.db.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == key))
        ).scalar_one()
        return (
            await s.execute(
                select(Slot).where(col(Slot.owner_id) == point.id, col(Slot.starts_at) == start)
            )
        ).scalar_one()


async def _signup(chat: Chat, slot_id: int, name: str) -> Signup | None:
    async with chat.db.session() as s:
        row = await s.execute(
            select(Signup)
            .join(Person, col(Person.id) == Signup.person_id)
            .where(col(Signup.slot_id) == slot_id, col(Person.name) == name)
            .order_by(col(Signup.id).desc())
        )
        return row.scalars().first()


async def _invariants(chat: Chat) -> None:
    async with chat.db.session() as s:
        assert all((await check_invariants(s)).values())


def _recent(who: object, n: int = 4) -> str:
    """The last few messages a person got, joined (a list comes with a hint under it)."""
    return "\n".join(m.text for m in who.messages[-n:])  # type: ignore[attr-defined]


def _at(clock: FakeClock, local: str) -> None:
    clock.now = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).astimezone(clock.now.tzinfo)


async def test_a_haircut_in_three_taps_then_the_waitlist_promotes(
    chat: Chat, clock: FakeClock
) -> None:
    await _demo(chat, clock)
    li = await chat.person("李红")
    await li.send("📅 预约服务")  # tap 1: the menu button
    assert "🔴 志愿理发 · 下一场" in " ".join(labels(li.messages))
    await li.press("志愿理发")  # tap 2: the point
    assert f"{FIRST} 剩 1 位" in labels(li.messages)
    await li.press(f"{FIRST} 剩 1 位")  # tap 3: the session — booked
    text = li.last_text
    assert "预约成功" in text and "惠泽苑七彩微阵地" in text and "巧手理发志愿队" in text
    assert "签到码" in text and "前一天傍晚" in text and "✖ 取消预约" in labels(li.messages)

    zhu = await chat.person("朱凡")
    await zhu.send("我想预约理发")  # free text naming the point opens its sessions
    await zhu.press(f"{FIRST} 已满·排候补")
    assert "您是候补第 1 位" in zhu.last_text
    sun = await chat.person("孙强")
    await sun.send("book a haircut")
    await sun.press(f"{FIRST} 已满·排候补")
    assert "您是候补第 2 位" in sun.last_text
    slot = await _slot(chat, "haircut", "2026-03-14 09:00")
    await sun.press_payload(f"bk:go:{slot.id}")  # a second tap: the same place in the queue
    assert "已在" in sun.last_text and "候补第 2 位" in sun.last_text

    # 李红 cancels from 我的预约: the place is offered to 朱凡 alone, who takes it.
    await li.send("我的预约")
    assert "志愿理发 03-14 09:00–09:30：已预约" in li.last_text
    await li.press("✖ 取消 志愿理发")
    assert "已取消" in li.last_text
    await chat.deliver()
    assert zhu.told("有空位了") and "巧手理发志愿队" in zhu.last_text
    assert not sun.told("有空位了")
    await zhu.press("我要这个位置")
    assert "位置是您的了" in zhu.last_text
    claimed = await _signup(chat, slot.id or 0, "朱凡")
    assert claimed is not None and claimed.status == "booked"
    await sun.send("我的预约")
    assert "候补第 1 位" in sun.last_text
    await _invariants(chat)


async def test_an_offer_not_claimed_in_time_passes_to_the_next(
    chat: Chat, clock: FakeClock
) -> None:
    await _demo(chat, clock)
    slot = await _slot(chat, "haircut", "2026-03-14 09:00")
    li, zhu, sun = [await chat.person(n) for n in ("李红", "朱凡", "孙强")]
    for who in (li, zhu, sun):
        await who.press_payload(f"bk:go:{slot.id}")
    assert "候补第 2 位" in sun.last_text
    await li.press("✖ 取消预约")
    await chat.deliver()
    assert zhu.told("有空位了") and not sun.told("有空位了")
    clock.advance(minutes=11)
    async with chat.db.session() as s:
        assert await expire_offers(s, clock()) == 1
    await chat.deliver()
    assert zhu.told("让给了下一位") and sun.told("有空位了")
    await zhu.press("我要这个位置")  # too late: nothing changes for him
    assert "过了保留时间" in zhu.last_text
    await sun.press("不要了")  # "不要了": nobody else waits, the place is simply free again
    after = await _slot(chat, "haircut", "2026-03-14 09:00")
    assert after.held == 2
    await _invariants(chat)


async def test_refusals_say_the_rule_and_change_nothing(chat: Chat, clock: FakeClock) -> None:
    await _demo(chat, clock)
    li = await chat.person("李红")
    closing = await _slot(chat, "haircut", "2026-03-07 10:30")  # today, 29 minutes from now
    clock.advance(minutes=1)
    await li.press_payload(f"bk:go:{closing.id}")
    assert "开始前 30 分钟停止预约" in li.last_text
    assert await _signup(chat, closing.id or 0, "李红") is None

    second = await _slot(chat, "haircut", "2026-03-14 09:30")
    third = await _slot(chat, "haircut", "2026-03-14 10:00")
    await li.press_payload(f"bk:go:{second.id}")
    assert "预约成功" in li.last_text
    await li.press_payload(f"bk:go:{third.id}")  # one haircut a week
    assert "每人每 7 天限约 1 次" in li.last_text and "03-16 起可以再约" in li.last_text
    assert await _signup(chat, third.id or 0, "李红") is None

    mine = await _signup(chat, second.id or 0, "李红")
    assert mine is not None
    wang = await chat.person("王建国")
    await wang.press_payload(f"su:cancel:{mine.id}")  # a forged button: someone else's booking
    assert "没有找到这个预约" in wang.last_text
    await wang.press_payload("bk:go:abc")
    assert "没有找到这个预约" in wang.last_text
    await wang.press_payload(f"bs:drop:{second.id}")  # a manager's button
    assert "没有权限" in wang.last_text
    await wang.press_payload(f"bs:in:{mine.id}")
    assert "没有权限" in wang.last_text
    still = await _signup(chat, second.id or 0, "李红")
    assert still is not None and still.status == "booked"

    liu = await chat.person("刘芳")  # the manager cancels a session: it refuses new bookings
    await liu.press_payload(f"bs:drop:{third.id}")
    assert "已取消这一场" in liu.last_text
    await wang.press_payload(f"bk:go:{third.id}")
    assert "这一场已经取消了" in wang.last_text

    _at(clock, "2026-03-14 09:40")  # the 03-14 sessions have begun: too late to book or cancel
    await wang.press_payload(f"bk:go:{second.id}")
    assert "已经开始或结束" in wang.last_text
    await li.press_payload(f"su:cancel:{mine.id}")
    assert "已经开始了，不能再取消" in li.last_text
    await _invariants(chat)


async def test_booking_on_behalf_of_a_resident(chat: Chat, clock: FakeClock) -> None:
    await _demo(chat, clock)
    zhu = await chat.person("朱凡")  # 乐清网格 grid leader
    await zhu.send("预约服务")
    await zhu.press("银行业务")
    assert "请带：社保卡、身份证" in zhu.last_text
    await zhu.press("代办")
    await zhu.send("陈秀英")  # she has no smartphone: found by name in his grid
    await zhu.press("03-14 09:00–09:30 剩 2 位")
    text = "\n".join(m.text for m in zhu.messages[-3:])
    assert "为 陈秀英 预约" in text and "没有绑定微信或 Telegram" in text
    assert "社保卡、身份证" in text
    slot = await _slot(chat, "bank", "2026-03-14 09:00")
    chen = await _signup(chat, slot.id or 0, "陈秀英")
    assert chen is not None and chen.status == "booked" and chen.booked_as == "grid_leader"

    wang = await chat.person("王建国")  # reachable: told through the outbox
    await zhu.press_payload(f"bs:for:{slot.owner_id}")
    await zhu.send("13800000005")  # by phone number
    await zhu.press("03-14 09:00–09:30 剩 1 位")
    assert "已通知 王建国 本人" in "\n".join(m.text for m in zhu.messages[-3:])
    await chat.deliver()
    assert wang.told("朱凡 为您代约了") and wang.told("银行业务")
    await wang.send("我的预约")
    assert "银行业务 03-14 09:00–09:30：已预约" in wang.last_text

    await wang.press_payload(f"bs:for:{slot.owner_id}")  # a resident without a household
    await wang.send("陈秀英")  # … and no staff role finds nobody
    assert "没有找到这位居民" in wang.last_text
    await wang.send("取消")
    # 赵敏 lives in the other grid (乐美): 朱凡 may not book for her.
    await zhu.press_payload(f"bs:for:{slot.owner_id}")
    await zhu.send("赵敏")
    assert "没有找到这位居民" in zhu.last_text
    await _invariants(chat)


async def test_reminders_fire_once_and_never_for_a_cancelled_booking(
    chat: Chat, clock: FakeClock
) -> None:
    await _demo(chat, clock)
    slot = await _slot(chat, "health", "2026-03-14 08:30")
    li, zhu, sun = [await chat.person(n) for n in ("李红", "朱凡", "孙强")]
    for who in (li, zhu, sun):
        await who.press_payload(f"bk:go:{slot.id}")
    await zhu.press("✖ 取消预约")
    _at(clock, "2026-03-13 18:00")  # the evening before, not at night
    async with chat.db.session() as s:
        assert await fire_signup_reminders(s, clock()) == 2
    async with chat.db.session() as s:
        assert await fire_signup_reminders(s, clock()) == 0  # once
    await chat.deliver()
    assert li.told("预约提醒：健康义诊") and li.told("中山骨科医院")
    assert not zhu.told("预约提醒")
    await li.press("👍 去")
    assert "签到码" in li.last_text

    _at(clock, "2026-03-14 07:30")  # one hour before: cancel from the reminder
    async with chat.db.session() as s:
        assert await fire_signup_reminders(s, clock()) == 2
    await chat.deliver()
    await sun.press("✖ 取消预约")
    assert "已取消" in sun.last_text
    gone = await _signup(chat, slot.id or 0, "孙强")
    assert gone is not None and gone.status == "cancelled"
    await _invariants(chat)


async def test_todays_list_check_in_by_tap_and_code_no_shows_and_the_rating(
    chat: Chat, clock: FakeClock
) -> None:
    await _demo(chat, clock)
    slot = await _slot(chat, "haircut", "2026-03-14 09:00")
    li = await chat.person("李红")
    await li.press_payload(f"bk:go:{slot.id}")  # the last place (王建国 and 赵敏 hold two)
    mine = await _signup(chat, slot.id or 0, "李红")
    assert mine is not None
    _at(clock, "2026-03-14 08:55")

    zhang = await chat.person("张伟")  # in 巧手理发志愿队
    await zhang.send("今日名单")
    text = _recent(zhang)
    assert "今日名单：志愿理发" in text and "王建国：已预约" in text and "李红：已预约" in text
    await zhang.press("签到：王建国")
    assert "王建国 已签到" in _recent(zhang)
    await zhang.send(f"签到 {mine.code}")  # 李红 shows her code
    assert "李红 已签到" in _recent(zhang)
    await zhang.send("签到 0000")
    assert "签到码不对" in zhang.last_text
    wang = await _signup(chat, slot.id or 0, "王建国")
    came = await _signup(chat, slot.id or 0, "李红")
    assert wang is not None and wang.status == "checked_in"
    assert came is not None and came.status == "checked_in"

    _at(clock, "2026-03-14 09:31")
    async with chat.db.session() as s:
        assert await close_ended_slots(s, clock()) >= 1
    missed = await _signup(chat, slot.id or 0, "赵敏")
    assert missed is not None and missed.status == "no_show"
    await chat.deliver()
    assert li.told("请给这次服务打个分")
    await li.press("⭐⭐⭐⭐⭐")
    assert "谢谢您的评价" in li.last_text
    async with chat.db.session() as s:
        rating = (await s.execute(select(ServiceRating))).scalar_one()
        assert rating.stars == 5 and rating.team_id is not None
    zhao = await chat.person("赵敏")
    await zhao.press_payload(f"bk:rate:{missed.id}:1")  # she did not come
    assert "只有到场签到的人可以评价" in zhao.last_text
    await zhao.press_payload(f"bk:rate:{came.id}:1")  # someone else's booking
    assert "没有找到这个预约" in zhao.last_text

    liu = await chat.person("刘芳")  # the manager: 居民评议 per team, the board
    await liu.send("⭐ 居民评议")
    assert liu.told("巧手理发志愿队")
    await liu.press_payload(f"bs:board:{slot.owner_id}")
    board = liu.last_text
    # 赵敏 here, and 周杰 at the demo's extra session of 03-07: two of four did not come.
    assert "爽约率 50%：2/4" in board and "03-14 09:00–09:30：已约 2/3" in board


async def test_two_no_shows_pause_booking_with_the_reason(chat: Chat, clock: FakeClock) -> None:
    await _demo(chat, clock)
    zhao = await chat.person("赵敏")  # already booked for 03-14 09:00 by the demo; she won't come
    first = await _slot(chat, "haircut", "2026-03-14 09:00")
    await zhao.press_payload(f"bk:go:{first.id}")
    assert "已经约了这一场" in zhao.last_text
    _at(clock, "2026-03-14 12:00")
    async with chat.db.session() as s:
        await close_ended_slots(s, clock())
    nxt = await _slot(chat, "haircut", "2026-03-21 09:00")
    await zhao.press_payload(f"bk:go:{nxt.id}")
    assert "预约成功" in zhao.last_text
    _at(clock, "2026-03-21 12:00")
    async with chat.db.session() as s:
        await close_ended_slots(s, clock())
        from models.bookings import extend_series

        await extend_series(s, clock())
    later = await _slot(chat, "haircut", "2026-03-28 09:00")
    await zhao.press_payload(f"bk:go:{later.id}")
    assert "最近有 2 次预约没有到场" in zhao.last_text and "04-04 以后" in zhao.last_text
    assert await _signup(chat, later.id or 0, "赵敏") is None


async def test_the_manager_adds_a_point_and_sessions_and_cancels_one(
    chat: Chat, clock: FakeClock
) -> None:
    await _demo(chat, clock)
    liu = await chat.person("刘芳")
    await liu.send("预约服务")
    await liu.press("新增服务点")
    await liu.send("磨剪刀")
    await liu.send("惠泽苑七彩微阵地")
    await liu.send("巧手理发志愿队")
    await liu.send("无")
    assert "已新增服务点：磨剪刀" in liu.last_text
    await liu.send("每周日 14点-16点 每60分钟一场")  # not understood: asked again, with the form
    assert "没看懂时间安排" in liu.last_text
    await liu.send("每周日 14:00–16:00，每 60 分钟一场，每场 5 人")
    assert "已新增 4 场" in "\n".join(m.text for m in liu.messages[-2:])
    assert "03-08 14:00–15:00 剩 5 位" in labels(liu.messages)

    slot = await _slot(chat, "haircut", "2026-03-14 09:00")
    sun = await chat.person("孙强")
    await sun.press_payload(f"bk:go:{slot.id}")  # the last place
    zhu = await chat.person("朱凡")
    await zhu.press_payload(f"bk:go:{slot.id}")  # waiting
    await liu.press_payload(f"bs:board:{slot.owner_id}")
    assert "03-14 09:00–09:30：已约 3/3，候补 1" in liu.last_text
    await liu.press(f"取消场次 {FIRST}")
    assert "已通知 2 人" in liu.last_text  # the two who can be reached
    await chat.deliver()
    assert sun.told("这一场取消了") and zhu.told("这一场取消了")
    await _invariants(chat)


async def test_two_taps_on_the_last_place_at_the_same_moment(chat: Chat, clock: FakeClock) -> None:
    await _demo(chat, clock)
    slot = await _slot(chat, "haircut", "2026-03-14 09:00")  # one place left
    li, zhu = await chat.person("李红"), await chat.person("朱凡")
    await asyncio.gather(
        li.press_payload(f"bk:go:{slot.id}"), zhu.press_payload(f"bk:go:{slot.id}")
    )
    said = [li.last_text, zhu.last_text]
    assert sum("预约成功" in t for t in said) == 1 and sum("候补第 1 位" in t for t in said) == 1
    states = {(await _signup(chat, slot.id or 0, n)).status for n in ("李红", "朱凡")}  # type: ignore[union-attr]
    assert states == {"booked", "waiting"}
    await _invariants(chat)


async def test_the_help_names_the_commands_each_person_uses(chat: Chat, clock: FakeClock) -> None:
    await _demo(chat, clock)
    wang = await chat.person("王建国")  # a resident
    await wang.send("/help")
    assert "/mybookings 我的预约" in wang.last_text and "/today" not in wang.last_text
    zhang = await chat.person("张伟")  # in the haircut team: he checks people in
    await zhang.send("/help")
    assert "/mybookings 我的预约" in zhang.last_text and "/today 今日名单" in zhang.last_text
    await zhang.send("/today")
    assert "今日名单：志愿理发" in zhang.last_text or zhang.told("今日名单")
    await wang.send("/today")  # not his: told so, nothing shown
    assert "今日名单：" not in wang.last_text
