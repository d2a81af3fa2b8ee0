"""随手拍 with a photo and a shared location, as one script on Telegram and on WeChat."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.db import Database
from models.reports import Report, ReportPhoto
from tests.chat import Chat
from tests.telegram_chat import texts

WANG, LI = 41, 42


async def test_a_report_with_a_photo_and_a_location_reaches_a_volunteer(
    chat: Chat, demo: Database
) -> None:
    await chat.link(WANG, "王建国")
    await chat.link(LI, "李红")
    wang = chat.user(WANG)
    asked = await wang.send("3幢后面堆了好多杂物")
    assert "是什么问题" in texts(asked)
    assert "有照片吗" in texts(await wang.press("杂物堆放"))
    assert "已收到 1 张照片" in texts(await wang.photo("junk-before"))
    assert "在哪里" in texts(await wang.press("好了"))
    confirm = await wang.location(28.1418, 120.9701)
    assert "请确认" in texts(confirm) and "杂物堆放" in texts(confirm)
    done = await wang.press("✅ 提交")
    assert "已受理，编号 R0001" in texts(done)

    async with demo.session() as s:
        report = (await s.execute(select(Report))).scalar_one()
        photos = (await s.execute(select(ReportPhoto))).scalars().all()
    assert report.latitude == pytest.approx(28.1418) and report.longitude == pytest.approx(120.9701)
    kept = await chat.arrived_as([f"{p.channel}:{p.ref}" for p in photos])
    assert kept == [chat.ref("junk-before")]

    # The task is pushed to the grid's stewards; the button (a number on WeChat) takes it.
    await chat.deliver()
    li = chat.user(LI)
    assert "新任务" in li.latest()
    assert "接单成功" in texts(await li.press("接单"))
