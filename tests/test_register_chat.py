"""A big register sent in the chat: imported in the background, with progress, the bot answering meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from telegram.ext import Application

from bot.app import Linli
from bot.channels.telegram_channel import TelegramSender, build_application
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from models.db import Database
from models.register import RegisterImport, ResidentRecord
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi, RecordingRequest
from tests.register_files import many_rows, png, xlsx
from tests.telegram_chat import TelegramUser, link, texts

LIU, ZHU = 10, 20
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
    assert pushed.index("已处理 1,000") < pushed.index("已处理 2,000") < pushed.index("新增 3000")
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
