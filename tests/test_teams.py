"""Volunteer teams from the chat, as one script on Telegram and on WeChat (issue 20)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from models.db import Database
from models.demo import DEMO_VOLUNTEER_CODE
from models.tables import Person, Team, TeamMember
from models.tasks import Task, TaskOffer
from tests.chat import Chat
from tests.telegram_chat import texts

WANG, NEW1, NEW2 = 41, 51, 52
STEWARDS = "乐清网格红管家服务队"


def seen(said: list[Any]) -> str:
    """What the person sees: the texts and, on Telegram, the button labels (WeChat numbers
    them inside the text)."""
    return "\n".join(
        "\n".join([s.text, *(label for label, _data in getattr(s, "buttons", []))]) for s in said
    )


async def join_as_volunteer(chat: Chat, uid: int, name: str, skills: list[str]) -> object:
    """Open the volunteer invitation, give a name, pick the steward team and these skills."""
    user = chat.user(uid, name)
    asked = await user.join_by_link(DEMO_VOLUNTEER_CODE)
    assert "姓名" in texts(asked)
    question = texts(await user.send(name))
    assert "志愿者（红管家）" in question and "请选择要加入的队伍" in question
    # Each team comes with its one-line description.
    assert "楼道杂物、环境卫生" in question and "乐清网格调解小组" in question
    asked_skills = seen(await user.press(STEWARDS))
    assert "能做哪些事" in asked_skills and "☐ 🧹 杂物堆放" in asked_skills
    for skill in skills:
        assert re.search(rf"☑ \S+ {skill}", seen(await user.press(skill))), skill
    done = texts(await user.press("完成"))
    assert f"您已加入「{STEWARDS}」" in done
    return user


async def report_clutter(chat: Chat, demo: Database) -> None:
    """王建国 reports clutter behind building 3 with a photo and his location."""
    await chat.link(WANG, "王建国")
    wang = chat.user(WANG)
    await wang.send("3幢后面堆了好多杂物")
    await wang.press("杂物堆放")
    await wang.photo("junk")
    await wang.press("好了")
    await wang.location(28.1418, 120.9701)
    assert "已受理" in texts(await wang.press("✅ 提交"))


async def test_new_volunteers_join_a_team_receive_the_push_and_the_first_press_wins(
    chat: Chat, demo: Database
) -> None:
    first = await join_as_volunteer(chat, NEW1, "钱多多", ["杂物堆放", "环境卫生"])
    second = await join_as_volunteer(chat, NEW2, "吴小明", [])
    async with demo.session() as s:
        rows = (
            await s.execute(
                select(Person.name, TeamMember.skills, TeamMember.approved)
                .join(TeamMember, TeamMember.person_id == Person.id)
                .join(Team, Team.id == TeamMember.team_id)
                .where(Team.name == STEWARDS, Person.name.in_(["钱多多", "吴小明"]))
                .order_by(Person.name)
            )
        ).all()
    assert sorted(rows) == [("吴小明", [], True), ("钱多多", ["clutter", "hygiene"], True)]

    await report_clutter(chat, demo)
    await chat.deliver()
    assert "新任务" in first.latest() and "杂物堆放" in first.latest()  # type: ignore[attr-defined]
    assert "新任务" in second.latest()  # type: ignore[attr-defined]
    assert "接单成功" in texts(await first.press("接单"))  # type: ignore[attr-defined]
    taken = texts(await second.press("接单"))  # type: ignore[attr-defined]
    assert "慢了一步" in taken and "钱多多" in taken
    async with demo.session() as s:
        task = (await s.execute(select(Task))).scalar_one()
        holder = await s.get(Person, task.assignee_id)
    assert task.state == "taken" and holder is not None and holder.name == "钱多多"


async def test_a_volunteer_who_paused_gets_no_push_and_can_resume(
    chat: Chat, demo: Database
) -> None:
    me = await join_as_volunteer(chat, NEW1, "钱多多", [])
    assert "暂停接单" in seen(await me.send("/team"))  # type: ignore[attr-defined]
    assert "暂停接单到哪一天" in texts(await me.press("暂停接单"))  # type: ignore[attr-defined]
    paused = texts(await me.press("3 天"))
    assert "暂停接单" in paused and "2026-03-10" in paused
    shown = seen(await me.send("/team"))
    assert "暂停接单中，2026-03-10 起恢复" in shown and "恢复接单" in shown
    await report_clutter(chat, demo)
    await chat.deliver()
    assert "新任务" not in me.latest()  # type: ignore[attr-defined]
    async with demo.session() as s:
        qian = (await s.execute(select(Person).where(Person.name == "钱多多"))).scalar_one()
        offers = (await s.execute(select(TaskOffer).where(TaskOffer.person_id == qian.id))).all()
    assert offers == []
    assert "已恢复接单" in texts(await me.press("恢复接单"))  # type: ignore[attr-defined]
