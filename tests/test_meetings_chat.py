"""A 议事协商会 from the chat, on Telegram and WeChat: the organiser creates it with an agenda and
invitees (the representatives as a group, others by name), the invitations carry yes / maybe /
no, "yes" takes a place (so the meeting's reminders reach them), whoever has not answered is
reminded once, the minutes go to the invitees and stay with the meeting; forged organiser
buttons answer clearly and change nothing."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from models.events import Event, EventInvitee
from models.meetings import remind_unanswered
from models.signups import Signup, SignupReminder
from models.tables import Person
from tests.chat import Chat, labels
from tests.conftest import FakeClock

TITLE = "议事协商会：楼道照明改造"


async def _meeting(chat: Chat) -> Event:
    async with chat.db.session() as s:
        return (await s.execute(select(Event).where(col(Event.title) == TITLE))).scalar_one()


async def _answers(chat: Chat, event_id: int) -> dict[str, str | None]:
    async with chat.db.session() as s:
        rows = await s.execute(
            select(Person.name, EventInvitee.rsvp)
            .join(Person, col(Person.id) == EventInvitee.person_id)
            .where(col(EventInvitee.event_id) == event_id)
        )
        return {name: rsvp for name, rsvp in rows.all()}


async def test_a_meeting_from_invitation_to_minutes(chat: Chat, clock: FakeClock) -> None:
    liu = await chat.person("刘芳")
    wang = await chat.person("王建国")  # a residents' representative
    zhao = await chat.person("赵敏")
    await liu.send("活动")
    await liu.press("发起活动")
    await liu.send(TITLE)
    await liu.press("议事协商会")
    await liu.send("3月9日 19:00-20:30")
    await liu.send("社区议事厅")
    assert "会议议题" in liu.last_text
    await liu.send("1. 楼道灯改声控 2. 电费分摊")
    assert "邀请谁" in liu.last_text and "乐清网格居民" in labels([liu.last])
    await liu.press("居民代表")
    assert "已选 1 人" in liu.last_text
    await liu.send("赵敏、李四")  # one name is nobody here: said so, the rest kept
    assert "没找到：李四" in liu.last_text and "已选 2 人" in liu.last_text
    await liu.press("发送邀请")
    assert "什么时候提醒" in liu.last_text
    await liu.press("48 小时和 2 小时")
    assert liu.told("邀请已发给 2 人")
    meeting = await _meeting(chat)
    assert (meeting.kind, meeting.audience, meeting.reminders) == (
        "meeting",
        "invitees",
        [120, 2880],
    )
    assert meeting.agenda == "1. 楼道灯改声控 2. 电费分摊"

    await chat.deliver()
    assert wang.told("邀请您参加") and wang.told("议题：1. 楼道灯改声控")
    await wang.press("✅ 参加")
    assert "已记下" in wang.last_text
    async with chat.db.session() as s:  # a place, so the engine reminds him 48 h and 2 h before
        signup = (
            await s.execute(select(Signup).where(col(Signup.slot_id) == meeting.slot_id))
        ).scalar_one()
        assert signup.status == "booked"
        labels_due = (
            await s.execute(
                select(SignupReminder.label).where(col(SignupReminder.signup_id) == signup.id)
            )
        ).scalars()
        assert sorted(labels_due) == ["m120", "m2880"]

    # 赵敏 has not answered: a day before, she is reminded once.
    clock.advance(hours=40)
    for _ in range(2):
        async with chat.db.session() as s:
            await remind_unanswered(s, clock())
    await chat.deliver()
    assert sum("您受邀参加" in m.text for m in zhao.messages) == 1  # the invitation said 邀请您参加
    await zhao.press("不确定")
    assert await _answers(chat, meeting.id or 0) == {"王建国": "yes", "赵敏": "maybe"}

    # Forged organiser buttons: refused, nothing kept.
    await wang.press_payload(f"mt:minutes:{meeting.id}")
    assert "没有权限" in wang.last_text
    zhang = await chat.person("张伟")  # not invited
    await zhang.press_payload(f"mt:view:{meeting.id}")
    assert "只对受邀人员开放" in zhang.last_text
    assert (await _meeting(chat)).minutes is None

    # After the meeting the organiser posts the decision: it goes out and stays with the meeting.
    clock.advance(days=3)
    await liu.press_payload(f"mt:view:{meeting.id}")
    assert "王建国：✅ 参加" in liu.last_text and "还没有会议纪要" in liu.last_text
    await liu.press("发会议纪要")
    await liu.send("决定：楼道灯改声控，电费按户分摊。")
    assert "已发给 2 人" in liu.last_text
    await chat.deliver()
    assert zhao.told("决定：楼道灯改声控，电费按户分摊。")
    kept = await _meeting(chat)
    assert kept.minutes == "决定：楼道灯改声控，电费按户分摊。" and kept.minutes_at == clock()

    # Later, the invitee reads it again from /meetings.
    await wang.send("/meetings")
    assert "楼道照明改造" in wang.last_text and "（有纪要）" in wang.last_text
    await wang.press("楼道照明")
    assert "决定：楼道灯改声控" in wang.last_text and "参加 1，不确定 1" in wang.last_text
    assert "发会议纪要" not in " ".join(labels([wang.last]))  # an invitee's page has no such button
