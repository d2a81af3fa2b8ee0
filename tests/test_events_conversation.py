"""Events in the chat, on Telegram and WeChat: the demo workshop from sign-up to check-in, the
waitlist promotion, 加入日历, the organiser's list, a meeting's RSVP and the refusals."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from models.event_demo import DEMO_CODE, seed_demo_events
from models.events import Event, EventInvitee
from models.signups import Signup, Slot, check_invariants
from models.tables import Person
from tests.chat import Chat, labels
from tests.conftest import FakeClock


async def _demo_events(chat: Chat, clock: FakeClock) -> tuple[int, int]:
    async with chat.db.session() as s:
        workshop, meeting = await seed_demo_events(s, clock())
        return workshop.id or 0, meeting.id or 0


async def _signup_of(chat: Chat, event_id: int, name: str) -> Signup | None:
    async with chat.db.session() as s:
        event = await s.get(Event, event_id)
        assert event is not None
        row = await s.execute(
            select(Signup)
            .join(Person, col(Person.id) == Signup.person_id)
            .where(col(Signup.slot_id) == event.slot_id, col(Person.name) == name)
            .order_by(col(Signup.id).desc())
        )
        return row.scalars().first()


async def test_the_workshop_from_sign_up_to_check_in(chat: Chat, clock: FakeClock) -> None:
    workshop, _meeting = await _demo_events(chat, clock)
    zhang = await chat.person("张伟")
    await zhang.send("周末有什么活动")
    assert zhang.told("三八节 志愿者妈妈亲子DIY手工坊") and zhang.told("还剩 1 个名额（共 3）")
    assert "✅ 报名 +1 孩子" in labels(zhang.messages)
    await zhang.press("✅ 报名")
    assert "报名成功" in zhang.last_text and "社区党群服务中心二楼活动室" in zhang.last_text

    zhu = await chat.person("朱凡")
    await zhu.send("活动")
    assert zhu.told("已报满，可以排候补")
    await zhu.press("✅ 报名")
    assert "候补第 1 位" in zhu.last_text
    waiting = await _signup_of(chat, workshop, "朱凡")
    assert waiting is not None and waiting.status == "waiting"

    # 张伟 cancels from 我的活动: the freed place is offered to 朱凡, who takes it.
    await zhang.send("我的活动")
    assert "已报名" in zhang.last_text
    await zhang.press("✖ 取消")
    assert "已取消" in zhang.last_text
    await chat.deliver()
    assert zhu.told("有空位了")
    await zhu.press("我要这个位置")
    assert "位置是您的了" in zhu.last_text
    claimed = await _signup_of(chat, workshop, "朱凡")
    assert claimed is not None and claimed.status == "booked"

    # At the door: a wrong code changes nothing, the poster's code checks in.
    await zhu.send("签到 1111")
    assert "签到码不对" in zhu.last_text
    await zhu.send(f"签到 {DEMO_CODE}")
    assert "签到成功" in zhu.last_text
    came = await _signup_of(chat, workshop, "朱凡")
    assert came is not None and came.status == "checked_in"

    # The organiser's list: tap 李红 (she came with her child) to check her in.
    liu = await chat.person("刘芳")
    await liu.press_payload(f"ev:list:{workshop}")
    assert "李红（2 人）：已报名" in liu.last_text and "朱凡（1 人）：已签到" in liu.last_text
    await liu.press("签到：李红")
    assert "李红（2 人）：已签到" in liu.last_text
    li = await _signup_of(chat, workshop, "李红")
    assert li is not None and li.status == "checked_in"
    async with chat.db.session() as s:
        assert all((await check_invariants(s)).values())
        slot = (await s.execute(select(Slot).join(Event, col(Event.slot_id) == Slot.id))).scalars()
        assert {x.held for x in slot} >= {3}


async def test_refusals_change_nothing(chat: Chat, clock: FakeClock) -> None:
    workshop, meeting = await _demo_events(chat, clock)
    wang = await chat.person("王建国")  # not a volunteer; invited to the meeting
    await wang.send("活动")
    assert not wang.told("手工坊") and wang.told("车库电表")
    await wang.press_payload(f"ev:join:{workshop}:0")
    assert "只对志愿者开放" in wang.last_text
    assert await _signup_of(chat, workshop, "王建国") is None

    li = await _signup_of(chat, workshop, "李红")
    assert li is not None
    await wang.press_payload(f"su:cancel:{li.id}")  # another person's sign-up
    assert "没有找到这个预约" in wang.last_text
    await wang.press_payload(f"ev:in:{li.id}")  # an organiser's button
    assert "没有权限" in wang.last_text
    await wang.press_payload(f"ev:list:{workshop}")
    assert "没有权限" in wang.last_text
    await wang.press_payload("ev:join:abc:0")
    assert "没有找到这个活动" in wang.last_text
    zhang = await chat.person("张伟")
    await zhang.press_payload(f"ev:join:{workshop}:2")  # three people: over the limit of two
    assert "每次最多 2 人" in zhang.last_text
    await zhang.press_payload(f"rsvp:{meeting}:yes")  # not invited
    assert "只对受邀人员开放" in zhang.last_text
    after = await _signup_of(chat, workshop, "李红")
    assert after is not None and after.status == "booked"
    assert await _signup_of(chat, workshop, "张伟") is None


async def test_calendar_and_the_meeting_rsvp(chat: Chat, clock: FakeClock) -> None:
    wang = await chat.person("王建国")  # invited: in the chat before the demo's events are loaded
    workshop, meeting = await _demo_events(chat, clock)
    li = await chat.person("李红")
    await li.send("我的活动")
    assert "手工坊" in li.last_text and "（2 人）：已报名" in li.last_text
    await li.press_payload(f"ev:ics:{workshop}")
    assert "社区党群服务中心二楼活动室" in li.last_text
    if chat.telegram:  # a file in the chat; WeChat official accounts send no files
        assert chat.api is not None
        method, name, data = chat.api.uploads[-1]
        assert method == "sendDocument" and name == f"event-{workshop}.ics"
        assert b"BEGIN:VCALENDAR" in data and "手工坊".encode() in data

    await chat.deliver()  # the invitation the demo sent when it was loaded, with the RSVP buttons
    assert wang.told("📩 邀请您参加：议事协商会：车库电表改造")
    assert "✅ 参加" in labels(wang.messages)
    await wang.send("活动")
    assert wang.told("议题：1. 车库电表统一迁移方案")
    await wang.press("✅ 参加")
    assert "已记下" in wang.last_text
    async with chat.db.session() as s:
        answer = (
            await s.execute(
                select(EventInvitee.rsvp)
                .join(Person, col(Person.id) == EventInvitee.person_id)
                .where(col(EventInvitee.event_id) == meeting, col(Person.name) == "王建国")
            )
        ).scalar_one()
    assert answer == "yes"


async def test_the_organiser_adds_a_place_and_the_first_waiting_is_offered_it(
    chat: Chat, clock: FakeClock
) -> None:
    workshop, _meeting = await _demo_events(chat, clock)
    zhang = await chat.person("张伟")
    await zhang.press_payload(f"ev:join:{workshop}:0")  # the last place
    zhu = await chat.person("朱凡")
    await zhu.press_payload(f"ev:join:{workshop}:0")
    assert "候补第 1 位" in zhu.last_text
    wang = await chat.person("王建国")  # a resident forging the organiser's button
    await wang.press_payload(f"ev:more:{workshop}")
    assert "加 1 个名额" not in wang.last_text
    async with chat.db.session() as s:
        slot = (
            await s.execute(
                select(Slot).join(Event, col(Event.slot_id) == Slot.id).where(Event.id == workshop)
            )
        ).scalar_one()
        assert slot.capacity == 3, "nothing changed"
    liu = await chat.person("刘芳")  # the organiser
    await liu.press_payload(f"ev:list:{workshop}")
    await liu.press("➕ 加 1 个名额")
    assert "已加 1 个名额（现在共 4 个）" in "\n".join(m.text for m in liu.messages[-3:])
    await chat.deliver()
    assert zhu.told("有空位了")
    offered = await _signup_of(chat, workshop, "朱凡")
    assert offered is not None and offered.status == "offered"
    async with chat.db.session() as s:
        assert all((await check_invariants(s)).values())
