"""问卷: the red stewards' satisfaction survey on Telegram and WeChat — stopping half-way and
resuming hours later where one stopped, every kind of question, bad answers refused; the
managers' results per question and per team, and the .xlsx export."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import col

from models.db import Database
from models.surveys import (
    Given,
    Survey,
    SurveyAnswer,
    SurveyResponse,
    answer,
    results_xlsx,
    seed_survey_demo,
    start_or_resume,
)
from models.tables import Person, Team
from tests.chat import Chat, labels
from tests.conftest import FakeClock


async def demo_survey(db: Database, clock: FakeClock) -> int:
    async with db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        team = (
            await s.execute(select(Team).where(col(Team.name) == "乐清网格红管家服务队"))
        ).scalar_one()
        survey = await seed_survey_demo(s, liu.community_id, liu.id or 0, team.id, clock())
        return survey.id or 0


async def _answers(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(SurveyAnswer))).scalar_one())


async def test_stopping_half_way_and_resuming_later(chat: Chat, clock: FakeClock) -> None:
    await demo_survey(chat.db, clock)
    wang = await chat.person("王建国")
    await wang.send("问卷")
    assert wang.told("红管家服务满意度调查") and wang.told("第 1/4 题")
    await wang.send("7")  # not a star rating
    assert "请点 1 到 5 颗星" in wang.last_text
    await wang.press("4 星")
    assert "第 2/4 题" in wang.last_text and "处理得及时吗" in wang.last_text
    # He stops here: asks about something else, and comes back the next day (the chat's flow
    # has long timed out; the progress is in the database).
    await wang.send("投票")
    clock.advance(hours=20)
    await wang.send("问卷")
    assert "欢迎回来！您已答了 1/4 题" in wang.last_text and "第 2/4 题" in wang.last_text
    await wang.press("很及时")
    assert "第 3/4 题" in wang.last_text
    await wang.press("环境整治")
    await wang.press("矛盾调解")
    await wang.press("环境整治")  # unticked again
    shown = labels([wang.last])
    assert "☑ 矛盾调解" in shown and "☐ 环境整治" in shown
    await wang.press("下一题")
    assert "第 4/4 题" in wang.last_text
    await wang.send("楼道清理得很干净，谢谢")
    assert "问卷已完成，谢谢您" in wang.last_text
    await wang.send("问卷")
    assert wang.told("已完成") or wang.told("已经填完")
    async with chat.db.session() as s:
        response = (await s.execute(select(SurveyResponse))).scalar_one()
        assert response.finished_at is not None
        rows = (
            await s.execute(select(SurveyAnswer).order_by(col(SurveyAnswer.question_id)))
        ).scalars()
        assert [(a.stars, a.choices, a.text) for a in rows] == [
            (4, [], None),
            (None, [1], None),
            (None, [4], None),
            (None, [], "楼道清理得很干净，谢谢"),
        ]


async def test_the_manager_sees_results_per_question_and_team(chat: Chat, clock: FakeClock) -> None:
    survey = await demo_survey(chat.db, clock)
    for name, stars, timely in (("王建国", "5 星", "很及时"), ("陈秀英", "3 星", "太慢了")):
        who = await chat.person(name)
        await who.send("问卷")
        await who.press(stars)
        await who.press(timely)
    liu = await chat.person("刘芳")
    await liu.send("问卷")
    pictures = liu.pictures
    await liu.press("📊 结果")
    await chat.deliver()  # WeChat: an answer late for the passive reply comes through the API
    assert liu.told("开始作答 2 人，完成 0 人")
    assert liu.told("平均 4.0 星（2 人）") and liu.told("很及时 1、还可以 0、太慢了 1")
    assert liu.told("乐清网格红管家服务队：4.0 星（2）")
    await chat.deliver()  # WeChat: the charts follow through the API
    assert liu.pictures == pictures + 3  # two questions answered, and the teams
    if chat.telegram:
        assert chat.api is not None
        data = next(b for m, n, b in chat.api.uploads if m == "sendDocument")
        book = load_workbook(io.BytesIO(data))
        assert book["按队伍"]["A2"].value == "乐清网格红管家服务队"
    else:
        assert liu.told("linli export survey")
    # A resident pressing the managers' button gets nothing.
    wang = await chat.person("王建国")
    await wang.press_payload(f"sv:results:{survey}")
    assert "您不能管理" in wang.last_text


async def test_results_xlsx_names_nobody(demo: Database, clock: FakeClock) -> None:
    survey = await demo_survey(demo, clock)
    async with demo.session() as s:
        people = {p.name: p for p in (await s.execute(select(Person))).scalars()}
        for name, stars in (("王建国", 5), ("李红", 2)):
            progress = await start_or_resume(s, survey, people[name], clock())
            assert progress.question is not None
            await answer(
                s, survey, progress.question.id or 0, people[name], Given(stars=stars), clock()
            )
    async with demo.session() as s:
        book = load_workbook(io.BytesIO(await results_xlsx(s, survey)))
    assert book.sheetnames == ["汇总", "按队伍", "全部回答"]
    assert [c.value for c in book["汇总"][2]][:4] == ["开始作答", 2, "完成", 0]
    assert [c.value for c in book["按队伍"][2]] == ["乐清网格红管家服务队", 3.5, 2]
    assert sorted(row[3].value for row in book["全部回答"].iter_rows(min_row=2)) == [2, 5]
    everything = str([c.value for ws in book for row in ws.iter_rows() for c in row])
    assert "王建国" not in everything and "李红" not in everything


async def test_a_closed_survey_is_refused(chat: Chat, clock: FakeClock) -> None:
    survey = await demo_survey(chat.db, clock)
    wang = await chat.person("王建国")
    clock.advance(days=15)
    await wang.send("问卷")
    assert "现在没有需要填写的问卷" in wang.last_text
    await wang.press_payload(f"sv:go:{survey}")
    assert "这份问卷已经截止了" in wang.last_text
    async with chat.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SurveyResponse))).scalar_one() == 0
        assert (await s.get(Survey, survey)) is not None
    assert await _answers(chat.db) == 0
