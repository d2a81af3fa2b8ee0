"""A survey or a poll from a file: a manager sends it in the chat (Telegram: WeChat official
accounts receive no files, so there the same reader runs as `linli import survey` runs it), the
bot tells a survey, a poll and the register apart by their content, a bad file is refused with
every bad line and creates nothing, and the new survey opens to its audience — told, and
answerable — by the rules polls use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from typer.testing import CliRunner

from models.db import Database
from models.people import community_zone
from models.poll_files import FileRejected, read_poll_file
from models.poll_results import create_poll
from models.polls import Poll, PollOption
from models.survey_files import announce_survey, create_survey, file_kind, read_survey_file
from models.surveys import QuestionKind, Survey, SurveyQuestion
from models.tables import Person, Role
from tests.chat import Chat, labels
from tests.conftest import FakeClock

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "survey-example.csv"
SURVEY_EXAMPLE = EXAMPLE.read_bytes()  # the example files the docs show
POLL_EXAMPLE = (DOCS / "poll-example.csv").read_bytes()
MANAGER = frozenset({(Role.MANAGER, None)})

# For the residents of 乐美网格 only (赵敏 lives there; 王建国 does not).
LEMEI_SURVEY = """标题,乐美网格停车满意度调查
对象,乐美网格
截止,7 天
类型,题目,选项
单选,晚上停车方便吗？,方便,有时难,很难
星级,您给停车管理打几星？
"""

BAD_SURVEY = """标题,写错了的问卷
颜色,蓝
类型,题目,选项,队伍
单选,只有一个选项,甲,,
判断,这是什么题型？,,
星级,给不存在的队伍打分,,火星服务队
文字,,,
"""


async def _people(db: Database) -> dict[str, Person]:
    async with db.session() as s:
        return {p.name: p for p in (await s.execute(select(Person))).scalars()}


async def _count(db: Database, table: type) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def import_like_the_cli(db: Database, data: bytes, clock: FakeClock, kind: str) -> None:
    """What `linli import survey|poll FILE` does with a file (WeChat managers' way in)."""
    liu = (await _people(db))["刘芳"]
    async with db.session() as s:
        zone = await community_zone(s, liu.community_id)
        if kind == "survey":
            draft = await read_survey_file(s, data, liu.community_id, clock(), zone)
            survey = await create_survey(s, draft, liu, MANAGER, clock())
            await announce_survey(s, survey, zone, clock())
        else:
            poll = await read_poll_file(s, data, liu.community_id, clock(), zone)
            await create_poll(s, poll, liu, MANAGER, clock())


def test_the_chat_tells_a_survey_a_poll_and_a_register_apart() -> None:
    assert file_kind(SURVEY_EXAMPLE) == "survey"
    assert file_kind(LEMEI_SURVEY.encode("gb18030")) == "survey"
    assert file_kind("问题,装不装快递柜？\n选项,装\n选项,不装\n截止,7 天\n".encode()) == "poll"
    assert file_kind("姓名,身份证号,电话\n王建国,110101195901011234,138\n".encode()) is None
    assert file_kind(b"\x89PNG\r\n\x1a\n not a table") is None


async def test_a_manager_uploads_a_survey_for_one_grid(chat: Chat, clock: FakeClock) -> None:
    liu = await chat.person("刘芳")
    zhao, wang = await chat.person("赵敏"), await chat.person("王建国")
    data = LEMEI_SURVEY.encode("utf-8")
    if chat.telegram:  # the document, in the chat
        await liu.document(data, "停车问卷.csv")
        assert "问卷已发布：乐美网格停车满意度调查（2 题" in liu.last_text
        assert "乐美网格登记居民" in liu.last_text and "已通知 1 人" in liu.last_text
        assert any("结果" in label for label in labels([liu.last]))
    else:  # WeChat receives no files: the manager runs `linli import survey` instead
        await import_like_the_cli(chat.db, data, clock, "survey")
    async with chat.db.session() as s:
        survey = (await s.execute(select(Survey))).scalar_one()
        questions = list((await s.execute(select(SurveyQuestion)
                                          .order_by(col(SurveyQuestion.position)))).scalars())  # fmt: skip
    assert survey.grid_id == (await _people(chat.db))["赵敏"].grid_id
    assert survey.closes_at == clock() + timedelta(days=7)
    assert [(q.kind, q.options) for q in questions] == [
        (QuestionKind.SINGLE, ["方便", "有时难", "很难"]),
        (QuestionKind.STARS, []),
    ]
    await chat.deliver()  # told at once, with a button to start
    assert zhao.told("📝 新问卷：乐美网格停车满意度调查") and not wang.told("新问卷")
    await zhao.press("开始答卷")
    assert "第 1/2 题" in zhao.last_text and "晚上停车方便吗" in zhao.last_text
    await zhao.press("有时难")
    await zhao.press("4 星")
    assert "问卷已完成" in zhao.last_text
    # 王建国 lives in 乐清网格: the survey is not his, and a forged button says why.
    await wang.send("问卷")
    assert not wang.told("乐美网格停车满意度调查")
    await wang.press_payload(f"sv:go:{survey.id}")
    assert "这份问卷只请本网格居民填写" in wang.last_text
    assert not wang.told("第 1/2 题")
    # 刘芳 (乐清网格) answers nothing here, but as its organiser finds its results under 问卷.
    await liu.send("问卷")
    assert liu.told("乐美网格停车满意度调查")
    await liu.press("结果：乐美网格停车")
    await chat.deliver()  # WeChat: what is late for the passive reply comes through the API
    assert liu.told("开始作答 1 人，完成 1 人") and liu.told("方便 0、有时难 1、很难 0")


async def test_a_bad_survey_file_is_refused_line_by_line_and_creates_nothing(
    chat: Chat, clock: FakeClock
) -> None:
    liu = await chat.person("刘芳")
    data = BAD_SURVEY.encode("gb18030")  # Excel's own CSV encoding on a Chinese Windows
    expected = [
        "第 2 行：不认识“颜色”",
        "第 4 行：选择题要 2 到 9 个选项（现在 1 个）",
        "第 5 行：题型“判断”不对",
        "第 6 行：没有叫“火星服务队”的队伍",
        "第 7 行：题目是空的",
    ]
    if chat.telegram:
        await liu.document(data, "写错了.csv")
        said = liu.last_text
        assert "文件“写错了.csv”没有导入" in said and "什么也没有创建" in said
        assert [line for line in expected if line in said] == expected
        # A resident sending a survey file is told who may send files (nothing is downloaded).
        wang = await chat.person("王建国")
        await wang.document(SURVEY_EXAMPLE, "问卷.csv")
        assert "只有社区工作人员可以用文件导入" in wang.last_text and "问卷" in wang.last_text
    else:  # the same report, as `linli import survey` prints it
        with pytest.raises(FileRejected) as err:
            await import_like_the_cli(chat.db, data, clock, "survey")
        assert [p.values.get("line") for p in err.value.problems] == [2, 4, 5, 6, 7]
        await liu.send("问卷")
        assert liu.told("现在没有需要填写的问卷")
    assert await _count(chat.db, Survey) == 0
    assert await _count(chat.db, SurveyQuestion) == 0


async def test_a_manager_uploads_a_poll_file(chat: Chat, clock: FakeClock) -> None:
    liu = await chat.person("刘芳")
    poll_file = POLL_EXAMPLE
    if chat.telegram:
        bad = "问题,装不装快递柜？\n选项,装\n截止,下周\n颜色,红\n每户一票,也许\n".encode()
        await liu.document(bad, "投票.csv")
        assert "没有导入" in liu.last_text
        assert liu.told("第 3 行的内容不对：下周") and liu.told("第 4 行：不认识“颜色”")
        assert liu.told("第 5 行的内容不对：也许")
        assert await _count(chat.db, Poll) == 0
        await liu.document(poll_file, "快递柜投票.csv")
        assert "投票已发起：小区东门装不装快递柜？（2 个选项" in liu.last_text
        await liu.press("管理这个投票")
        assert liu.told("参与率 0%")
    else:  # WeChat receives no files: `linli import poll`
        await import_like_the_cli(chat.db, poll_file, clock, "poll")
    async with chat.db.session() as s:
        poll = (await s.execute(select(Poll))).scalar_one()
        options = await s.execute(select(func.count()).where(col(PollOption.poll_id) == poll.id))
        assert int(options.scalar_one()) == 2
    assert poll.per_household and not poll.anonymous and not poll.results_before_close
    wang = await chat.person("王建国")
    await wang.send("投票")
    assert wang.told("小区东门装不装快递柜？") and wang.told("快递柜由物业出资")
    await wang.press("投给 装")
    assert "投票成功" in wang.last_text


async def test_the_example_file_reads_as_documented(demo: Database, clock: FakeClock) -> None:
    liu = (await _people(demo))["刘芳"]
    async with demo.session() as s:
        zone = await community_zone(s, liu.community_id)
        draft = await read_survey_file(s, SURVEY_EXAMPLE, liu.community_id, clock(), zone)
    assert draft.title == "垃圾分类满意度调查" and draft.closes_at == clock() + timedelta(days=14)
    assert [q.kind for q in draft.questions] == ["stars", "single", "multiple", "text", "voice"]
    assert draft.questions[0].team_id is not None
    assert draft.questions[2].options == ["早上 7-9 点", "中午 11-13 点", "晚上 18-20 点"]


def test_linli_import_survey(
    demo: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio

    from bot import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    opened = CliRunner().invoke(cli.app, ["import", "survey", str(EXAMPLE)])
    assert opened.exit_code == 0, opened.output
    assert "已发布：垃圾分类满意度调查（5 题" in opened.output
    bad = tmp_path / "坏.csv"
    bad.write_text(BAD_SURVEY, encoding="utf-8")
    refused = CliRunner().invoke(cli.app, ["import", "survey", str(bad)])
    said = f"{refused.exception} {refused.output}"
    assert refused.exit_code != 0 and "第 2 行" in said and "第 7 行" in said

    async def count() -> int:
        db = Database(database_url)  # this loop's own engine (the fixture's is another loop's)
        try:
            async with db.session() as s:
                return int((await s.execute(select(func.count()).select_from(Survey))).scalar_one())
        finally:
            await db.dispose()

    assert asyncio.run(count()) == 1
