"""A big register sent in the chat: imported in the background, with progress, the bot answering meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from telegram.ext import Application

from bot.app import Linli
from bot.channels.telegram_channel import TelegramSender, build_application
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from bot.runtime import Background
from models.db import Database
from models.idcard import IdCipher, new_keys
from models.register import RegisterImport, RegisterUpload, ResidentRecord
from models.tables import Outbox
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi, RecordingRequest
from tests.register_files import feb_30, id_for, many_rows, png, wrong_check_digit, xlsx
from tests.telegram_chat import TelegramUser, link, texts

LIU, ZHU, WANG = 10, 20, 41
FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0)


@pytest.fixture
async def bot(
    settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[tuple[Linli, Application]]:  # type: ignore[type-arg]
    linli = Linli(settings, db=demo, clock=clock)
    app = build_application(linli, settings, request=RecordingRequest(api), with_updater=False)
    await app.initialize()
    await link(demo, LIU, "刘芳")
    await link(demo, ZHU, "朱凡")
    try:
        yield linli, app
    finally:
        await linli.jobs.close()
        await app.shutdown()


async def _deliver(app: Application, db: Database, clock: FakeClock) -> None:  # type: ignore[type-arg]
    worker = DeliveryWorker(
        db, [TelegramSender(app.bot, FAST)], DeliverySettings(concurrency=4), clock=clock
    )
    await worker.drain()


async def _count(db: Database, table: type) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(table))).scalar_one()


async def test_a_big_register_imports_in_the_background_with_progress_while_others_chat(
    bot: tuple[Linli, Application],  # type: ignore[type-arg]
    api: FakeBotApi,
    demo: Database,
    clock: FakeClock,
) -> None:
    linli, app = bot
    imports = linli.register_imports
    imports.chunk_rows = 500
    imports.progress_every = lambda total: 1000
    halfway, go_on = asyncio.Event(), asyncio.Event()

    async def hold_after_the_second_chunk(done: int, total: int) -> None:
        if done == 1000:
            halfway.set()
            await go_on.wait()

    imports.after_chunk = hold_after_the_second_chunk
    liu, zhu = TelegramUser(app, api, LIU), TelegramUser(app, api, ZHU)
    records_before = await _count(demo, ResidentRecord)
    started = await liu.deliver(api.document_update(LIU, xlsx(many_rows(3000)), "街道底册.xlsx"))
    assert "正在后台导入" in texts(started)

    await halfway.wait()
    # The import holds half-way: the writer is free, everybody else is answered meanwhile.
    assert linli.jobs.running(f"register:{(await _community(demo))}")
    answer = await zhu.send("你好")
    assert answer and answer[-1].text
    busy = await liu.deliver(api.document_update(LIU, xlsx(many_rows(10)), "又一份.xlsx"))
    assert "还在导入中" in texts(busy)
    assert await _count(demo, ResidentRecord) == records_before + 1000
    assert await _count(demo, RegisterImport) == 0

    go_on.set()
    await linli.jobs.idle()
    before = len(api.sent)
    await _deliver(app, demo, clock)
    pushed = texts([s for s in api.sent[before:] if s.chat_id == str(LIU)])
    assert "已处理 1,000 / 3,000 行" in pushed and "已处理 2,000 / 3,000 行" in pushed
    assert "新增 3000 人" in pushed and "未导入 0 行" in pushed
    async with demo.session() as s:  # queued in the order of the chunks they describe
        queued = (
            await s.execute(
                select(Outbox.text_key, Outbox.values).where(Outbox.kind == "register")
                .order_by(Outbox.id)
            )
        ).all()  # fmt: skip
    assert [(k, v.get("done")) for k, v in queued] == [
        ("roster.progress", "1,000"), ("roster.progress", "2,000"), (None, None),
    ]  # fmt: skip
    assert await _count(demo, ResidentRecord) == records_before + 3000
    assert await _count(demo, RegisterImport) == 1


async def test_a_file_that_is_no_register_is_refused_at_once(
    bot: tuple[Linli, Application],  # type: ignore[type-arg]
    api: FakeBotApi,
    demo: Database,
) -> None:
    linli, app = bot
    answer = await TelegramUser(app, api, LIU).deliver(api.document_update(LIU, png(), "底册.xlsx"))
    assert "不是居民底册" in texts(answer)
    assert not linli.jobs.running(f"register:{await _community(demo)}")
    assert await _count(demo, RegisterImport) == 0


async def _community(db: Database) -> int:
    from models.tables import Community

    async with db.session() as s:
        return (await s.execute(select(Community.id))).scalar_one()


async def test_manager_imports_the_register_file_in_the_chat(
    bot: tuple[Linli, Application],  # type: ignore[type-arg]
    api: FakeBotApi,
    demo: Database,
    clock: FakeClock,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    linli, app = bot
    await link(demo, WANG, "王建国")
    good = id_for(date(1945, 5, 1), 21)
    bad = wrong_check_digit(id_for(date(1950, 1, 1), 24))
    rows = [
        ["顾桂兰", good, "13900000011", "虹桥南村", "2", "1", "101", "乐清网格", "", "是", "", ""],
        ["钱多", bad, "", "", "", "", "", "乐清网格", "", "", "", ""],
        ["孙二月", feb_30(), "", "", "", "", "", "乐清网格", "", "", "", ""],
        ["周边", id_for(date(1960, 2, 2), 25), "", "", "", "", "", "东方网格", "", "", "", ""],
        ["", id_for(date(1961, 3, 3), 26), "", "", "", "", "", "乐清网格", "", "", "", ""],
    ]  # fmt: skip
    liu = TelegramUser(app, api, LIU)

    async def send_and_wait(data: bytes) -> tuple[str, str]:
        answer = await liu.deliver(api.document_update(LIU, data, "虹南社区底册.xlsx"))
        await linli.jobs.idle()
        before = len(api.sent)
        await _deliver(app, demo, clock)
        return texts(answer), texts([s for s in api.sent[before:] if s.chat_id == str(LIU)])

    answer, said = await send_and_wait(xlsx(rows))
    assert "正在后台导入" in answer
    assert "新增 1 人" in said and "未导入 4 行" in said
    assert "第4行 钱多：身份证号最后一位校验码不对" in said
    assert "第5行 孙二月：身份证号里的出生日期不存在" in said
    assert "第6行 周边：没有叫“东方网格”的网格" in said
    assert "第7行 -：姓名为空" in said
    _, again = await send_and_wait(xlsx(rows))
    assert "新增 0 人" in again and "没有变化 1 人" in again
    picture = await liu.deliver(api.document_update(LIU, png(), "底册.xlsx"))
    assert "不是居民底册" in texts(picture) and "什么都没有改动" in texts(picture)
    not_staff = await TelegramUser(app, api, WANG).deliver(
        api.document_update(WANG, xlsx(rows), "底册.xlsx")
    )
    assert "只有社区工作人员" in texts(not_staff)
    # Neither the database, the messages nor the logs hold a raw ID number, valid or not.
    for raw in (good, bad, feb_30()):
        assert raw not in caplog.text
        assert raw not in said
        await assert_not_stored(demo, database_url, raw)
    async with demo.session() as s:
        stored = (await s.execute(select(ResidentRecord.id_masked))).scalars().all()
    assert good[:4] + "**********" + good[-4:] in stored


async def assert_not_stored(db: Database, url: str, raw: str) -> None:
    """Grep the database for a raw ID number: the SQLite file (and its WAL), or every PG column."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for part in (path, Path(f"{path}-wal")):
            if part.exists():
                assert raw.encode() not in part.read_bytes(), part
        return
    async with db.session() as s:
        tables = (
            await s.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        ).all()
        for table, column in tables:
            hit = await s.execute(
                text(f'SELECT 1 FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE :raw LIMIT 1'),
                {"raw": f"%{raw}%"},
            )
            assert hit.first() is None, (table, column)


async def test_an_import_a_restart_interrupts_goes_on_by_itself_after_the_restart(
    bot: tuple[Linli, Application],  # type: ignore[type-arg]
    api: FakeBotApi,
    demo: Database,
    clock: FakeClock,
    settings: Settings,
    database_url: str,
) -> None:
    linli, app = bot
    linli.register_imports.chunk_rows = 500
    linli.register_imports.progress_every = lambda total: 1000
    halfway = asyncio.Event()

    async def stop_after_the_second_chunk(done: int, total: int) -> None:
        if done == 1000:
            halfway.set()
            await asyncio.Event().wait()  # the service stops here

    linli.register_imports.after_chunk = stop_after_the_second_chunk
    rows = many_rows(3000)
    records_before = await _count(demo, ResidentRecord)
    liu = TelegramUser(app, api, LIU)
    started = await liu.deliver(api.document_update(LIU, xlsx(rows), "街道底册.xlsx"))
    assert "正在后台导入" in texts(started)
    await halfway.wait()
    await linli.jobs.close()  # the restart: the import's task is cancelled half-way
    assert await _count(demo, ResidentRecord) == records_before + 1000
    assert await _count(demo, RegisterUpload) == 1  # the file is kept …
    for row in (rows[0], rows[1500], rows[-1]):  # … encrypted: no raw ID number in the database
        await assert_not_stored(demo, database_url, str(row[1]))

    after_restart = Linli(settings, db=demo, clock=clock)
    after_restart.register_imports.chunk_rows = 500
    after_restart.register_imports.progress_every = lambda total: 1000
    assert await after_restart.register_imports.resume() == 0  # it may still run elsewhere …
    clock.advance(minutes=3)  # … but no chunk for minutes: its process has stopped
    service = Background(after_restart, [], settings)  # what `linli run` starts beside the chat
    service.start()
    try:
        await service.leading.wait()  # the leader has resumed the import by now
        await after_restart.jobs.idle()
    finally:
        await service.stop()
    before = len(api.sent)
    await _deliver(app, demo, clock)
    pushed = texts([s for s in api.sent[before:] if s.chat_id == str(LIU)])
    assert "导入已自动继续" in pushed
    # Through the file again from its first row: the first 1,000 are there already.
    assert "新增 2000 人" in pushed and "没有变化 1000 人" in pushed
    assert pushed.count("已处理 1,000 / 3,000 行") == 1  # not said twice
    assert await _count(demo, ResidentRecord) == records_before + 3000
    assert await _count(demo, RegisterUpload) == 0 and await _count(demo, RegisterImport) == 1
    assert await after_restart.register_imports.resume() == 0  # nothing left to resume


async def test_a_kept_file_the_new_keys_cannot_open_is_reported_and_dropped(
    bot: tuple[Linli, Application],  # type: ignore[type-arg]
    api: FakeBotApi,
    demo: Database,
    clock: FakeClock,
    settings: Settings,
) -> None:
    linli, app = bot
    halfway = asyncio.Event()

    async def stop(done: int, total: int) -> None:
        halfway.set()
        await asyncio.Event().wait()

    linli.register_imports.chunk_rows = 500
    linli.register_imports.after_chunk = stop
    liu = TelegramUser(app, api, LIU)
    await liu.deliver(api.document_update(LIU, xlsx(many_rows(1000)), "街道底册.xlsx"))
    await halfway.wait()
    await linli.jobs.close()

    after_restart = Linli(settings, db=demo, clock=clock)
    after_restart.register_imports.cipher = IdCipher(*new_keys())  # the keys were changed
    clock.advance(minutes=3)
    assert await after_restart.register_imports.resume() == 1
    await after_restart.jobs.idle()
    before = len(api.sent)
    await _deliver(app, demo, clock)
    pushed = texts([s for s in api.sent[before:] if s.chat_id == str(LIU)])
    assert "无法继续" in pushed and "重新发送同一个文件" in pushed
    assert await _count(demo, RegisterUpload) == 0
