"""A register with many rejected rows: the chat lists the first ones, the whole list comes as a file."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import select

from models.register import ImportRequest, RegisterImport
from models.tables import Person
from tests.chat import Chat
from tests.register_files import many_rows, wrong_check_digit, xlsx

TODAY = date(2026, 3, 7)


def _register_with_bad_rows() -> tuple[bytes, list[list[object]]]:
    """40 people: 20 with a wrong check digit, 5 without a name, 15 good."""
    rows = many_rows(40, start=500)
    for i in range(20):
        rows[i][1] = wrong_check_digit(str(rows[i][1]))
    for i in range(20, 25):
        rows[i][0] = ""
    return xlsx(rows), rows


async def _ids(chat: Chat, name: str) -> tuple[int, int]:
    async with chat.db.session() as s:
        person = (await s.execute(select(Person).where(Person.name == name))).scalar_one()
        assert person.id is not None
        return person.community_id, person.id


async def test_a_long_report_lists_the_first_rows_and_gives_the_rest_as_a_file(chat: Chat) -> None:
    assert chat.linli is not None
    liu = await chat.person("刘芳")  # the demo's community manager
    data, rows = _register_with_bad_rows()
    if chat.telegram:  # the file sent in the chat
        await liu.document(data, "街道底册.xlsx")
        assert "正在后台导入" in liu.last_text
    else:  # WeChat official accounts receive no files: the same import, begun elsewhere
        community, by = await _ids(chat, "刘芳")
        assert chat.linli.register_imports.start(
            ImportRequest(community, by, data, "街道底册.xlsx", TODAY)
        )
    await chat.linli.jobs.idle()
    await chat.deliver()

    assert liu.told("新增 15 人") and liu.told("未导入 25 行")
    assert liu.told("第3行") and liu.told("身份证号最后一位校验码不对")
    assert not liu.told("第28行")  # the 21st rejected row is in the file, not the message
    assert liu.told("另有 5 行未导入") and liu.told("请点下面的按钮")

    await liu.press("未导入的行")
    async with chat.db.session() as s:
        audit = (await s.execute(select(RegisterImport))).scalar_one()
    if chat.telegram:  # the report as an .xlsx document
        assert chat.api is not None
        _method, name, sent = chat.api.uploads[-1]
        assert name == f"未导入的行-{audit.id}.xlsx"
        sheet = load_workbook(io.BytesIO(sent)).active
        assert sheet is not None
        table = list(sheet.iter_rows(values_only=True))
        assert table[0] == ("行号", "姓名", "身份证号", "栏目", "原因")
        assert len(table) == 1 + 25
        first = table[1]
        assert first[0] == "3" and first[1] == rows[0][0] and first[3] == "身份证号"
        assert str(first[4]).startswith("身份证号最后一位校验码不对")
        assert first[2] is None  # a number that is no valid ID is not copied, not even masked
        assert table[-1][3] == "姓名" and table[-1][4] == "姓名为空"
        assert not any(str(r[1]) in str(sent) for r in rows)  # no raw ID number in the file
    else:  # WeChat: the reasons grouped, with their rows, and where to get the file
        assert "身份证号最后一位校验码不对" in liu.last_text and "20 行" in liu.last_text
        assert "姓名为空：5 行（第 23、24、25、26、27 行）" in liu.last_text
        assert "Telegram" in liu.last_text

    wang = await chat.person("王建国")  # a resident pressing a forged button
    await wang.press_payload(f"rrows:{audit.id}")
    assert "没有权限" in wang.last_text
    await liu.press_payload("rrows:99999")
    assert "没有找到这次导入" in liu.last_text
    await liu.press_payload("rrows:x")
    assert "没有找到这次导入" in liu.last_text


async def test_a_short_report_stays_in_the_message(chat: Chat) -> None:
    assert chat.linli is not None
    liu = await chat.person("刘芳")
    rows = many_rows(10, start=700)
    rows[0][1] = wrong_check_digit(str(rows[0][1]))
    community, by = await _ids(chat, "刘芳")
    chat.linli.register_imports.start(
        ImportRequest(community, by, xlsx(rows), "小底册.xlsx", TODAY)
    )
    await chat.linli.jobs.idle()
    await chat.deliver()
    assert liu.told("未导入 1 行") and liu.told("第3行")
    assert not liu.told("请点下面的按钮")
