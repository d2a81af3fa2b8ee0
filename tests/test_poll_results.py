"""A poll's results: the close (a clock job) sends the chart to the audience once, the chart's
font has the Chinese glyphs, results before the close only when the poll says so, the reminder
to non-voters once, the organiser's turnout by grid, voter list and .xlsx export."""

from __future__ import annotations

import io
from datetime import timedelta

from fontTools.ttLib import TTFont
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import col

from models.charts import bar_chart, cjk_font
from models.db import Database
from models.errors import DomainError
from models.poll_results import (
    PollDraft,
    close_due_and_announce,
    create_poll,
    remind_due_polls,
    result_chart,
    tally_xlsx,
    voter_list,
)
from models.polls import Poll, cast_vote, tally
from models.tables import Outbox, Person, Role
from scheduler import jobs
from tests.chat import Chat
from tests.conftest import FakeClock
from tests.test_polls_conversation import wall_poll

MANAGER = frozenset({(Role.MANAGER, None)})


def test_the_chart_font_has_the_chinese_glyphs() -> None:
    font = cjk_font()
    assert font is not None, "no CJK font: make install brings cvttf-notosanscjk-regular"
    labels = "虹桥南村外墙改造选哪一款设计方案一青瓦白墙二暖色彩绘三简约灰参与率票居民评议"
    # The character map of the very file the charts use (a .ttc: its first face).
    with TTFont(str(font.path), fontNumber=0, lazy=True) as face:
        cmap = face.getBestCmap()
    assert [ch for ch in labels if ord(ch) not in cmap] == []
    # matplotlib draws with it: a missing glyph would be a warning, and warnings are errors.
    png = bar_chart("外墙设计投票结果", ["方案一 青瓦白墙", "方案二 暖色彩绘"], [3, 1],
                    notes=["3 票 (75%)", "1 票 (25%)"], footer="参与率 63%")  # fmt: skip
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width >= 500


async def _people(db: Database) -> dict[str, Person]:
    async with db.session() as s:
        return {p.name: p for p in (await s.execute(select(Person))).scalars()}


async def test_the_close_sends_the_chart_to_the_audience_once(chat: Chat, clock: FakeClock) -> None:
    poll, _options = await wall_poll(chat.db, clock)
    wang, li, chen = [await chat.person(n) for n in ("王建国", "王丽", "陈秀英")]
    await wang.send("投票")
    await wang.press("投给 方案一")
    await chen.send("投票")
    await chen.press("投给 方案三")
    # Before the close the results are not shown (the poll does not say so).
    await chen.press_payload(f"poll:result:{poll}")
    assert "结果将在截止后公布" in chen.last_text
    await chat.deliver()
    before = {p.name: p.pictures for p in (wang, li, chen)}

    clock.advance(days=3, minutes=1)
    async with chat.db.session() as s:
        assert await close_due_and_announce(s, clock()) == [poll]
    async with chat.db.session() as s:
        assert await close_due_and_announce(s, clock()) == []  # the close happens once
    assert await chat.deliver() == 3  # the three people with an app, one message each
    for p in (wang, li, chen):
        assert p.told("📊 投票结果：虹桥南村外墙改造，选哪一款设计？")
        assert p.told("方案一 青瓦白墙：1 票（50%）") and p.told("参与率 33%（2/6）")
        assert p.pictures == before[p.name] + 1, "the chart"
    # The clock's own job finds nothing more to close.
    assert (await jobs.polls(chat.db))["closed"] == 0
    assert await chat.deliver() == 0
    async with chat.db.session() as s:
        rows = (
            await s.execute(select(func.count()).where(col(Outbox.kind) == "poll_result"))
        ).scalar_one()
    assert rows == 3
    # After the close anyone in the community can see them again, with the chart.
    pictures = li.pictures
    await li.press_payload(f"poll:result:{poll}")
    assert "谢谢参与" in li.last_text
    await chat.deliver()  # WeChat: the chart follows the text through the API
    assert li.pictures == pictures + 1


async def test_the_organiser_closes_early_and_sees_turnout_by_grid(
    chat: Chat, clock: FakeClock
) -> None:
    poll, _options = await wall_poll(chat.db, clock)
    wang = await chat.person("王建国")
    await wang.send("投票")
    await wang.press("投给 方案二")
    liu = await chat.person("刘芳")
    await liu.send("投票")
    await liu.press("管理这个投票")
    assert liu.told("参与率 17%（1/6）")
    assert liu.told("乐清网格：1/5（20%）") and liu.told("乐美网格：0/1（0%）")
    await liu.press("投票名单")
    assert "王建国：方案二 暖色彩绘" in liu.last_text
    await liu.press_payload(f"pa:xlsx:{poll}")
    if chat.telegram:  # WeChat receives no files: the command that writes it is named instead
        assert chat.api is not None
        sheet = next(b for m, n, b in chat.api.uploads if m == "sendDocument")
        book = load_workbook(io.BytesIO(sheet))
        assert [c.value for c in book["结果"][4]] == ["方案二 暖色彩绘", 1, "100%"]
        assert [c.value for c in book["投票名单"][2]] == ["王建国", "方案二 暖色彩绘"]
    else:
        assert "linli export poll" in liu.last_text
    await liu.press_payload(f"pa:decide:{poll}")
    await liu.send("采用方案二，4 月开工")
    assert "决定已保存" in liu.last_text
    await liu.press_payload(f"pa:close:{poll}")
    await liu.press("确认结束")
    assert liu.told("投票已结束，结果已发出")
    await chat.deliver()
    assert wang.told("📊 投票结果") and wang.told("✍ 采用方案二，4 月开工")
    async with chat.db.session() as s:
        found = await s.get(Poll, poll)
        assert found is not None and found.status == "closed"
    # Closing again is harmless.
    await liu.press_payload(f"pa:closeok:{poll}")
    assert liu.told("这个投票已经结束了")
    async with chat.db.session() as s:
        sent = select(func.count()).where(col(Outbox.kind) == "poll_result")
        assert (await s.execute(sent)).scalar_one() == 2  # 王建国 and 刘芳, once each


async def test_an_anonymous_poll_shows_no_names_even_to_managers(
    demo: Database, clock: FakeClock
) -> None:
    people = await _people(demo)
    async with demo.session() as s:
        poll = await create_poll(
            s,
            PollDraft(
                "匿名测评",
                [("满意", None), ("不满意", None)],
                clock() + timedelta(days=1),
                anonymous=True,
                results_before_close=True,
            ),
            people["刘芳"],
            MANAGER,
            clock(),
        )
        t = await tally(s, poll.id or 0)
        await cast_vote(s, poll.id or 0, t.counts[0][0].id or 0, people["王建国"], clock())
    async with demo.session() as s:
        found = await s.get(Poll, poll.id)
        assert found is not None
        try:
            await voter_list(s, found)
            raise AssertionError("an anonymous poll has no voter list")
        except DomainError as err:
            assert err.key == "polls.anonymous_list"
        book = load_workbook(io.BytesIO(await tally_xlsx(s, found)))
        assert "投票名单" not in book.sheetnames
        assert "王建国" not in str([c.value for row in book["结果"].iter_rows() for c in row])
        png = result_chart(await tally(s, poll.id or 0))
        assert png.startswith(b"\x89PNG")


async def test_the_reminder_goes_to_non_voters_once(chat: Chat, clock: FakeClock) -> None:
    _poll, _options = await wall_poll(chat.db, clock)
    wang, li, chen = [await chat.person(n) for n in ("王建国", "王丽", "陈秀英")]
    await wang.send("投票")
    await wang.press("投给 方案一")
    async with chat.db.session() as s:
        assert await remind_due_polls(s, clock()) == 0  # not yet: 24 hours before the close
    clock.advance(days=2, hours=1)
    async with chat.db.session() as s:
        assert await remind_due_polls(s, clock()) == 1  # 陈秀英; the 王 household has voted
    async with chat.db.session() as s:
        assert await remind_due_polls(s, clock()) == 0  # once
    await chat.deliver()
    assert chen.told("投票明天截止")
    assert not wang.told("投票明天截止") and not li.told("投票明天截止")
    await chen.press("去投票")
    assert chen.told("投给 方案一") or chen.told("方案一 青瓦白墙")
