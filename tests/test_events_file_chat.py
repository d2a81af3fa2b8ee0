"""An events table sent in the chat as a document: a grid leader or a manager sends it, the
events are created with a report per row; a resident or a volunteer is refused before anything
is read; a bad row leaves nothing behind; the register still comes in the same way.

WeChat official accounts receive no files: there the same import runs from the console's
`linli import events` (tests/test_events_import.py); the script below is Telegram's."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import col

from models.events import Event, EventDuty
from models.register import RegisterImport
from models.tables import Person
from tests.chat import Chat
from tests.register_files import many_rows, xlsx

TOO_LONG = "布置" * 31  # a duty name over 60 characters: refused after its event was made

CSV = f"""标题,类型,开始,结束,地点,名额,对象,可带人数,志愿者岗位
学雷锋便民摊位,活动,2030-03-05 09:00,11:30,社区广场,40,全体居民,0,布置场地×2；引导×2
童心向阳 亲子读书会,活动,2030-03-14 14:00,2030-03-14 16:00,社区图书室,12,有孩子的家庭,1,
环保徒步,活动,明天上午,12:00,狼山,20,全体居民,0,
舞蹈队进敬老院,活动,2030-03-20 09:00,11:00,敬老院,10,志愿者,0,{TOO_LONG}×2
"""


def _xlsx(text: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in text.strip().splitlines():
        sheet.append(line.split(","))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _titles(chat: Chat) -> set[str]:
    async with chat.db.session() as s:
        return set((await s.execute(select(Event.title))).scalars())


async def test_a_grid_leader_sends_an_events_table_and_gets_a_report_per_row(chat: Chat) -> None:
    if not chat.telegram:
        pytest.skip("WeChat official accounts receive no files (the CLI imports them there)")
    data = CSV.encode("utf-8")
    wang = await chat.person("王建国")  # a resident
    await wang.document(data, "活动.csv")
    assert "只有社区工作人员可以用文件导入" in wang.last_text
    li = await chat.person("李红")  # a volunteer: organising is not hers either
    await li.document(data, "活动.csv")
    assert "只有社区工作人员可以用文件导入" in li.last_text
    assert await _titles(chat) == set()

    zhu = await chat.person("朱凡")  # the grid leader
    said = (await zhu.document(data, "活动.csv"))[-1].text
    assert "📅 活动表 活动.csv" in said
    assert (
        "第 2 行：✅ 已创建 学雷锋便民摊位（2030-03-05 09:00，40 个名额，4 个志愿者岗位）" in said
    )
    assert "第 3 行：✅ 已创建 童心向阳 亲子读书会" in said
    assert "第 4 行：时间看不懂：明天上午" in said
    assert "第 5 行：" in said and "舞蹈队进敬老院" not in said.split("第 5 行：")[1]
    assert "新建 2，已存在 0，出错 2" in said
    # The fifth row's event was made before its duty was refused: its savepoint took it back.
    assert await _titles(chat) == {"学雷锋便民摊位", "童心向阳 亲子读书会"}
    async with chat.db.session() as s:
        duties = (
            await s.execute(select(EventDuty.title, func.count()).group_by(EventDuty.title))
        ).all()
        organisers = set(
            (
                await s.execute(
                    select(Person.name).join(Event, col(Event.organiser_id) == Person.id)
                )
            ).scalars()
        )
    assert dict(duties) == {"布置场地": 2, "引导": 2}
    assert organisers == {"朱凡"}

    again = (await zhu.document(_xlsx(CSV), "活动.xlsx"))[-1].text  # the same rows, as .xlsx
    assert "第 2 行：⏭ 已经有了：学雷锋便民摊位" in again and "新建 0，已存在 2，出错 2" in again
    assert await _titles(chat) == {"学雷锋便民摊位", "童心向阳 亲子读书会"}

    register = xlsx(many_rows(3, start=900))  # not hers to send: told what she can send
    await zhu.document(register, "底册.xlsx")
    assert "看不懂这个文件" in zhu.last_text and "活动表" in zhu.last_text
    async with chat.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(RegisterImport))).scalar() == 0


async def test_a_manager_sends_either_file_and_each_goes_where_it_belongs(chat: Chat) -> None:
    if not chat.telegram:
        pytest.skip("WeChat official accounts receive no files (the CLI imports them there)")
    assert chat.linli is not None
    liu = await chat.person("刘芳")  # the manager: the register and events tables both
    said = (await liu.document(CSV.encode("utf-8"), "活动.csv"))[-1].text
    assert "新建 2，已存在 0，出错 2" in said
    await liu.document(xlsx(many_rows(3, start=900)), "底册.xlsx")
    assert "正在后台导入" in liu.last_text
    await chat.linli.jobs.idle()
    async with chat.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(RegisterImport))).scalar() == 1
        made = (
            await s.execute(select(func.count()).select_from(Event).where(col(Event.id) > 0))
        ).scalar()
    assert made == 2
    await liu.document(b"\x89PNG\r\n\x1a\n not a table", "photo.png")  # neither: the register's
    assert liu.last_text and "正在后台导入" not in liu.last_text  # polite refusal, nothing started
